"""The marketing e-mail (营销邮件, SPEC §4.7) and its ledger: an e-mail with placeholders
sent to a saved segment, one :class:`EmailLog` row per recipient, and the addresses that
unsubscribed. Sending and tracking: models/marketing_send.py.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import base, db
from .auth import User
from .base import Owned, Timestamps, UTCDateTime, Versioned, label, user_fk, utcnow
from .customers import Client
from .marketing import Campaign, Lead

EMAIL_STATUSES = [("draft", _l("Draft")), ("queued", _l("Queued")), ("sending", _l("Sending")), ("sent", _l("Sent"))]
RECIPIENT_STATUSES = [
    ("queued", _l("Queued")),
    ("sent", _l("Sent")),
    ("failed", _l("Failed")),
    ("skipped", _l("Skipped")),
    ("opened", _l("Opened")),
    ("clicked", _l("Clicked")),
    ("unsubscribed", _l("Unsubscribed")),
    ("bounced", _l("Bounced")),
]
SKIP_REASONS = [("no_address", _l("No address")), ("unsubscribed", _l("Unsubscribed")), ("duplicate", _l("Duplicate"))]


class MarketingEmail(Timestamps, Versioned, Owned, db.Model):
    """营销邮件: a subject and body with placeholders, sent to a saved segment of the client
    or lead list (``segment``: the list's filter arguments as JSON)."""

    __tablename__ = "marketing_email"
    __table_args__ = base.list_indexes("marketing_email", "created_at", "status", soft_delete=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="RESTRICT"), index=True, info=label("Campaign")
    )
    subject: Mapped[str] = mapped_column(String(200), info=label("Subject"))
    body: Mapped[str] = mapped_column(Text, info=label("Body"))
    segment: Mapped[str | None] = mapped_column(Text, info=label("Recipients (segment)"))
    status: Mapped[str] = mapped_column(
        String(10), default="draft", nullable=False, info=label("Status", choices=EMAIL_STATUSES)
    )
    queued_by_id: Mapped[int | None] = user_fk("Queued by")
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Queued at"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Sent at"))
    recipient_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False, info=label("Recipients"))
    sent_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False, info=label("Sent"))
    failed_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False, info=label("Failed"))
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False, info=label("Skipped"))

    campaign = relationship(Campaign, info=label("Campaign"))
    owner = relationship(User, foreign_keys="MarketingEmail.owner_id", info=label("Owner"))
    queued_by = relationship(User, foreign_keys=[queued_by_id], info=label("Queued by"))

    def __str__(self) -> str:
        return self.subject or f"#{self.id}"


class EmailLog(db.Model):
    """One recipient of a marketing e-mail (the ledger): queued, then sent or failed or
    skipped, then what the recipient did. ``(email_id, address)`` is unique: nobody is
    queued twice for one e-mail."""

    __tablename__ = "email_log"
    __audited__ = False  # a ledger row per recipient; its own columns say what happened
    __scope_parent__ = "email"
    __table_args__ = (
        UniqueConstraint("email_id", "address"),
        db.Index("ix_email_log_email_id_status", "email_id", "status"),
        db.Index("ix_email_log_status_id", "status", "id"),  # the worker's queued rows in order
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_email.id", ondelete="CASCADE"), info=label("Marketing e-mail")
    )
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True, info=label("Client")
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead.id", ondelete="SET NULL"), index=True, info=label("Lead")
    )
    address: Mapped[str] = mapped_column(String(120), info=label("Address"))
    status: Mapped[str] = mapped_column(
        String(12), default="queued", nullable=False, info=label("Status", choices=RECIPIENT_STATUSES)
    )
    skip_reason: Mapped[str | None] = mapped_column(String(20), info=label("Skip reason", choices=SKIP_REASONS))
    error: Mapped[str | None] = mapped_column(Text, info=label("Error"))
    #: the unguessable token of the open pixel, the click redirects and the unsubscribe link
    token: Mapped[str] = mapped_column(String(64), unique=True, info=label("Token"))
    #: when a worker claimed the row (status sending) — a claim never confirmed is an interruption
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Claimed at"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Sent at"))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Opened at"))
    machine_open: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False, info=label("Machine open"))
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Clicked at"))

    email = relationship(MarketingEmail, info=label("Marketing e-mail"))
    client = relationship(Client, info=label("Client"))
    lead = relationship(Lead, info=label("Lead"))


class EmailUnsubscribe(db.Model):
    """An address that asked not to be mailed again (never mailed after it)."""

    __tablename__ = "email_unsubscribe"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(120), unique=True, info=label("Address"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, info=label("Unsubscribed at"))
    source: Mapped[str | None] = mapped_column(String(40), info=label("Unsubscribed through"))
