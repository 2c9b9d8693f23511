"""Customer feedback by link (服务反馈, issue 12 item 5): a handled or archived ticket gets a
link with an unguessable token (``secrets.token_urlsafe(32)``) to a public one-page form.
Only the token's SHA-256 is stored (``feedback_token_hash``) with its expiry
(``feedback_expires_at``, the ``feedback_link_days`` setting); issuing again replaces the
old link. The answer (1–5 stars, preset reasons, a comment) lands on the ticket once: the
UPDATE only matches a ticket whose token hash is the one given, whose link has not expired
and that has no answer yet (``feedback_at IS NULL``), so of two answers sent at the same
moment the database lets exactly one through.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from . import db, settings
from .base import utcnow
from .service import ServiceTicket

#: the preset reasons a customer may tick: (stored value, label shown in both languages)
REASONS = (
    ("slow", _l("Slow response")),
    ("unsolved", _l("Problem not solved")),
    ("friendly", _l("Friendly staff")),
    ("professional", _l("Professional")),
    ("fast", _l("Solved quickly")),
    ("unfriendly", _l("Unfriendly staff")),
)
REASON_VALUES = {value for value, _ in REASONS}
COMMENT_MAX = 1000
#: tickets whose customer may be asked for feedback
FEEDBACK_STATUSES = ("handled", "archived")


class FeedbackError(ValueError):
    """An answer that is refused; ``kind``: invalid (the form), unknown, expired, used."""

    def __init__(self, kind: str, message):
        super().__init__(str(message))
        self.kind = kind
        self.message = message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(ticket: ServiceTicket, days: int | None = None) -> str:
    """A new link token for ``ticket`` (returned raw: only its hash is stored); the old link
    no longer works. The caller commits. Asking anew opens the answer again: a satisfaction an
    agent recorded at archiving (from a phone call) stays until the customer answers, and the
    earlier answer's time stays in the ticket's history."""
    if ticket.status not in FEEDBACK_STATUSES:
        raise FeedbackError("invalid", _l("Feedback can only be asked for a handled or archived ticket."))
    token = secrets.token_urlsafe(32)
    ticket.feedback_token_hash = token_hash(token)
    ticket.feedback_expires_at = utcnow() + timedelta(days=days or settings.feedback_link_days())
    ticket.feedback_at = None
    db.session.flush()
    return token


def find(token: str) -> ServiceTicket | None:
    """The ticket of ``token`` (None for a wrong or unknown one)."""
    if not token or len(token) > 100:
        return None
    return db.session.scalar(select(ServiceTicket).where(ServiceTicket.feedback_token_hash == token_hash(token)))


def state(ticket: ServiceTicket | None) -> str:
    """open, used, expired or unknown (a ticket no longer asked: as a wrong token)."""
    if ticket is None or ticket.status not in FEEDBACK_STATUSES:
        return "unknown"
    if ticket.feedback_at is not None:
        return "used"
    if ticket.feedback_expires_at is None or ticket.feedback_expires_at <= utcnow():
        return "expired"
    return "open"


@dataclass(frozen=True)
class Answer:
    stars: int
    reasons: tuple[str, ...]
    comment: str | None


def validate(stars, reasons, comment) -> Answer:
    try:
        value = int(stars)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise FeedbackError("invalid", _l("Please choose 1 to 5 stars."))
    chosen = tuple(dict.fromkeys(r for r in (reasons or ()) if r))
    if any(r not in REASON_VALUES for r in chosen):
        raise FeedbackError("invalid", _l("Unknown reason."))
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX:
        raise FeedbackError("invalid", _l("The comment is limited to %(count)s characters.", count=COMMENT_MAX))
    return Answer(value, chosen, text or None)


def answer(token: str, stars, reasons=(), comment=None) -> ServiceTicket:
    """Record the customer's answer (committed) or raise :class:`FeedbackError`."""
    given = validate(stars, reasons, comment)
    now = utcnow()
    digest = token_hash(token or "")
    result = db.session.execute(
        update(ServiceTicket)
        .where(
            ServiceTicket.feedback_token_hash == digest,
            ServiceTicket.feedback_at.is_(None),
            ServiceTicket.feedback_expires_at > now,
            ServiceTicket.status.in_(FEEDBACK_STATUSES),
        )
        .values(
            satisfaction=given.stars,
            feedback_reasons=",".join(given.reasons) or None,
            feedback_comment=given.comment,
            feedback_at=now,
            version=ServiceTicket.version + 1,  # an agent's form opened before is refused, not overwriting
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        found = state(find(token))
        if found == "used":
            raise FeedbackError("used", _l("This feedback link has already been used. Thank you!"))
        if found == "expired":
            raise FeedbackError("expired", _l("This feedback link has expired."))
        raise FeedbackError("unknown", UNKNOWN_LINK)
    db.session.commit()
    return find(token)


UNKNOWN_LINK = _l("This feedback link is not valid.")


def reason_labels(stored: str | None) -> list[str]:
    labels = dict(REASONS)
    return [str(labels.get(r, r)) for r in (stored or "").split(",") if r]


def client_satisfaction(session, client_id: int):
    """(average satisfaction of the client's answered tickets, count) — (None, 0) without any."""
    avg, count = session.execute(
        select(func.avg(ServiceTicket.satisfaction), func.count(ServiceTicket.satisfaction)).where(
            ServiceTicket.client_id == client_id, ServiceTicket.satisfaction.is_not(None)
        )
    ).one()
    return (None if avg is None else round(float(avg), 2)), count
