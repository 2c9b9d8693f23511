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
from sqlalchemy import ForeignKey, Integer, String, Text, and_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .auth import Right, Role, User
from .base import Timestamps, UTCDateTime, Versioned, label, user_fk, utcnow
from .customers import Client, client_fk
from .lookups import ServiceType
from .scope import users_in_scope_clause
from .workflow import StepValue, Transition, Workflow, WorkflowError, register

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
    # in scope through its assignee or creator OR through its client (models/scope.py)
    __scope_owner__ = ("assigned_to_id", "created_by_id")
    __scope_parent__ = "client"

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
    #: business seconds from creation to the first response (the service report averages it)
    response_seconds: Mapped[int | None] = mapped_column(Integer, info=label("Business time to first response (s)"))
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


def open_clause():
    """SQL: tickets not handled yet — the list's "open" filter and the dashboard card."""
    return ServiceTicket.status.in_(OPEN_TICKET)


#: open tickets whose clock runs: one waiting for the customer is not overdue (its due time
#: moves later by the time on hold when it resumes, models/sla.py)
RUNNING_TICKET = ("created", "assigned")


def overdue_clause(now: datetime | None = None):
    """SQL: tickets not handled yet, not on hold, past their ``due_at`` — the list's
    "overdue" filter, the dashboard card and the report count the same rows."""
    return and_(ServiceTicket.status.in_(RUNNING_TICKET), ServiceTicket.due_at < (now or utcnow()))


def is_overdue(ticket: ServiceTicket, now: datetime | None = None) -> bool:
    """The same rule for one loaded ticket (the list's highlight)."""
    return ticket.status in RUNNING_TICKET and ticket.due_at is not None and ticket.due_at < (now or utcnow())


# ----------------------------------------------------------------------- workflow
def assignable_clause(actor):
    """SQL on users: whom ``actor`` may assign tickets to — active service users (whose role
    may handle tickets, ``service.edit``) within the actor's data scope."""
    handles = User.role.has(Role.rights.any(Right.code == "service.edit"))
    clause = and_(User.is_active.is_(True), User.live(), handles)
    scope = users_in_scope_clause(actor)
    return clause if scope is None else and_(clause, scope)


def auto_assignee(ticket: ServiceTicket, actor) -> User | None:
    """The assignee the assignment setting chooses when *assign to…* is left empty; None
    means "by hand: choose someone" (the strategies of models/assignment.py)."""
    from .assignment import choose_assignee

    return choose_assignee(ticket, actor)


def _assign(ticket, actor, assignee=None, **_) -> str:
    assignee = assignee or auto_assignee(ticket, actor)
    if assignee is None:
        raise WorkflowError(str(_l("%(record)s: choose the person to assign it to.", record=str(ticket))))
    allowed = db.session.execute(select(User.id).where(User.id == assignee.id, assignable_clause(actor))).first()
    if allowed is None:
        raise WorkflowError(
            str(
                _l(
                    "%(record)s: %(user)s is not an active service user within your scope.",
                    record=str(ticket),
                    user=assignee.name or assignee.username,
                )
            )
        )
    ticket.assigned_to_id, ticket.assigned_at = assignee.id, utcnow()
    return "assigned"


def _respond(ticket, actor, **_) -> str:
    ticket.first_response_at = ticket.first_response_at or utcnow()
    return ticket.status  # a note to the customer: the state stays


def _handle(ticket, actor, handling=None, result=None, **_) -> str:
    now = utcnow()
    ticket.handling, ticket.result = handling, result
    ticket.handled_by_id, ticket.handled_at = actor.id, now
    ticket.first_response_at = ticket.first_response_at or now
    return "handled"


def _archive(ticket, actor, comment=None, satisfaction=None, **_) -> str:
    ticket.satisfaction, ticket.feedback_comment, ticket.feedback_at = satisfaction, comment, utcnow()
    return "archived"


def _reopen(ticket, actor, comment=None, **_) -> str:
    ticket.reopen_count = (ticket.reopen_count or 0) + 1
    ticket.reopen_reason = comment
    return "assigned"


WORKING = ("assigned", "waiting")
#: the assignee takes these steps without ``service.edit`` (Transition.party)
ASSIGNEE = "assigned_to_id"

TICKET = Workflow(
    "service",
    dict(TICKET_STATUSES),
    [
        Transition(
            "assign",
            _l("Assign to…"),
            ("created", "assigned"),
            "assigned",
            "assign",
            decide=_assign,
            pick_user="assignee",
            pick_from=assignable_clause,
            pick_blank=_l("— by the assignment setting —"),
        ),
        Transition(
            "respond",
            _l("Respond"),
            WORKING,
            "assigned",
            "edit",
            comment_required=True,
            decide=_respond,
            party=ASSIGNEE,
        ),
        Transition(
            "wait", _l("Wait for customer"), ("assigned",), "waiting", "edit", comment_required=True, party=ASSIGNEE
        ),
        Transition("resume", _l("Resume"), ("waiting",), "assigned", "edit", party=ASSIGNEE),
        Transition(
            "handle",
            _l("Handle"),
            WORKING,
            "handled",
            "edit",
            decide=_handle,
            party=ASSIGNEE,
            values=(StepValue("handling", _l("Service handling")), StepValue("result", _lp("ticket", "Result"))),
        ),
        Transition(
            "archive",
            _l("Feedback & archive"),
            ("handled",),
            "archived",
            "edit",
            decide=_archive,
            values=(StepValue("satisfaction", _l("Satisfaction"), kind="rating"),),
        ),
        Transition(
            "reopen", _l("Reopen"), ("handled", "archived"), "assigned", "edit", comment_required=True, decide=_reopen
        ),
    ],
    locked=("archived",),
)

register(ServiceTicket, TICKET)
