"""Churn (客户流失, SPEC §4.3): a warning for a client without orders for ``churn_days``,
retention measures and a verdict (the churn workflow), and the detection run of the
``detect-churn`` CLI.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, String, Text, and_, event, exists, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from . import clock, db, settings
from .auth import User
from .base import FieldError, Timestamps, UTCDateTime, Versioned, column_label, label, user_fk, utcnow
from .customers import Client, client_fk
from .orders import last_order_subquery
from .workflow import Transition, Workflow, register

CHURN_STATUSES = [("warning", _l("Warning")), ("delayed", _l("Delayed")), ("confirmed", _l("Confirmed lost"))]
OPEN_CHURN = ("warning", "delayed")


class ClientLoss(Timestamps, Versioned, db.Model):
    """客户流失: a warning for a client without orders, with measures and a verdict."""

    __tablename__ = "client_loss"
    __scope_parent__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = client_fk()
    owner_id: Mapped[int | None] = user_fk("Account manager")
    last_order_on: Mapped[date | None] = mapped_column(Date, info=label("Last order"))
    detected_on: Mapped[date] = mapped_column(Date, index=True, info=label("Warning date"))
    measures: Mapped[str | None] = mapped_column(Text, info=label("Retention measures"))
    reason: Mapped[str | None] = mapped_column(Text, info=label("Reason for loss"))
    status: Mapped[str] = mapped_column(
        String(10), default="warning", index=True, info=label("Status", choices=CHURN_STATUSES)
    )
    confirmed_by_id: Mapped[int | None] = user_fk("Confirmed by")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Confirmed at"))

    client = relationship(Client, info=label("Client"))
    owner = relationship(User, foreign_keys=[owner_id], info=label("Account manager"))
    confirmed_by = relationship(User, foreign_keys=[confirmed_by_id], info=label("Confirmed by"))

    __table_args__ = (db.Index("ix_client_loss_client_status", "client_id", "status"),)

    def __str__(self) -> str:
        return f"{self.client} {self.detected_on}" if self.client_id else f"#{self.id}"


# ----------------------------------------------------------------------- workflow
def _signed_entry(actor, comment) -> str:
    return f"[{clock.today():%Y-%m-%d} {actor.name or actor.username}] {comment}"


def _add_measure(record, actor, comment=None, **_) -> str:
    entry = _signed_entry(actor, comment)
    record.measures = f"{record.measures}\n{entry}" if record.measures else entry
    return "delayed"


def _confirm_loss(record, actor, comment=None, **_) -> str:
    record.reason = comment
    record.confirmed_by_id, record.confirmed_at = actor.id, utcnow()
    return "confirmed"


CHURN = Workflow(
    "churn",
    dict(CHURN_STATUSES),
    [
        Transition(
            "add_measure", _l("Add measure"), OPEN_CHURN, "delayed", "edit", comment_required=True, decide=_add_measure
        ),
        Transition(
            "confirm",
            _l("Confirm loss"),
            OPEN_CHURN,
            "confirmed",
            "confirm",
            comment_required=True,
            decide=_confirm_loss,
        ),
    ],
    locked=("confirmed",),
)

register(ClientLoss, CHURN)


# -------------------------------------------------------------------------- domain rules
def fill_from_client(record: ClientLoss, is_created: bool) -> None:
    """What a warning raised by hand leaves empty comes from its client: the owner, today
    as the detection date and (on create) the date of the client's last order."""
    # no autoflush: the half-filled row must not be flushed by the look-ups below
    with db.session.no_autoflush:
        client = record.client or (db.session.get(Client, record.client_id) if record.client_id else None)
        if client is None:
            return
        if record.owner is None and record.owner_id is None:
            record.owner = client.owner  # (the relationship: a form may have set it to None)
        if record.detected_on is None:
            record.detected_on = clock.today()
        if record.last_order_on is None and is_created:
            last = last_order_subquery()
            record.last_order_on = db.session.execute(
                select(last.c.last_on).where(last.c.client_id == client.id)
            ).scalar()


def open_warning_exists(client_id):
    """SQL: the client (an id or a column) has an open churn warning (warning or delayed)."""
    return exists().where(ClientLoss.client_id == client_id, ClientLoss.status.in_(OPEN_CHURN))


