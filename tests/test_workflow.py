"""Contract workflow (SPEC §5.1, rights of §6): the engine ``models.workflow.perform``
called directly, and the same steps over HTTP — list actions ``wf_<name>`` leading to
the confirmation page, details-page buttons ``#wf-<name>``, read-only locked records.

draft → submitted → approved | rejected, rejected → draft, approved → signed → archived,
draft/submitted/approved/signed → terminated. Four-eyes: the submitter neither approves
nor rejects. Above ``contract_approval_threshold`` the sales director's approval is
followed by an executive's (two approvals recorded).

Organisation (tests/conftest.py): account_manager, sales_director … in 销售一部, am_other
in 销售二部, director_top (sales_director) in 销售部. HTTP clients speak English
(Accept-Language: en) so that messages can be asserted literally.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select, update

from models.audit import AuditLog
from models.auth import SystemConfig
from models.contracts import CONTRACT
from models.customers import Contract
from models.workflow import WorkflowError, is_locked, perform
from tests.factories import add_children, make_client, user

STATES = ("draft", "submitted", "approved", "rejected", "signed", "archived", "terminated")
ACTIONS = ("submit", "approve", "reject", "redraft", "sign", "archive", "terminate")

#: SPEC §5.1, written from the issue text, not from the code: action → (sources, target)
EXPECTED = {
    "submit": ({"draft"}, "submitted"),
    "approve": ({"submitted"}, "approved"),
    "reject": ({"submitted"}, "rejected"),
    "redraft": ({"rejected"}, "draft"),
    "sign": ({"approved"}, "signed"),
    "archive": ({"signed"}, "archived"),
    "terminate": ({"draft", "submitted", "approved", "signed"}, "terminated"),
}

#: how a fresh draft reaches each state
ROUTE = {
    "draft": (),
    "submitted": ("submit",),
    "approved": ("submit", "approve"),
    "rejected": ("submit", "reject"),
    "signed": ("submit", "approve", "sign"),
    "archived": ("submit", "approve", "sign", "archive"),
    "terminated": ("submit", "approve", "terminate"),
}

SNAPSHOT = (
    "status",
    "submitted_by_id",
    "submitted_at",
    "approved_by_id",
    "approved_at",
    "approval_comment",
    "second_approved_by_id",
    "second_approved_at",
    "version",
    "name",
    "amount",
    "is_deleted",
)


# ----------------------------------------------------------------------------- helpers


def drive(session, contract, state, *, submitter="account_manager", approver="sales_director"):
    """Move ``contract`` from draft to ``state`` with perform(), one commit per step."""
    for step in ROUTE[state]:
        actor = user(session, submitter if step == "submit" else approver)
        perform(contract, step, actor, f"{step}的理由")
        session.commit()
    assert contract.status == state


def new_contract(session, state="draft", *, owner="account_manager", amount="1000.00", **route):
    """A contract of a new client of ``owner`` (tests.factories), moved to ``state``."""
    contract = add_children(session, make_client(session, owner))["contract"]
    contract.amount = Decimal(amount)
    session.commit()  # creation audited apart from the workflow steps
    drive(session, contract, state, submitter=route.pop("submitter", owner), **route)
    return contract


def set_threshold(session, value: str):
    session.execute(update(SystemConfig).where(SystemConfig.name == "contract_approval_threshold").values(value=value))
    session.commit()


def snapshot(contract) -> dict:
    return {name: getattr(contract, name) for name in SNAPSHOT}


def audit_entries(session, contract, action=None):
    query = select(AuditLog).where(AuditLog.table_name == "contract", AuditLog.record_id == contract.id)
    if action:
        query = query.where(AuditLog.action == action)
    return session.execute(query.order_by(AuditLog.id)).scalars().all()


def audit_count(session, contract) -> int:
    return session.execute(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.table_name == "contract", AuditLog.record_id == contract.id)
    ).scalar()


def refused(session, contract, action, actor, comment="理由", *, contains=()):
    """perform() must raise WorkflowError naming the record and change nothing."""
    before, logged = snapshot(contract), audit_count(session, contract)
    with pytest.raises(WorkflowError) as error:
        perform(contract, action, user(session, actor), comment)
    message = str(error.value)
    assert str(contract) in message
    for part in contains:
        assert part in message, message
    assert not session.is_modified(contract), "a refused step left changes in the session"
    assert snapshot(contract) == before
    assert audit_count(session, contract) == logged
    return message


def reload(session, contract) -> Contract:
    session.expire_all()
    return session.get(Contract, contract.id)


def session_flashes(test_client) -> list[tuple[str, str]]:
    with test_client.session_transaction() as flask_session:
        return list(flask_session.get("_flashes", []))


WF_ACTIONS = {f"wf_{name}" for name in ACTIONS}


def list_actions(test_client) -> set[str]:
    """The actions offered in the "With selected" menu of the contract list."""
    page = test_client.get("/admin/contract/").get_data(as_text=True)
    return set(re.findall(r'data-crm-action="([a-z_]+)"', page)) | set(
        re.findall(r"modelActions\.execute\('([a-z_]+)'\)", page)
    )


def wf_buttons(page: str) -> set[str]:
    return set(re.findall(r'id="wf-([a-z_]+)"', page))


def post_transition(test_client, action, contracts, comment="", url="/admin/contract/"):
    ids = ",".join(str(c.id) for c in contracts)
    return test_client.post(
        "/admin/contract/transition/", data={"action": action, "ids": ids, "comment": comment, "url": url}
    )


# ================================================================ the engine: perform()
def test_contract_workflow_declaration_matches_the_spec():
    assert set(CONTRACT.states) == set(STATES)
    assert {name: (set(t.sources), t.target) for name, t in CONTRACT.transitions.items()} == EXPECTED
    assert {name for name, t in CONTRACT.transitions.items() if t.comment_required} == {"reject", "terminate"}
    assert {name for name, t in CONTRACT.transitions.items() if t.four_eyes} == {"approve", "reject"}
    assert CONTRACT.locked == {"submitted", "approved", "signed", "archived", "terminated"}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition_from_every_state(db_session, state, action):
    """Allowed from its sources (admin: every right, not the submitter), refused from the
    other states with a message naming the record and its state, changing nothing."""
    contract = new_contract(db_session, state)
    sources, target = EXPECTED[action]
    if state not in sources:
        label = CONTRACT.state_label(state)
        refused(db_session, contract, action, "admin", contains=(label,))  # names the state
        return
    logged = audit_count(db_session, contract)
    admin = user(db_session, "admin")
    assert perform(contract, action, admin, f"{action}: 管理员意见") == target
    db_session.commit()
    contract = reload(db_session, contract)
    assert contract.status == target
    entries = audit_entries(db_session, contract)
    assert len(entries) == logged + 1
    assert (entries[-1].action, entries[-1].comment) == (action, f"{action}: 管理员意见")
    assert entries[-1].changes["status"] == [state, target]
    if action == "submit":
        assert contract.submitted_by_id == admin.id and contract.submitted_at is not None
    if action == "approve":
        assert contract.approved_by_id == admin.id and contract.approved_at is not None
        assert contract.second_approved_by_id is None
    if action in ("approve", "reject"):
        assert contract.approval_comment == f"{action}: 管理员意见"


def test_unknown_action_is_refused(db_session):
    contract = new_contract(db_session)
    before = snapshot(contract)
    with pytest.raises(WorkflowError, match="Unknown action"):
        perform(contract, "frobnicate", user(db_session, "admin"))
    assert snapshot(contract) == before


@pytest.mark.parametrize(
    "actor, action, state",
    [
        ("clerk", "submit", "draft"),  # clerk: contracts V only
        ("finance", "submit", "draft"),  # finance: VX
        ("executive", "submit", "draft"),  # executive: VX A
        ("account_manager", "approve", "submitted"),  # account_manager: VCE submit
        ("account_manager", "reject", "submitted"),
        ("account_manager", "sign", "approved"),
        ("account_manager", "terminate", "approved"),
        ("clerk", "approve", "submitted"),
        ("finance", "approve", "submitted"),
        ("clerk", "redraft", "rejected"),
    ],
)
def test_missing_right_is_refused(db_session, actor, action, state):
    contract = new_contract(db_session, state, submitter="sales_director", approver="admin")
    refused(db_session, contract, action, actor, contains=("lack the right",))


@pytest.mark.parametrize(
    "action, state",
    [
        ("reject", "submitted"),
        ("terminate", "draft"),
        ("terminate", "submitted"),
        ("terminate", "approved"),
        ("terminate", "signed"),
    ],
)
@pytest.mark.parametrize("comment", [None, "", "   \n "])
def test_comment_is_required_to_reject_and_terminate(db_session, action, state, comment):
    contract = new_contract(db_session, state)
    refused(db_session, contract, action, "sales_director", comment, contains=("needs a comment",))
    perform(contract, action, user(db_session, "sales_director"), "  客户预算取消  ")
    db_session.commit()
    assert contract.status == EXPECTED[action][1]
    assert audit_entries(db_session, contract, action)[-1].comment == "客户预算取消"  # stripped


@pytest.mark.parametrize("action", ["submit", "approve", "sign", "archive", "redraft"])
def test_comment_is_optional_elsewhere(db_session, action):
    state = next(s for s in STATES if s in EXPECTED[action][0])
    contract = new_contract(db_session, state)
    perform(contract, action, user(db_session, "director_top"), "   ")
    db_session.commit()
    assert contract.status == EXPECTED[action][1]
    assert audit_entries(db_session, contract, action)[-1].comment is None


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_four_eyes_the_submitter_cannot_decide(db_session, action):
    contract = new_contract(db_session, "submitted", submitter="sales_director")
    refused(db_session, contract, action, "sales_director", contains=("four-eyes",))
    assert contract.status == "submitted" and contract.approved_by_id is None


def test_executive_does_not_approve_below_the_threshold(db_session):
    """SPEC §6: executive "A (> threshold)" — only the second approval above the threshold."""
    contract = new_contract(db_session, "submitted", submitter="sales_director")
    refused(db_session, contract, "approve", "executive", contains=("second approval",))


@pytest.mark.parametrize("approver", ["director_top", "admin"])
def test_four_eyes_another_approver_may_approve(db_session, approver):
    contract = new_contract(db_session, "submitted", submitter="sales_director")
    actor = user(db_session, approver)
    assert perform(contract, "approve", actor, "同意") == "approved"
    db_session.commit()
    contract = reload(db_session, contract)
    assert contract.status == "approved"
    assert (contract.submitted_by.username, contract.approved_by_id) == ("sales_director", actor.id)
    assert contract.approval_comment == "同意"


def test_admin_who_submitted_cannot_approve_either(db_session):
    contract = new_contract(db_session, "submitted", submitter="admin")
    refused(db_session, contract, "approve", "admin", contains=("four-eyes",))


# ----------------------------------------------------------------- approval threshold
def test_above_threshold_two_approvals_director_then_executive(db_session):
    set_threshold(db_session, "10000")
    contract = new_contract(db_session, "submitted", amount="20000.00")
    director, executive = user(db_session, "sales_director"), user(db_session, "executive")

    assert perform(contract, "approve", director, "一审同意") == "submitted"
    db_session.commit()
    contract = reload(db_session, contract)
    assert contract.status == "submitted"
    assert (contract.approved_by_id, contract.second_approved_by_id) == (director.id, None)
    assert contract.approved_at is not None and contract.second_approved_at is None
    assert is_locked(contract)

    # nobody but an executive gives the second approval
    refused(db_session, contract, "approve", "account_manager", contains=("lack the right",))
    for other in ("sales_director", "director_top", "admin"):
        refused(db_session, contract, "approve", other, contains=("executive must give the second approval", "10000"))

    assert perform(contract, "approve", executive, "二审同意") == "approved"
    db_session.commit()
    contract = reload(db_session, contract)
    assert contract.status == "approved"
    assert (contract.approved_by_id, contract.second_approved_by_id) == (director.id, executive.id)
    assert contract.second_approved_at is not None
    assert [
        (e.action, e.comment, e.changes["status"] if "status" in e.changes else None)
        for e in audit_entries(db_session, contract, "approve")
    ] == [("approve", "一审同意", None), ("approve", "二审同意", ["submitted", "approved"])]


@pytest.mark.parametrize("amount", ["10000.00", "9999.99", "1.00"])
def test_at_or_below_threshold_one_approval_suffices(db_session, amount):
    set_threshold(db_session, "10000")
    contract = new_contract(db_session, "submitted", amount=amount)
    director = user(db_session, "sales_director")
    assert perform(contract, "approve", director) == "approved"
    db_session.commit()
    contract = reload(db_session, contract)
    assert (contract.status, contract.approved_by_id, contract.second_approved_by_id) == ("approved", director.id, None)


def test_threshold_zero_turns_the_second_approval_off(db_session):
    set_threshold(db_session, "0")
    contract = new_contract(db_session, "submitted", amount="99999999.00")
    assert perform(contract, "approve", user(db_session, "sales_director")) == "approved"


def test_executive_cannot_be_the_first_approver_above_threshold(db_session):
    """What the code does: refused, asking for the sales director first; status stays
    submitted (checked in the database after the caller rolls back, as the views do)."""
    set_threshold(db_session, "10000")
    contract = new_contract(db_session, "submitted", amount="20000.00")
    with pytest.raises(WorkflowError) as error:
        perform(contract, "approve", user(db_session, "executive"), "先批了")
    message = str(error.value)
    assert str(contract) in message and "first approval must come from the sales director" in message
    assert "10000" in message
    db_session.rollback()
    contract = reload(db_session, contract)
    assert (contract.status, contract.approved_by_id, contract.second_approved_by_id) == ("submitted", None, None)
    assert audit_entries(db_session, contract, "approve") == []
    # the regular order still works afterwards
    assert perform(contract, "approve", user(db_session, "sales_director")) == "submitted"
    assert perform(contract, "approve", user(db_session, "executive")) == "approved"


def test_executive_first_refusal_changes_nothing_in_memory(db_session):
    set_threshold(db_session, "10000")
    contract = new_contract(db_session, "submitted", amount="20000.00")
    refused(db_session, contract, "approve", "executive", contains=("first approval",))


def test_reject_after_first_approval_then_redraft_clears_approvals(db_session):
    set_threshold(db_session, "10000")
    contract = new_contract(db_session, "submitted", amount="20000.00")
    perform(contract, "approve", user(db_session, "sales_director"), "一审同意")
    db_session.commit()
    refused(db_session, contract, "reject", "executive", None, contains=("needs a comment",))
    assert perform(contract, "reject", user(db_session, "executive"), "金额过高") == "rejected"
    db_session.commit()
    contract = reload(db_session, contract)
    assert (contract.status, contract.approval_comment) == ("rejected", "金额过高")
    assert not is_locked(contract)  # rejected: editable again

    assert perform(contract, "redraft", user(db_session, "account_manager")) == "draft"
    db_session.commit()
    contract = reload(db_session, contract)
    assert (
        contract.approved_by_id,
        contract.approved_at,
        contract.second_approved_by_id,
        contract.second_approved_at,
    ) == (None, None, None, None)
    # the old first approval no longer counts: two approvals again
    perform(contract, "submit", user(db_session, "account_manager"))
    assert perform(contract, "approve", user(db_session, "director_top")) == "submitted"
    assert perform(contract, "approve", user(db_session, "executive")) == "approved"


# ----------------------------------------------------------------- audit of a full life
def test_audit_log_has_every_step_with_its_comment(db_session):
    contract = new_contract(db_session)
    steps = [
        ("submit", "account_manager", "请审批"),
        ("reject", "sales_director", "付款条件不清"),
        ("redraft", "account_manager", None),
        ("submit", "account_manager", "已修改"),
        ("approve", "sales_director", "同意"),
        ("sign", "sales_director", "已盖章"),
        ("archive", "sales_director", "存档柜A3"),
    ]
    for action, actor, comment in steps:
        perform(contract, action, user(db_session, actor), comment)
        db_session.commit()
    entries = [(e.action, e.comment) for e in audit_entries(db_session, contract)]
    assert entries[0][0] == "create"
    assert entries[1:] == [(a, c) for a, _, c in steps]
    assert reload(db_session, contract).status == "archived"


@pytest.mark.parametrize("state", ["submitted", "approved", "signed", "archived", "terminated"])
def test_locked_states(db_session, state):
    assert is_locked(new_contract(db_session, state))


@pytest.mark.parametrize("state", ["draft", "rejected"])
def test_unlocked_states(db_session, state):
    assert not is_locked(new_contract(db_session, state))


# ========================================================================= over HTTP
def test_bulk_approve_reports_done_and_refused(en_client, db_session):
    good = new_contract(db_session, "submitted")  # by account_manager
    draft = new_contract(db_session, "draft")
    own = new_contract(db_session, "submitted", submitter="sales_director")  # four-eyes
    director = en_client("sales_director")
    rowids = [str(good.id), str(draft.id), str(own.id)]

    started = director.post("/admin/contract/action/", data={"action": "wf_approve", "rowid": rowids})
    assert started.status_code == 302
    location = urlparse(started.headers["Location"])
    assert location.path == "/admin/contract/transition/"
    query = parse_qs(location.query)
    assert query["action"] == ["approve"] and sorted(query["ids"][0].split(",")) == sorted(rowids)

    page = director.get(started.headers["Location"])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="transition-form"' in text and 'name="comment"' in text
    for contract in (good, draft, own):
        assert str(contract) in text
    assert text.count("will be refused: wrong status") == 1  # the draft

    done = director.post(
        started.headers["Location"],
        data={"action": "approve", "ids": query["ids"][0], "comment": "同意签订", "url": "/admin/contract/"},
    )
    assert done.status_code == 302 and urlparse(done.headers["Location"]).path == "/admin/contract/"
    messages = session_flashes(director)
    errors = [m for c, m in messages if c == "error"]
    assert ("warning", "Approve: 1 done, 2 refused.") in messages
    assert len(errors) == 2
    assert any(str(draft) in m and "is Draft" in m for m in errors), errors
    assert any(str(own) in m and "four-eyes" in m for m in errors), errors

    good, draft, own = (reload(db_session, c) for c in (good, draft, own))
    assert (good.status, good.approved_by.username, good.approval_comment) == ("approved", "sales_director", "同意签订")
    assert (draft.status, draft.approved_by_id) == ("draft", None)
    assert (own.status, own.approved_by_id) == ("submitted", None)
    [entry] = audit_entries(db_session, good, "approve")
    assert (entry.comment, entry.user.username) == ("同意签订", "sales_director")
    assert audit_entries(db_session, draft, "approve") == audit_entries(db_session, own, "approve") == []


def test_bulk_action_ignores_ids_outside_the_scope(en_client, db_session):
    mine = new_contract(db_session, "submitted")  # 销售一部
    theirs = new_contract(db_session, "submitted", owner="am_other")  # 销售二部
    director = en_client("sales_director")
    started = director.post(
        "/admin/contract/action/", data={"action": "wf_approve", "rowid": [str(mine.id), str(theirs.id)]}
    )
    page = director.get(started.headers["Location"]).get_data(as_text=True)
    assert str(mine) in page and str(theirs) not in page
    assert f'name="ids" value="{mine.id}"' in page

    # posting the foreign id anyway: ignored, neither done nor refused
    post_transition(director, "approve", [mine, theirs], "同意")
    assert ("success", "Approve: 1 done.") in session_flashes(director)
    assert reload(db_session, mine).status == "approved"
    theirs = reload(db_session, theirs)
    assert (theirs.status, theirs.approved_by_id) == ("submitted", None)

    # only foreign ids: nothing to do
    post_transition(director, "approve", [theirs], "同意")
    assert ("error", "Choose at least one record and an action.") in session_flashes(director)
    assert reload(db_session, theirs).status == "submitted"
    # the sales director of the parent department sees both
    top = en_client("director_top")
    post_transition(top, "approve", [theirs], "同意")
    assert reload(db_session, theirs).status == "approved"


@pytest.mark.parametrize(
    "username, expected",
    [
        ("admin", set(ACTIONS)),
        ("sales_director", set(ACTIONS)),
        ("director_top", set(ACTIONS)),
        ("executive", {"approve", "reject", "sign", "archive", "terminate"}),
        ("account_manager", {"submit", "redraft"}),
        ("clerk", set()),
        ("finance", set()),
    ],
)
def test_list_offers_the_workflow_actions_of_the_role(en_client, db_session, username, expected):
    new_contract(db_session, "submitted")
    assert list_actions(en_client(username)) & WF_ACTIONS == {f"wf_{name}" for name in expected}


def test_list_action_needs_the_right(en_client, db_session):
    contract = new_contract(db_session, "draft", owner="clerk")
    clerk = en_client("clerk")
    response = clerk.post("/admin/contract/action/", data={"action": "wf_submit", "rowid": [str(contract.id)]})
    assert response.status_code == 403  # SPEC §2.3: refused as such, no way to the confirmation page
    assert list_actions(clerk) & WF_ACTIONS == set()
    # the confirmation page posted directly: refused by perform()
    post_transition(clerk, "submit", [contract])
    messages = session_flashes(clerk)
    assert any(c == "error" and "lack the right" in m and str(contract) in m for c, m in messages), messages
    assert ("warning", "Submit for approval: 0 done, 1 refused.") in messages
    assert reload(db_session, contract).status == "draft"


def test_account_manager_cannot_approve_over_http(en_client, db_session):
    contract = new_contract(db_session, "submitted", submitter="sales_director")
    manager = en_client("account_manager")
    assert list_actions(manager) & WF_ACTIONS == {"wf_submit", "wf_redraft"}
    post_transition(manager, "approve", [contract], "同意")
    assert any("lack the right" in m for c, m in session_flashes(manager))
    assert reload(db_session, contract).status == "submitted"


def test_reject_over_http_requires_a_comment(en_client, db_session):
    contract = new_contract(db_session, "submitted")
    director = en_client("sales_director")
    page = director.get(f"/admin/contract/transition/?action=reject&ids={contract.id}").get_data(as_text=True)
    assert re.search(r'<textarea[^>]*name="comment"[^>]*required', page)
    post_transition(director, "reject", [contract], "  ")
    assert any(c == "error" and "needs a comment" in m for c, m in session_flashes(director))
    assert reload(db_session, contract).status == "submitted"
    post_transition(director, "reject", [contract], "价格低于底价")
    assert ("success", "Reject: 1 done.") in session_flashes(director)
    contract = reload(db_session, contract)
    assert (contract.status, contract.approval_comment) == ("rejected", "价格低于底价")
    [entry] = audit_entries(db_session, contract, "reject")
    assert (entry.comment, entry.user.username) == ("价格低于底价", "sales_director")


def test_threshold_over_http(en_client, db_session):
    set_threshold(db_session, "10000")
    contract = new_contract(db_session, "submitted", amount="20000.00")
    executive, director = en_client("executive"), en_client("sales_director")

    post_transition(executive, "approve", [contract], "先批")  # executive first: refused, rolled back
    assert any("first approval must come from the sales director" in m for c, m in session_flashes(executive))
    contract = reload(db_session, contract)
    assert (contract.status, contract.approved_by_id) == ("submitted", None)

    post_transition(director, "approve", [contract], "一审")
    assert ("success", "Approve: 1 done.") in session_flashes(director)
    contract = reload(db_session, contract)
    assert (contract.status, contract.approved_by.username) == ("submitted", "sales_director")

    post_transition(en_client("director_top"), "approve", [contract], "再批")
    assert reload(db_session, contract).second_approved_by_id is None

    post_transition(executive, "approve", [contract], "二审")
    contract = reload(db_session, contract)
    assert (contract.status, contract.approved_by.username, contract.second_approved_by.username) == (
        "approved",
        "sales_director",
        "executive",
    )
    assert [e.user.username for e in audit_entries(db_session, contract, "approve")] == ["sales_director", "executive"]


@pytest.mark.parametrize(
    "username, state, expected",
    [
        ("sales_director", "submitted", {"approve", "reject", "terminate"}),
        ("account_manager", "submitted", set()),
        ("account_manager", "draft", {"submit"}),
        ("account_manager", "rejected", {"redraft"}),
        ("account_manager", "approved", set()),
        ("sales_director", "draft", {"submit", "terminate"}),
        ("sales_director", "approved", {"sign", "terminate"}),
        ("sales_director", "signed", {"archive", "terminate"}),
        ("admin", "archived", set()),
        ("admin", "terminated", set()),
        ("executive", "submitted", {"approve", "reject", "terminate"}),
        ("executive", "draft", {"terminate"}),
        ("clerk", "draft", set()),
        ("finance", "submitted", set()),
    ],
)
def test_details_page_shows_the_usable_buttons(en_client, db_session, username, state, expected):
    contract = new_contract(db_session, state)
    page = en_client(username).get(f"/admin/contract/details/?id={contract.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert wf_buttons(text) == expected
    assert f'id="workflow-state">{CONTRACT.states[state]._args[0]}<' in text


def test_details_page_hides_approve_from_the_submitter(en_client, db_session):
    contract = new_contract(db_session, "submitted", submitter="sales_director")
    page = en_client("sales_director").get(f"/admin/contract/details/?id={contract.id}").get_data(as_text=True)
    assert wf_buttons(page) == {"terminate"}


def test_details_button_leads_to_confirmation_and_back(en_client, db_session):
    contract = new_contract(db_session, "submitted")
    director = en_client("sales_director")
    details_url = f"/admin/contract/details/?id={contract.id}"
    page = director.get(details_url).get_data(as_text=True)
    href = html.unescape(re.search(r'id="wf-approve" href="([^"]+)"', page).group(1))
    confirm = director.get(href)
    assert confirm.status_code == 200
    form = confirm.get_data(as_text=True)
    assert str(contract) in form and 'id="transition-submit"' in form
    back = html.unescape(re.search(r'name="url" value="([^"]*)"', form).group(1))
    assert back == details_url
    done = director.post(href, data={"action": "approve", "ids": str(contract.id), "comment": "按钮审批", "url": back})
    assert done.status_code == 302 and done.headers["Location"].endswith(details_url)
    contract = reload(db_session, contract)
    assert (contract.status, contract.approval_comment) == ("approved", "按钮审批")
    after = director.get(details_url).get_data(as_text=True)
    assert wf_buttons(after) == {"sign", "terminate"}
    assert "按钮审批" in after  # the history shows the comment


def test_transition_page_needs_a_known_action_and_records(en_client, db_session):
    contract = new_contract(db_session, "submitted")
    director = en_client("sales_director")
    for url in (
        f"/admin/contract/transition/?action=frobnicate&ids={contract.id}",
        "/admin/contract/transition/?action=approve&ids=",
        "/admin/contract/transition/?action=approve&ids=999999",
    ):
        response = director.get(url)
        assert response.status_code == 302
        assert ("error", "Choose at least one record and an action.") in session_flashes(director)
    assert reload(db_session, contract).status == "submitted"


# ------------------------------------------------------------------------ read-only records
LOCKED = ["submitted", "approved", "signed", "archived", "terminated"]


@pytest.mark.parametrize("state", LOCKED)
def test_locked_contract_edit_redirects_to_details(en_client, db_session, state):
    contract = new_contract(db_session, state)
    before = snapshot(reload(db_session, contract))
    for username in ("account_manager", "sales_director", "admin"):
        test_client = en_client(username)
        response = test_client.get(f"/admin/contract/edit/?id={contract.id}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/admin/contract/details/?id={contract.id}")
        label = CONTRACT.states[state]._args[0]  # the page is in English (en_client)
        assert ("error", f"{contract.name} is {label}: it can no longer be changed or deleted.") in session_flashes(
            test_client
        )
        posted = test_client.post(
            f"/admin/contract/edit/?id={contract.id}",
            data={
                "client": str(contract.client_id),
                "type": str(contract.type_id),
                "number": contract.number,
                "name": "改过的名字",
                "starts_on": "2026-01-01",
                "ends_on": "2026-12-31",
                "amount": "1.00",
                "owner": str(contract.owner_id),
                "version": str(before["version"]),
            },
        )
        assert posted.status_code == 302 and "/details/" in posted.headers["Location"]
    assert snapshot(reload(db_session, contract)) == before
    assert audit_entries(db_session, contract, "update") == []


@pytest.mark.parametrize("state", ["draft", "rejected"])
def test_unlocked_contract_edit_form_opens(en_client, db_session, state):
    contract = new_contract(db_session, state)
    response = en_client("account_manager").get(f"/admin/contract/edit/?id={contract.id}")
    assert response.status_code == 200 and 'name="name"' in response.get_data(as_text=True)


@pytest.mark.parametrize("state", LOCKED)
def test_locked_contract_cannot_be_deleted(en_client, db_session, state):
    contract = new_contract(db_session, state)
    admin = en_client("admin")
    response = admin.post("/admin/contract/delete/", data={"id": str(contract.id)})
    assert response.status_code == 302
    assert any(c == "error" and "can no longer be changed or deleted" in m for c, m in session_flashes(admin))
    assert not reload(db_session, contract).is_deleted
    admin.post("/admin/contract/action/", data={"action": "delete", "rowid": [str(contract.id)]})
    assert not reload(db_session, contract).is_deleted


def test_draft_contract_can_still_be_deleted(en_client, db_session):
    contract = new_contract(db_session, "draft")
    assert en_client("admin").post("/admin/contract/delete/", data={"id": str(contract.id)}).status_code == 302
    assert reload(db_session, contract).is_deleted
