"""The transition engine of SPEC §5: a workflow is a table of transitions (states, the
right each needs, what it writes), declared beside its model (models/contracts.py,
finance.py, purchasing.py, opportunities.py, orders.py, targets.py, churn.py) and
registered with :func:`register`; :func:`perform` takes a step. Views (bulk actions,
details buttons), the CLI and tests all call :func:`perform`. The steps every approval
workflow shares (:func:`approval_steps`, :func:`approve`, :func:`redraft`) and the
four-eyes rule (:func:`four_eyes_party`) are written here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, Text, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from . import db
from .audit import audit_note, audit_unchanged
from .base import UTCDateTime, label, user_fk, utcnow


class Approval:
    """Workflow columns of an approved document (SPEC §5.1): status, who submitted and
    approved it and when, the approval comment."""

    status: Mapped[str] = mapped_column(String(12), default="draft", index=True, info=label("Status"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Submitted at"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Approved at"))
    approval_comment: Mapped[str | None] = mapped_column(Text, info=label("Approval comment"))

    @declared_attr
    def submitted_by_id(cls) -> Mapped[int | None]:
        return user_fk("Submitted by")

    @declared_attr
    def approved_by_id(cls) -> Mapped[int | None]:
        return user_fk("Approved by")

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
    #: (actor) → a WHERE clause on users: the people offered for ``pick_user`` (default:
    #: the users who may view the records, in the actor's scope); ``decide`` checks it too
    pick_from: Callable | None = None
    #: the text of the empty choice of ``pick_user`` when ``decide`` can choose itself
    #: (a strategy); None: a person must be chosen
    pick_blank: object = None
    #: a column naming the user who may take the step without the right (``"assigned_to_id"``:
    #: the ticket's assignee handles it although not holding ``service.edit``)
    party: str | None = None
    #: the values the step asks for besides the comment (:class:`StepValue`), checked here
    #: and passed to ``decide`` under their names
    values: tuple = ()


@dataclass(frozen=True)
class StepValue:
    """A value a step asks for: ``text`` (a text box) or ``rating`` (1 … ``maximum``)."""

    name: str
    label: object
    kind: str = "text"
    required: bool = True
    maximum: int = 5

    def clean(self, record, raw):
        """The value from the form (a string, or what a caller passed), or raise WorkflowError."""
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, ""):
            if self.required:
                raise WorkflowError(str(_l("%(record)s: enter %(value)s.", record=str(record), value=str(self.label))))
            return None
        if self.kind == "rating":
            number = int(value) if str(value).isdigit() else 0
            if not 1 <= number <= self.maximum:
                raise WorkflowError(
                    str(
                        _l(
                            "%(record)s: %(value)s must be a whole number from 1 to %(maximum)s.",
                            record=str(record),
                            value=str(self.label),
                            maximum=self.maximum,
                        )
                    )
                )
            return number
        return value


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
        return [
            t
            for t in self.transitions.values()
            if record.status in t.sources and self.may(record, actor, t) and four_eyes_party(record, actor, t) is None
        ]

    def may(self, record, actor, step: Transition) -> bool:
        """The actor holds the step's right, or is the record's ``party`` (its assignee)."""
        if actor.can(f"{self.endpoint}.{step.right}"):
            return True
        return step.party is not None and actor.id is not None and getattr(record, step.party, None) == actor.id


APPROVAL_STATES = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
}


def approve(record, actor, **_) -> str:
    """The approve step of every approval workflow: who approved it and when."""
    record.approved_by_id, record.approved_at = actor.id, utcnow()
    return "approved"


def redraft(record, actor, **_) -> str:
    """Back to draft after a rejection: earlier approvals (and a second one) no longer count."""
    record.approved_by_id = record.approved_at = None
    if hasattr(record, "second_approved_by_id"):
        record.second_approved_by_id = record.second_approved_at = None
    return "draft"


def approval_steps(submit_label=None, *, submit_decide=None, approve_decide=approve) -> list[Transition]:
    """draft → submitted → approved | rejected, rejected → draft: the steps every approved
    document shares (contracts, quotes, purchase requests, expense contracts); approve and
    reject are four-eyes steps."""
    return [
        Transition(
            "submit",
            submit_label or _l("Submit for approval"),
            ("draft",),
            "submitted",
            "submit",
            stamp="submitted",
            decide=submit_decide,
        ),
        Transition(
            "approve", _l("Approve"), ("submitted",), "approved", "approve", four_eyes=True, decide=approve_decide
        ),
        Transition(
            "reject", _l("Reject"), ("submitted",), "rejected", "approve", comment_required=True, four_eyes=True
        ),
        Transition("redraft", _l("Back to draft"), ("rejected",), "draft", "submit", decide=redraft),
    ]


def four_eyes_party(record, actor, step: Transition) -> str | None:
    """The four-eyes rule (SPEC §5.1), the one place it is written: nobody takes a four-eyes
    step (approve, reject) on a record they submitted ("submitted") or already approved
    ("approved", the first of two approvals); None when ``actor`` may take it."""
    if not step.four_eyes:
        return None
    if actor.id == getattr(record, "submitted_by_id", None):
        return "submitted"
    if actor.id == getattr(record, "approved_by_id", None):
        return "approved"
    return None


def four_eyes_refusal(record, step: Transition, party: str) -> str:
    """The message refusing ``step`` to the ``party`` of :func:`four_eyes_party`."""
    if party == "submitted":
        message = _l(
            "%(record)s: you submitted it, so someone else must %(action)s it (four-eyes rule).",
            record=str(record),
            action=str(step.label),
        )
    else:
        message = _l(
            "%(record)s: you approved it already, so someone else must %(action)s it (four-eyes rule).",
            record=str(record),
            action=str(step.label),
        )
    return str(message)


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
    since, naming who changed it. The four-eyes rule (:func:`four_eyes_party`) refuses the
    submitter before the step is judged, and a first approver after the step's own refusal
    has had its say (it names what is needed: "an executive must give the second approval").
    Returns the new state; raises WorkflowError naming the record and the reason (the
    caller rolls back)."""
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
    if not workflow.may(record, actor, step):
        raise WorkflowError(
            str(_l("%(record)s: you lack the right to %(action)s.", record=str(record), action=str(step.label)))
        )
    comment = (comment or "").strip() or None
    if step.comment_required and not comment:
        raise WorkflowError(
            str(_l("%(record)s: %(action)s needs a comment saying why.", record=str(record), action=str(step.label)))
        )
    for value in step.values:
        params[value.name] = value.clean(record, params.get(value.name))
    party = four_eyes_party(record, actor, step)
    if party == "submitted":
        raise WorkflowError(four_eyes_refusal(record, step, party))
    with db.session.no_autoflush:
        target = step.decide(record, actor, comment=comment, **params) if step.decide else step.target
    if party is not None:  # a first approver: the step's own, more specific refusal spoke first
        raise WorkflowError(four_eyes_refusal(record, step, party))
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
    unchanged = not db.session.is_modified(record)
    db.session.flush()
    if unchanged:  # a step that writes nothing (a note) is in the history all the same
        audit_unchanged(db.session, record)
    return target


def is_locked(record) -> bool:
    """Read-only except for workflow fields (approved and later, submitted …)."""
    workflow = WORKFLOWS.get(type(record))
    return workflow is not None and record.status in workflow.locked
