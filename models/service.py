"""Service tickets and complaints (服务管理, SPEC §4.6, workflow §5.4): a ticket is raised
for a client, assigned to a service agent, handled, and archived with the customer's
feedback; complaints are tickets of type 投诉. The SLA clocks (服务时限) fill the ticket's
``response_due_at``/``due_at``/``sla_*`` columns (models/sla.py); the customer answers the
feedback form through an expiring link whose token is stored only as its hash.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .auth import User
from .base import Timestamps, UTCDateTime, Versioned, label, user_fk
from .customers import Client, client_fk
from .lookups import ServiceType

PRIORITIES = [("low", _l("Low")), ("normal", _l("Normal")), ("high", _l("High")), ("urgent", _l("Urgent"))]
TICKET_STATUSES = [
    ("created", _l("Created")),
    ("assigned", _lp("ticket", "Assigned")),
    ("waiting", _l("Waiting for customer")),
    ("handled", _l("Handled")),
    ("archived", _lp("ticket", "Archived")),
]
OPEN_TICKET = ("created", "assigned", "waiting")
SLA_STATES = [
    ("none", _l("No SLA")),
    ("running", _l("In progress")),
    ("paused", _l("Paused")),
    ("met", _l("Met")),
    ("breached", _l("Breached")),
]


class ServiceTicket(Timestamps, Versioned, db.Model):
    """服务: a request or complaint of a client, with its handling and the customer's verdict."""

    __tablename__ = "cst_service"
    __scope_owner__ = ("assigned_to_id", "created_by_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    type_id: Mapped[int] = mapped_column(
        ForeignKey("system_service.id", ondelete="RESTRICT"), index=True, info=label("Service type")
    )
    title: Mapped[str] = mapped_column(String(200), info=label("Summary"))
    client_id: Mapped[int] = client_fk()
    priority: Mapped[str] = mapped_column(
        String(8), default="normal", index=True, info=label("Priority", choices=PRIORITIES)
    )
    request: Mapped[str] = mapped_column(Text, info=label("Service request"))
    created_by_id: Mapped[int] = user_fk("Created by", required=True)
    assigned_to_id: Mapped[int | None] = user_fk("Assigned to")
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Assigned at"))
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("First response at"))
    handling: Mapped[str | None] = mapped_column(Text, info=label("Service handling"))
    handled_by_id: Mapped[int | None] = user_fk("Handled by")
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Handled at"))
    result: Mapped[str | None] = mapped_column(Text, info=label("Result"))
    status: Mapped[str] = mapped_column(
        String(10), default="created", index=True, info=label("Status", choices=TICKET_STATUSES)
    )
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False, info=label("Reopened"))
    reopen_reason: Mapped[str | None] = mapped_column(Text, info=label("Reason reopened"))
    # --- the SLA clocks (models/sla.py keeps them)
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Response due"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, info=label("Due at"))
    on_hold_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("On hold since"))
    sla_seconds_used: Mapped[int | None] = mapped_column(Integer, info=label("Business time used (s)"))
    sla_state: Mapped[str] = mapped_column(
        String(10), default="running", index=True, info=label("SLA state", choices=SLA_STATES)
    )
    sla_warned: Mapped[int] = mapped_column(Integer, default=0, nullable=False, info=label("SLA warning level (%)"))
    #: business seconds spent waiting for the customer (pushes the due times; models/sla.py)
    sla_held_seconds: Mapped[int] = mapped_column(
        Integer, default=0, nullable=False, info=label("Business time on hold (s)")
    )
    # --- the customer's feedback
    satisfaction: Mapped[int | None] = mapped_column(Integer, info=label("Satisfaction", minimum=1, maximum=5))
    feedback_reasons: Mapped[str | None] = mapped_column(String(200), info=label("Feedback reasons"))
    feedback_comment: Mapped[str | None] = mapped_column(Text, info=label("Feedback comment"))
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Feedback at"))
    feedback_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, info=label("Feedback token"))
    feedback_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Feedback link expires"))

    type = relationship(ServiceType, info=label("Service type"))
    client = relationship(Client, info=label("Client"))
    created_by = relationship(User, foreign_keys=[created_by_id], info=label("Created by"))
    assigned_to = relationship(User, foreign_keys=[assigned_to_id], info=label("Assigned to"))
    handled_by = relationship(User, foreign_keys=[handled_by_id], info=label("Handled by"))

    def __str__(self) -> str:
        return f"#{self.id} {self.title}" if self.id else (self.title or "")
