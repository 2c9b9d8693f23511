"""The contract workflow (SPEC §5.1): the state machine of ``models.customers.Contract``,
with the second approval above ``contract_approval_threshold``. It lives in its own module
because models/customers.py, where the contract is declared, is at its size limit.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l

from . import settings
from .base import utcnow
from .customers import Contract
from .workflow import APPROVAL_STATES, Transition, Workflow, WorkflowError, approval_steps, approve, register


def contract_approval_threshold() -> Decimal:
    """Above this contract amount a second approval (an executive's) is needed; 0 = off."""
    return settings.contract_approval_threshold()


def _contract_approval(record, actor, **_) -> str:
    """Approve a contract. Above ``contract_approval_threshold`` (0 = off) a second
    approval by an executive is needed: the first approval (a sales director's) is
    recorded and the contract stays submitted until an executive — not the submitter,
    not the first approver (the four-eyes rule) — approves. Executives give only that second approval (SPEC §6:
    executive "A (> threshold)"). Refusals change nothing."""
    threshold = contract_approval_threshold()
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
        return approve(record, actor)
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
        approve(record, actor)
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
    record.second_approved_by_id, record.second_approved_at = actor.id, utcnow()
    return "approved"


CONTRACT = Workflow(
    "contract",
    {**APPROVAL_STATES, "signed": _l("Signed"), "archived": _l("Archived"), "terminated": _l("Terminated")},
    [
        *approval_steps(approve_decide=_contract_approval),
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

register(Contract, CONTRACT)