def _opened(obj: ClientLoss) -> bool:
    """A warning that is open and new, or was just moved to another client or reopened."""
    if (obj.status or "warning") not in OPEN_CHURN:  # a new row's status defaults to "warning"
        return False
    state = sa_inspect(obj)
    return state.pending or any(state.attrs[key].history.has_changes() for key in ("client", "client_id", "status"))


@event.listens_for(Session, "before_flush")
def _one_open_warning_per_client(session, flush_context, instances) -> None:
    """One open churn warning per client, whoever writes it (a form, detect-churn, the CLI,
    a test): the warnings being opened are checked in one query per flush."""
    opening = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, ClientLoss) and _opened(obj)]
    if not opening:
        return
    by_client: dict[int, ClientLoss] = {}
    twice = None
    for obj in opening:
        client_id = obj.client.id if obj.client is not None else obj.client_id
        if client_id is None:  # refused by the column (NOT NULL)
            continue
        if client_id in by_client:
            twice = client_id
        by_client[client_id] = obj
    own_ids = [obj.id for obj in opening if obj.id is not None]
    if twice is None:
        with session.no_autoflush:
            twice = session.execute(
                select(ClientLoss.client_id)
                .where(
                    ClientLoss.client_id.in_(list(by_client)),
                    ClientLoss.status.in_(OPEN_CHURN),
                    ClientLoss.id.not_in(own_ids),
                )
                .limit(1)
            ).scalar()
    if twice is not None:
        with session.no_autoflush:
            client = by_client[twice].client or session.get(Client, twice)
        raise FieldError(
            column_label(ClientLoss, "client_id"),
            str(_l("%(client)s already has an open churn warning.", client=client.name if client else twice)),
        )


def churn_days() -> int:
    return settings.churn_days()


def detect_churn(today: date | None = None, days: int | None = None, client_ids=None, insert=None) -> int:
    """Create a churn warning for every live client whose last order (or, without orders,
    its creation) lies ``days`` (config ``churn_days``) or more days back, unless it has an
    open warning already or a confirmed loss without a newer order. Idempotent: a second
    run creates nothing. Returns how many warnings were created (one transaction, the
    caller commits). ``client_ids`` limits the run (scoped CLI or tests). ``today`` makes it
    a run as of that day: orders placed later do not count. ``insert`` replaces the audited
    ORM insert of a list of row dicts (seed-demo's bulk writer: demo rows are not audited)."""
    insert = insert or _insert_warnings
    today = today or clock.today()
    days = days or churn_days()
    cutoff = today - timedelta(days=days)
    last = last_order_subquery(until=today)
    settled = exists().where(
        ClientLoss.client_id == Client.id,
        ClientLoss.status == "confirmed",
        or_(last.c.last_on.is_(None), ClientLoss.detected_on >= last.c.last_on),
    )
    open_or_settled = or_(open_warning_exists(Client.id), settled)
    query = (
        select(Client.id, Client.owner_id, last.c.last_on)
        .outerjoin(last, last.c.client_id == Client.id)
        .where(
            Client.live(),
            ~open_or_settled,
            or_(
                last.c.last_on <= cutoff,
                and_(last.c.last_on.is_(None), Client.created_at < _day_start(cutoff + timedelta(days=1))),
            ),
        )
        .order_by(Client.id)
    )
    if client_ids is not None:
        query = query.where(Client.id.in_(client_ids))
    created = 0
    batch = []
    for client_id, owner_id, last_on in db.session.execute(query):
        batch.append(
            {
                "client_id": client_id,
                "owner_id": owner_id,
                "last_order_on": last_on,
                "detected_on": today,
                "status": "warning",
            }
        )
        if len(batch) >= 1000:
            created += insert(batch)
            batch = []
    created += insert(batch)
    return created


def _day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the display time zone, as an aware datetime."""
    return clock.day_start(day)


def _insert_warnings(rows: list[dict]) -> int:
    """Insert warnings through the ORM (so each is audited) in bulk-sized steps."""
    for row in rows:
        db.session.add(ClientLoss(**row))
    db.session.flush()
    return len(rows)


def churn_status_clause(status: str):
    """Clients with a churn record in ``status`` ("none": clients without an open or confirmed one)."""
    if status == "none":
        return ~exists().where(ClientLoss.client_id == Client.id, ClientLoss.status.in_((*OPEN_CHURN, "confirmed")))
    return exists().where(ClientLoss.client_id == Client.id, ClientLoss.status == status)
