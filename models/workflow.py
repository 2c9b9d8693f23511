"""The state machines of SPEC §5: one declaration per workflow (states, transitions and
the right each needs) and one function that performs a transition. Views (bulk
actions, details buttons), the CLI and tests all call :func:`perform`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from . import clock, db, settings
from .audit import audit_note
from .base import UTCDateTime, label, utcnow


def _user_fk(label_text: str):
    return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label(label_text))


class Approval:
    """Workflow columns of an approved document (SPEC §5.1): status, who submitted and
    approved it and when, the approval comment."""

    status: Mapped[str] = mapped_column(String(12), default="draft", index=True, info=label("Status"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Submitted at"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Approved at"))
    approval_comment: Mapped[str | None] = mapped_column(Text, info=label("Approval comment"))

    @declared_attr
    def submitted_by_id(cls) -> Mapped[int | None]:
        return _user_fk("Submitted by")

    @declared_attr
    def approved_by_id(cls) -> Mapped[int | None]:
        return _user_fk("Approved by")

    @declared_attr
    def submitted_by(cls):
        return relationship("User", foreign_keys=f"{cls.__name__}.submitted_by_id", info=label("Submitted by"))

    @declared_attr
    def approved_by(cls):
        return relationship("User", foreign_keys=f"{cls.__name__}.approved_by_id", info=label("Approved by"))


class WorkflowError(ValueError):
    """A transition was refused; the message names the record and the reason."""


@dataclass(frozen=True)
class Transition:
    """One step: from any of ``sources`` to ``target``, needing ``<endpoint>.<right>``."""

    name: str
    label: object
    sources: tuple[str, ...]
    target: str
    right: str
    comment_required: bool = False
    four_eyes: bool = False  # the submitter may not take this step
    stamp: str | None = None  # record <stamp>_by_id / <stamp>_at (e.g. "submitted")
    #: (record, actor, comment=…, **params) → the target state, or raise WorkflowError
    decide: Callable | None = None
    #: the step needs a person chosen by the actor, passed to ``decide`` under this name
    pick_user: str | None = None


@dataclass
class Workflow:
    endpoint: str
    states: dict[str, object]
    transitions: dict[str, Transition] = field(default_factory=dict)
    #: states in which the record is read-only except for workflow fields
    locked: frozenset[str] = frozenset()

    def __init__(self, endpoint, states, transitions, locked=()):
        self.endpoint = endpoint
        self.states = states
        self.transitions = {t.name: t for t in transitions}
        self.locked = frozenset(locked)

    def state_label(self, state: str) -> str:
        return str(self.states.get(state, state))

    def available(self, record, actor) -> list[Transition]:
        """The transitions the actor could take on the record now: state, right, and not
        a four-eyes step on a record the actor submitted or already approved."""
        mine = actor.id in (getattr(record, "submitted_by_id", None), getattr(record, "approved_by_id", None))
        return [
            t
            for t in self.transitions.values()
            if record.status in t.sources and actor.can(f"{self.endpoint}.{t.right}") and not (t.four_eyes and mine)
        ]


def _threshold() -> Decimal:
    return settings.contract_approval_threshold()


def _contract_approval(record, actor, **_) -> str:
    """Approve a contract. Above ``contract_approval_threshold`` (0 = off) a second
    approval by an executive is needed: the first approval (a sales director's) is
    recorded and the contract stays submitted until an executive — not the submitter,
    not the first approver — approves. Executives give only that second approval (SPEC §6:
    executive "A (> threshold)"). Refusals change nothing."""
    threshold = _threshold()
    needs_second = threshold > 0 and record.amount is not None and record.amount > threshold
    is_executive = actor.role is not None and actor.role.code == "executive"
    if not needs_second:
        if is_executive:
            raise WorkflowError(
                str(
                    _l(
                        "%(record)s: executives approve only contracts above %(limit)s, as "
                        "the second approval; the sales director approves this one.",
                        record=str(record),
                        limit=threshold,
                    )
                )
            )
        record.approved_by_id, record.approved_at = actor.id, utcnow()
        return "approved"
    if record.approved_by_id is None:
        if is_executive:
            raise WorkflowError(
                str(
                    _l(
                        "%(record)s: above %(limit)s the first approval must come from the "
                        "sales director, then an executive approves.",
                        record=str(record),
                        limit=threshold,
                    )
                )
            )
        record.approved_by_id, record.approved_at = actor.id, utcnow()
        return "submitted"  # waits for the executive
    if not is_executive:
        raise WorkflowError(
            str(
                _l(
                    "%(record)s: amount above %(limit)s — already approved once, an "
                    "executive must give the second approval.",
                    record=str(record),
                    limit=threshold,
                )
            )
        )
    if actor.id == record.approved_by_id:
        raise WorkflowError(
            str(_l("%(record)s: the second approval must come from another person.", record=str(record)))
        )
    record.second_approved_by_id, record.second_approved_at = actor.id, utcnow()
    return "approved"


def _clear_approvals(record, actor, **_) -> str:
    """Back to draft after a rejection: earlier approvals no longer count."""
    record.approved_by_id = record.approved_at = None
    if hasattr(record, "second_approved_by_id"):
        record.second_approved_by_id = record.second_approved_at = None
    return "draft"


APPROVAL_STATES = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
}

CONTRACT = Workflow(
    "contract",
    {**APPROVAL_STATES, "signed": _l("Signed"), "archived": _l("Archived"), "terminated": _l("Terminated")},
    [
        Transition("submit", _l("Submit for approval"), ("draft",), "submitted", "submit", stamp="submitted"),
        Transition(
            "approve", _l("Approve"), ("submitted",), "approved", "approve", four_eyes=True, decide=_contract_approval
        ),
        Transition(
            "reject", _l("Reject"), ("submitted",), "rejected", "approve", comment_required=True, four_eyes=True
        ),
        Transition("redraft", _l("Back to draft"), ("rejected",), "draft", "submit", decide=_clear_approvals),
        Transition("sign", _l("Sign (stamp)"), ("approved",), "signed", "approve"),
        Transition("archive", _l("Archive"), ("signed",), "archived", "approve"),
        Transition(
            "terminate",
            _l("Terminate"),
            ("draft", "submitted", "approved", "signed"),
            "terminated",
            "approve",
            comment_required=True,
        ),
    ],
    locked=("submitted", "approved", "signed", "archived", "terminated"),
)


def _approve(record, actor, **_) -> str:
    record.approved_by_id, record.approved_at = actor.id, utcnow()
    return "approved"


def _approval_workflow(endpoint: str) -> Workflow:
    """draft → submitted → approved | rejected, rejected → draft (purchase requests,
    expense contracts)."""
    return Workflow(
        endpoint,
        APPROVAL_STATES,
        [
            Transition("submit", _l("Submit for approval"), ("draft",), "submitted", "submit", stamp="submitted"),
            Transition(
                "approve", _l("Approve"), ("submitted",), "approved", "approve", four_eyes=True, decide=_approve
            ),
            Transition(
                "reject", _l("Reject"), ("submitted",), "rejected", "approve", comment_required=True, four_eyes=True
            ),
            Transition("redraft", _l("Back to draft"), ("rejected",), "draft", "submit", decide=_clear_approvals),
        ],
        locked=("submitted", "approved"),
    )


PURCHASE_REQUEST = _approval_workflow("purchase_request")
EXPENSE_CONTRACT = _approval_workflow("expense_contract")


def _paid(record, actor, **_) -> str:
    record.paid_on = record.paid_on or clock.today()  # the local day, not UTC's
    return "paid"


PAYMENT = Workflow(
    "payment",
    {"requested": _l("Requested"), "approved": _l("Approved"), "paid": _l("Paid"), "rejected": _l("Rejected")},
    [
        Transition("approve", _l("Approve"), ("requested",), "approved", "approve", four_eyes=True, decide=_approve),
        Transition(
            "reject", _l("Reject"), ("requested",), "rejected", "approve", comment_required=True, four_eyes=True
        ),
        Transition("pay", _l("Mark as paid"), ("approved",), "paid", "approve", decide=_paid),
    ],
    locked=("approved", "paid", "rejected"),
)


def _confirm(record, actor, **_) -> str:
    record.confirmed_by_id, record.confirmed_at = actor.id, utcnow()
    return "confirmed"


RECEIPT = Workflow(
    "receipt",
    {"recorded": _l("Recorded"), "confirmed": _l("Confirmed")},
    [
        Transition("confirm", _l("Confirm"), ("recorded",), "confirmed", "confirm", decide=_confirm),
    ],
    locked=("confirmed",),
)


def _void(record, actor, **_) -> str:
    record.voided_by_id, record.voided_at = actor.id, utcnow()
    return "voided"


INVOICE = Workflow(
    "invoice",
    {"issued": _l("Issued"), "voided": _l("Voided")},
    [
        Transition("void", _l("Void"), ("issued",), "voided", "void", comment_required=True, decide=_void),
    ],
    locked=("voided",),
)

#: model class → its workflow (modules register theirs with :func:`register`)
WORKFLOWS: dict[type, Workflow] = {}


def register(model, workflow: Workflow) -> None:
    """Attach a workflow to a model class (its rows need a ``status`` column)."""
    WORKFLOWS[model] = workflow
    model.__workflow__ = workflow


def workflow_of(record) -> Workflow:
    return WORKFLOWS[type(record)]


def lock_row(record) -> None:
    """Re-read ``record`` from the database and lock its row until the transaction ends,
    so that a check made next (its state, what it already became) is not stale: a parallel
    transaction doing the same waits for this one, then reads what it committed. FOR NO KEY
    UPDATE on PostgreSQL (rows inserted with a foreign key to it do not wait, nor deadlock);
    on SQLite, requests that write begin IMMEDIATE (app.py) and are serialised already."""
    state = sa_inspect(record)
    if not state.persistent:
        return
    model = type(record)
    session = state.session
    session.execute(
        select(model)
        .where(model.id == record.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def changed_meanwhile(record) -> str:
    """The refusal of a step on a record that someone changed after the actor saw it,
    naming who (from the audit log)."""
    from .audit import last_change

    entry = last_change(record.__tablename__, record.id)
    who = (
        (entry.user.name or entry.user.username)
        if entry is not None and entry.user is not None
        else str(_l("another user"))
    )
    return str(_l("%(record)s was changed by %(user)s meanwhile — reload and try again.", record=str(record), user=who))


def perform(
    record, action: str, actor, comment: str | None = None, *, seen_version: int | None = None, **params
) -> str:
    """Take ``action`` on ``record`` as ``actor``: check the state, the right, the comment
    and four-eyes, write the workflow fields and an audit entry (action and comment) in
    the caller's transaction. ``params`` go to the step's ``decide`` (e.g. ``assignee``).
    The row is locked and re-read first (:func:`lock_row`), so of two parallel steps on one
    record exactly one takes effect and the other is judged on the new state;
    ``seen_version`` (the version the actor confirmed) refuses a step on a record changed
    since, naming who changed it. Returns the new state; raises WorkflowError naming the
    record and the reason."""
    workflow = workflow_of(record)
    step = workflow.transitions.get(action)
    if step is None:
        raise WorkflowError(str(_l("Unknown action %(action)s.", action=action)))
    lock_row(record)
    if seen_version is not None and getattr(record, "version", seen_version) != seen_version:
        raise WorkflowError(changed_meanwhile(record))
    if record.status not in step.sources:
        raise WorkflowError(
            str(
                _l(
                    "%(record)s is %(state)s: cannot %(action)s it.",
                    record=str(record),
                    state=workflow.state_label(record.status),
                    action=str(step.label),
                )
            )
        )
    if not actor.can(f"{workflow.endpoint}.{step.right}"):
        raise WorkflowError(
            str(_l("%(record)s: you lack the right to %(action)s.", record=str(record), action=str(step.label)))
        )
    comment = (comment or "").strip() or None
    if step.comment_required and not comment:
        raise WorkflowError(
            str(_l("%(record)s: %(action)s needs a comment saying why.", record=str(record), action=str(step.label)))
        )
    if step.four_eyes and getattr(record, "submitted_by_id", None) == actor.id:
        raise WorkflowError(
            str(
                _l(
                    "%(record)s: you submitted it, so someone else must %(action)s it (four-eyes rule).",
                    record=str(record),
                    action=str(step.label),
                )
            )
        )
    with db.session.no_autoflush:
        target = step.decide(record, actor, comment=comment, **params) if step.decide else step.target
    now = utcnow()
    if step.stamp:
        setattr(record, f"{step.stamp}_by_id", actor.id)
        setattr(record, f"{step.stamp}_at", now)
    if comment and hasattr(record, "approval_comment") and action in ("approve", "reject"):
        record.approval_comment = comment
    if comment and action == "void" and hasattr(record, "void_reason"):
        record.void_reason = comment
    record.status = target
    audit_note(db.session, action, comment)
    db.session.flush()
    return target


def is_locked(record) -> bool:
    """Read-only except for workflow fields (approved and later, submitted …)."""
    workflow = WORKFLOWS.get(type(record))
    return workflow is not None and record.status in workflow.locked
