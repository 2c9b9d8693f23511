"""Service tickets (SPEC §4.6, workflow §5.4, §6): every step allowed and refused — wrong
state, missing values, wrong right, an assignee outside the actor's scope —, the assignee
taking steps without ``service.edit``, bulk assign and archive with refused counts, the
archived ticket read-only, every step in the history, the tickets on the client's page and
the prefilled create, the rights matrix row (and ``flask seed`` on an upgraded database),
and the list's SQL statements independent of the number of tickets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.audit import AuditLog
from models.auth import Right, Role
from models.service import ServiceTicket
from models.workflow import WorkflowError, perform
from tests.conftest import ROLES, count_queries, flashes, transition
from tests.factories import make_client, person, post_ticket, service_desk, ticket, user

#: SPEC §6, row "service tickets" (A: service.assign)
SERVICE_ROW = {
    "admin": "VCEDXA",
    "executive": "VX",
    "sales_director": "V",
    "account_manager": "VC",
    "clerk": "VC",
    "finance": "",
    "service": "VCEXA",
    "marketing": "",
}
CODES = {"V": "view", "C": "create", "E": "edit", "D": "delete", "X": "export", "A": "assign"}


# ------------------------------------------------------------------------------ builders
def to_state(session, record, state, agent):
    """Take the steps that bring a new ticket to ``state``, as the admin and ``agent``."""
    admin = user(session, "admin")
    if state == "created":
        session.commit()
        return record
    perform(record, "assign", admin, assignee=agent)
    if state == "waiting":
        perform(record, "wait", agent, "请提供型号")
    if state in ("handled", "archived"):
        perform(record, "handle", agent, handling="远程重置网络", result="已恢复")
    if state == "archived":
        perform(record, "archive", admin, satisfaction=5)
    session.commit()
    return record


def refusal(record, action, actor, comment=None, **values) -> str:
    with pytest.raises(WorkflowError) as caught:
        perform(record, action, actor, comment, **values)
    return str(caught.value)


# ----------------------------------------------------------------------- the steps
def test_every_step_in_order_writes_its_fields_and_history(db_session):
    s = db_session
    lead, agent, _ = service_desk(s)
    record = ticket(s)
    s.commit()
    assert perform(record, "assign", lead, assignee=agent) == "assigned"
    assert record.assigned_to_id == agent.id and record.assigned_at is not None
    assert record.first_response_at is None
    assert perform(record, "respond", agent, "已电话联系客户") == "assigned"
    first = record.first_response_at
    assert first is not None
    assert perform(record, "respond", agent, "再次联系") == "assigned" and record.first_response_at == first
    assert perform(record, "wait", agent, "请客户提供打印机型号") == "waiting"
    assert perform(record, "resume", agent) == "assigned"
    assert perform(record, "handle", agent, handling="远程重置网络", result="已恢复") == "handled"
    assert (record.handling, record.result, record.handled_by_id) == ("远程重置网络", "已恢复", agent.id)
    assert record.handled_at is not None and record.first_response_at == first
    assert perform(record, "archive", lead, "很满意", satisfaction="4") == "archived"
    assert (record.satisfaction, record.feedback_comment) == (4, "很满意") and record.feedback_at is not None
    assert perform(record, "reopen", lead, "客户反映问题复发") == "assigned"
    assert (record.reopen_count, record.reopen_reason) == (1, "客户反映问题复发")
    perform(record, "handle", agent, handling="更换网卡", result="已解决")
    perform(record, "reopen", lead, "又坏了")
    assert record.reopen_count == 2
    s.commit()
    entries = s.execute(
        select(AuditLog.action, AuditLog.comment)
        .where(AuditLog.table_name == "cst_service", AuditLog.record_id == record.id)
        .order_by(AuditLog.id)
    ).all()
    assert [a for a, _ in entries] == [
        "create",
        "assign",
        "respond",
        "respond",  # nothing changed: in the history all the same
        "wait",
        "resume",
        "handle",
        "archive",
        "reopen",
        "handle",
        "reopen",
    ]
    assert ("respond", "再次联系") in entries and ("wait", "请客户提供打印机型号") in entries


def test_handle_sets_the_first_response_when_nobody_responded(db_session):
    s = db_session
    _, agent, _ = service_desk(s)
    record = to_state(s, ticket(s), "assigned", agent)
    perform(record, "handle", agent, handling="上门维修", result="已修复")
    assert record.first_response_at == record.handled_at


@pytest.mark.parametrize(
    ("state", "action", "values"),
    [
        ("created", "handle", {"handling": "x", "result": "y"}),
        ("created", "respond", {"comment": "x"}),
        ("created", "archive", {"satisfaction": 5}),
        ("created", "reopen", {"comment": "x"}),
        ("assigned", "resume", {}),
        ("assigned", "archive", {"satisfaction": 5}),
        ("waiting", "wait", {"comment": "x"}),
        ("handled", "assign", {}),
        ("handled", "handle", {"handling": "x", "result": "y"}),
        ("archived", "archive", {"satisfaction": 5}),
        ("archived", "respond", {"comment": "x"}),
    ],
)
def test_a_step_in_the_wrong_state_is_refused_naming_the_ticket_and_state(db_session, state, action, values):
    s = db_session
    _, agent, _ = service_desk(s)
    record = to_state(s, ticket(s, title=f"状态{state}{action}"), state, agent)
    comment = values.pop("comment", None)
    message = refusal(record, action, user(s, "admin"), comment, assignee=agent, **values)
    assert f"#{record.id} 状态{state}{action}" in message
    labels = {"created": "Created", "assigned": "Assigned", "waiting": "Waiting for customer"}
    labels |= {"handled": "Handled", "archived": "Archived"}
    assert f"is {labels[state]}: cannot" in message
    s.rollback()
    assert s.get(ServiceTicket, record.id).status == state


def test_missing_or_bad_values_are_refused(db_session):
    s = db_session
    lead, agent, _ = service_desk(s)
    record = to_state(s, ticket(s), "assigned", agent)
    assert "enter Result" in refusal(record, "handle", agent, handling="远程重置", result=" ")
    assert "enter Service handling" in refusal(record, "handle", agent, result="已恢复")
    assert "needs a comment" in refusal(record, "respond", agent, "  ")
    assert "needs a comment" in refusal(record, "wait", agent)
    s.rollback()
    record = to_state(s, ticket(s), "handled", agent)
    for bad in (None, "", "0", "6", "x", 9):
        message = refusal(record, "archive", lead, satisfaction=bad)
        assert "Satisfaction" in message, bad
    assert "needs a comment" in refusal(record, "reopen", lead)
    s.rollback()
    assert s.get(ServiceTicket, record.id).status == "handled"


def test_wrong_right_is_refused_and_the_assignee_needs_no_edit_right(db_session):
    s = db_session
    lead, agent, _ = service_desk(s)
    record = ticket(s)
    s.commit()
    clerk = user(s, "clerk")  # service VC: may raise tickets, not assign or handle them
    assert "lack the right to Assign" in refusal(record, "assign", clerk, assignee=agent)
    # someone holding only service.view, assigned by hand: takes the assignee's steps
    helper = user(s, person(s, "service.view", scope="own"))
    bystander = user(s, person(s, "service.view", scope="own"))
    record.assigned_to_id, record.status = helper.id, "assigned"
    s.commit()
    assert "lack the right to Respond" in refusal(record, "respond", bystander, "x")
    assert "lack the right to Handle" in refusal(record, "handle", clerk, handling="x", result="y")
    assert perform(record, "respond", helper, "收到") == "assigned"
    assert perform(record, "wait", helper, "请客户确认") == "waiting"
    assert perform(record, "resume", helper) == "assigned"
    assert perform(record, "handle", helper, handling="x", result="y") == "handled"
    assert "lack the right to Feedback & archive" in refusal(record, "archive", helper, satisfaction=5)
    assert "lack the right to Reopen" in refusal(record, "reopen", helper, "x")


def test_assign_offers_only_active_service_users_in_scope(db_session):
    s = db_session
    lead, agent, far = service_desk(s)
    record = ticket(s)
    s.commit()
    message = refusal(record, "assign", lead, assignee=far)
    assert "二部客服 is not an active service user within your scope" in message
    assert "is not an active service user" in refusal(record, "assign", lead, assignee=user(s, "account_manager"))
    agent.is_active = False
    s.flush()
    assert "客服小王 is not an active service user" in refusal(record, "assign", lead, assignee=agent)
    agent.is_active = True
    s.commit()
    assert "choose the person to assign it to" in refusal(record, "assign", lead)  # auto_assignee: by hand
    assert perform(record, "assign", user(s, "admin"), assignee=far) == "assigned"  # scope all
    assert perform(record, "assign", lead, assignee=agent) == "assigned" and record.assigned_to_id == agent.id


def test_assign_page_lists_the_service_users_of_the_scope(en_client, db_session):
    s = db_session
    lead, agent, far = service_desk(s)
    record = ticket(s, creator=lead)
    s.commit()
    page = en_client("service").get(f"/admin/service/transition/?action=assign&ids={record.id}").get_data(True)
    assert "客服小王" in page and "二部客服" not in page and "测试account_manager" not in page
    posted = transition(en_client("service"), "service", "assign", record, assignee=str(far.id))
    assert "二部客服 is not an active service user within your scope" in flashes(posted)
    posted = transition(en_client("service"), "service", "assign", record, assignee=str(agent.id))
    assert "1 done" in flashes(posted)
    s.expire_all()
    assert s.get(ServiceTicket, record.id).assigned_to_id == agent.id


def test_handle_and_archive_through_the_pages(en_client, db_session):
    s = db_session
    lead, agent, _ = service_desk(s)
    record = to_state(s, ticket(s, creator=lead), "assigned", agent)
    web = en_client("agent")
    page = web.get(f"/admin/service/transition/?action=handle&ids={record.id}").get_data(True)
    assert 'name="handling"' in page and 'name="result"' in page
    missing = transition(web, "service", "handle", record, handling="重置")
    assert "enter Result" in flashes(missing) and "0 done, 1 refused" in flashes(missing)
    done = transition(web, "service", "handle", record, handling="重置", result="好了")
    assert "Handle: 1 done." in flashes(done)
    archive = transition(en_client("service"), "service", "archive", record, comment="满意", satisfaction="5")
    assert archive.status_code == 200
    s.expire_all()
    fresh = s.get(ServiceTicket, record.id)
    assert (fresh.status, fresh.handling, fresh.result, fresh.satisfaction) == ("archived", "重置", "好了", 5)


# --------------------------------------------------------------------------- bulk
def test_bulk_assign_and_archive_count_the_refused(en_client, db_session):
    s = db_session
    lead, agent, _ = service_desk(s)
    new = [ticket(s, creator=lead, title=f"批量{n}") for n in range(3)]
    handled = to_state(s, ticket(s, creator=lead, title="已处理"), "handled", agent)
    s.commit()
    web = en_client("service")
    response = transition(web, "service", "assign", [*new, handled], assignee=str(agent.id))
    text = flashes(response)
    assert "Assign to…: 3 done, 1 refused." in text and f"#{handled.id} 已处理 is Handled" in text
    s.expire_all()
    assert [s.get(ServiceTicket, t.id).status for t in new] == ["assigned"] * 3
    for record in new[:2]:
        perform(s.get(ServiceTicket, record.id), "handle", agent, handling="处理", result="完成")
    s.commit()
    response = transition(web, "service", "archive", [*new, handled], satisfaction="3")
    assert "Feedback & archive: 3 done, 1 refused." in flashes(response)
    s.expire_all()
    assert [s.get(ServiceTicket, t.id).status for t in (*new, handled)] == ["archived", "archived", "assigned"] + [
        "archived"
    ]
    assert {s.get(ServiceTicket, t.id).satisfaction for t in (*new[:2], handled)} == {3}
    missing = transition(web, "service", "archive", [new[2]])
    assert "1 refused" in flashes(missing)


# ------------------------------------------------------------------ locked, history
def test_an_archived_ticket_is_read_only(en_client, db_session):
    s = db_session
    _, agent, _ = service_desk(s)
    record = to_state(s, ticket(s), "archived", agent)
    web = en_client("admin")
    edit = web.get(f"/admin/service/edit/?id={record.id}", follow_redirects=True)
    assert "it can no longer be changed or deleted" in flashes(edit)
    posted = web.post(f"/admin/service/edit/?id={record.id}", data={"title": "改了"}, follow_redirects=True)
    assert "it can no longer be changed or deleted" in flashes(posted)
    web.post("/admin/service/delete/", data={"id": str(record.id)}, follow_redirects=True)
    s.expire_all()
    fresh = s.get(ServiceTicket, record.id)
    assert fresh is not None and fresh.title == "打印机无法连接"
    details = web.get(f"/admin/service/details/?id={record.id}").get_data(True)
    assert 'id="wf-reopen"' in details and 'id="wf-handle"' not in details


def test_the_details_page_shows_the_steps_in_the_history(en_client, db_session):
    s = db_session
    _, agent, _ = service_desk(s)
    record = to_state(s, ticket(s), "waiting", agent)
    page = en_client("admin").get(f"/admin/service/details/?id={record.id}").get_data(True)
    history = page[page.index('id="history"') :]
    assert "Assign to…" in history and "Wait for customer" in history and "请提供型号" in history
    assert 'id="wf-resume"' in page and 'id="wf-handle"' in page and 'id="wf-wait"' not in page


# -------------------------------------------------------------------- client page
def test_the_client_page_lists_its_tickets_and_creates_one_prefilled(en_client, db_session):
    s = db_session
    client = make_client(s, "clerk", name="服务页客户有限公司")
    record = ticket(s, client=client, title="发票寄错地址")
    other = ticket(s, title="别家的工单")
    s.commit()
    web = en_client("clerk")
    page = web.get(f"/admin/client/details/?id={client.id}").get_data(True)
    tickets = page[page.index('id="tickets"') :]
    assert f"/admin/service/details/?id={record.id}" in tickets and "发票寄错地址" in tickets
    assert "别家的工单" not in tickets and f"id={other.id}" not in tickets
    assert f"/admin/service/new/?client_id={client.id}" in tickets
    form = web.get(f"/admin/service/new/?client_id={client.id}").get_data(True)
    assert f'name="client" type="hidden" value="{client.id}"' in form
    assert f'data-json="[{client.id}, ' in form
    created = post_ticket(web, s, client, "投诉送货延误", "投诉", "high", "客户投诉：货物晚到三天")
    assert created.status_code == 302, flashes(created)
    made = s.execute(select(ServiceTicket).where(ServiceTicket.title == "投诉送货延误")).scalar_one()
    assert (made.client_id, made.created_by_id, made.status, made.priority) == (
        client.id,
        user(s, "clerk").id,
        "created",
        "high",
    )
    # a role without service.view sees no ticket table; one without create no "+" link
    assert 'id="tickets"' not in en_client("finance").get(f"/admin/client/details/?id={client.id}").get_data(True)
    director = en_client("sales_director").get(f"/admin/client/details/?id={client.id}").get_data(True)
    assert 'id="tickets"' in director and 'id="new-ticket"' not in director


# ----------------------------------------------------------------------- the list
def test_overdue_tickets_are_highlighted_and_filtered(en_client, db_session):
    from datetime import timedelta

    from models.base import utcnow

    s = db_session
    _, agent, _ = service_desk(s)
    late = ticket(s, title="超时工单")
    late.due_at = utcnow() - timedelta(hours=2)
    early = ticket(s, title="未超时工单")
    early.due_at = utcnow() + timedelta(hours=2)
    done = to_state(s, ticket(s, title="已处理超时"), "handled", agent)
    done.due_at = utcnow() - timedelta(hours=2)
    s.commit()
    web = en_client("admin")
    page = web.get("/admin/service/").get_data(True)
    assert page.count("crm-overdue") == 1
    listed = web.get("/admin/service/?flt0_overdue_equals=1").get_data(True)
    assert "超时工单" in listed and "未超时工单" not in listed and "已处理超时" not in listed
    not_handled = web.get("/admin/service/?flt0_status_not_equal=handled").get_data(True)
    assert "超时工单" in not_handled and "已处理超时" not in not_handled


def test_list_statements_do_not_grow_with_the_tickets(app, client_as, db_session):
    s = db_session
    _, agent, _ = service_desk(s)
    for n in range(5):
        to_state(s, ticket(s, title=f"计数{n}"), "assigned", agent)
    s.commit()
    web = client_as("admin")
    web.get("/admin/service/")
    web.get("/admin/service/?page_size=100")
    with count_queries(app) as few:
        assert web.get("/admin/service/?page_size=100").get_data(True).count('name="rowid"') == 5
    for n in range(20):
        to_state(s, ticket(s, title=f"更多{n}", creator="account_manager"), "assigned" if n % 2 else "created", agent)
    s.commit()
    with count_queries(app) as many:
        page = web.get("/admin/service/?page_size=100")
    assert page.status_code == 200 and page.get_data(True).count('name="rowid"') == 25
    assert len(many) == len(few)


# --------------------------------------------------------------------- the rights
@pytest.mark.parametrize("role", ROLES)
def test_the_rights_matrix_row(client_as, db_session, role):
    s = db_session
    codes = {
        r.code
        for r in s.execute(select(Role).where(Role.code == role)).scalar_one().rights
        if r.code.startswith("service.")
    }
    assert codes == {f"service.{CODES[letter]}" for letter in SERVICE_ROW[role]}
    letters = SERVICE_ROW[role]
    record = ticket(s, client=make_client(s, role if role != "finance" else "admin"), creator="admin")
    s.commit()
    web = client_as(role)
    assert web.get("/admin/service/").status_code == (200 if "V" in letters else 403)
    assert web.get("/admin/service/new/").status_code == (200 if "C" in letters else 403)
    assert web.get(f"/admin/service/edit/?id={record.id}").status_code == (200 if "E" in letters else 403)
    assert web.get("/admin/service/export/csv/").status_code == (200 if "X" in letters else 403)


def test_flask_seed_grants_the_service_rights_on_an_upgraded_database(db_session):
    from seed import seed_reference

    s = db_session
    s.execute(Right.__table__.delete().where(Right.code.in_(["services", "service"]) | Right.code.like("service.%")))
    s.commit()
    s.expire_all()
    assert not any(r.code.startswith("service.") for r in user(s, "service").role.rights)
    made = seed_reference()
    assert made["rights"] == 8  # the module, the menu, its five operations and service.assign
    s.commit()
    s.expire_all()
    for role, letters in SERVICE_ROW.items():
        rights = s.execute(select(Role).where(Role.code == role)).scalar_one().rights
        assert {r.code for r in rights if r.code.startswith("service.")} == {
            f"service.{CODES[letter]}" for letter in letters
        }, role
    assert seed_reference()["rights"] == 0
