"""Churn warnings (SPEC §4.3 client_loss, §5 churn workflow, §6): detection and its date
boundary, idempotence, confirmed losses, the detect-churn command, add measure / confirm
loss through the view, read-only confirmed losses, data scope through the client, the
client list's churn status filter and the delete guard naming orders."""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models.churn import ClientLoss, detect_churn
from models.clock import today as _local_today
from models.customers import Client
from models.orders import Order
from models.workflow import WorkflowError, perform
from tests.conftest import count_queries, flashes, transition
from tests.factories import make_client, user

TODAY = date(2026, 6, 30)
DAYS = 180
SHANGHAI = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


# ------------------------------------------------------------------------------ builders
def make_order(session, client, ordered_on, status="pending", deleted=False) -> Order:
    order = Order(client=client, owner=client.owner, ordered_on=ordered_on, status=status)
    session.add(order)
    session.flush()
    if deleted:
        order.soft_delete(None)
        session.flush()
    return order


def created_on(session, client, day: date) -> None:
    """The client was created at noon (local time) on ``day``."""
    client.created_at = datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)
    session.flush()


def silent_client(session, owner="account_manager", name=None, days_ago=DAYS + 30) -> Client:
    """A client whose last order lies ``days_ago`` days before TODAY."""
    client = make_client(session, owner, name=name)
    created_on(session, client, TODAY - timedelta(days=days_ago + 10))
    make_order(session, client, TODAY - timedelta(days=days_ago))
    return client


def warnings_of(session, client) -> list[ClientLoss]:
    return list(
        session.execute(select(ClientLoss).where(ClientLoss.client_id == client.id).order_by(ClientLoss.id)).scalars()
    )


def switch_to_english(client):
    """Pages (and flashed messages) in English from now on: domain messages are asserted in English."""
    client.get("/admin/?lang=en")
    return client


def listed_clients(response) -> set[str]:
    page = response.get_data(as_text=True)
    body = page[page.index('class="table table-striped table-bordered table-hover model-list') :]
    return set(re.findall(r"[^<>\s]+公司", body[: body.index("</table>")]))


# ------------------------------------------------------------------------------ detection
def test_detection_is_idempotent(db_session):
    a, b = silent_client(db_session), silent_client(db_session, "am_other")
    db_session.commit()
    assert detect_churn(TODAY, DAYS) == 2
    db_session.commit()
    assert detect_churn(TODAY, DAYS) == 0
    assert detect_churn(TODAY + timedelta(days=30), DAYS) == 0  # still open: nothing new later either
    db_session.commit()
    rows = db_session.execute(select(ClientLoss).order_by(ClientLoss.client_id)).scalars().all()
    assert [(r.client_id, r.owner_id, r.status, r.detected_on) for r in rows] == [
        (a.id, a.owner_id, "warning", TODAY),
        (b.id, b.owner_id, "warning", TODAY),
    ]
    assert rows[0].last_order_on == TODAY - timedelta(days=DAYS + 30)


def test_date_boundary_and_which_orders_count(db_session):
    s = db_session
    exactly = make_client(s, "account_manager", name="整180天公司")
    created_on(s, exactly, TODAY - timedelta(days=400))
    make_order(s, exactly, TODAY - timedelta(days=DAYS))
    one_less = make_client(s, "account_manager", name="差一天公司")
    created_on(s, one_less, TODAY - timedelta(days=400))
    make_order(s, one_less, TODAY - timedelta(days=DAYS - 1))
    cancelled = make_client(s, "account_manager", name="取消单公司")  # a recent cancelled order does not count
    created_on(s, cancelled, TODAY - timedelta(days=400))
    make_order(s, cancelled, TODAY - timedelta(days=300))
    make_order(s, cancelled, TODAY - timedelta(days=5), status="cancelled")
    deleted = make_client(s, "account_manager", name="删除单公司")  # nor does a soft-deleted one
    created_on(s, deleted, TODAY - timedelta(days=400))
    make_order(s, deleted, TODAY - timedelta(days=250))
    make_order(s, deleted, TODAY - timedelta(days=5), deleted=True)
    shipped = make_client(s, "account_manager", name="近期发货公司")  # shipped and completed orders count
    created_on(s, shipped, TODAY - timedelta(days=400))
    make_order(s, shipped, TODAY - timedelta(days=300))
    make_order(s, shipped, TODAY - timedelta(days=20), status="completed")
    old_new = make_client(s, "account_manager", name="老新客户公司")  # no orders: the creation date counts
    created_on(s, old_new, TODAY - timedelta(days=DAYS))
    young = make_client(s, "account_manager", name="新客户公司")
    created_on(s, young, TODAY - timedelta(days=DAYS - 1))
    gone = make_client(s, "account_manager", name="已删除客户公司")  # deleted clients are not warned about
    created_on(s, gone, TODAY - timedelta(days=400))
    gone.soft_delete(None)
    s.commit()
    assert detect_churn(TODAY, DAYS) == 4
    s.commit()
    found = {r.client.name: r.last_order_on for r in s.execute(select(ClientLoss)).scalars()}
    assert found == {
        "整180天公司": TODAY - timedelta(days=DAYS),
        "取消单公司": TODAY - timedelta(days=300),
        "删除单公司": TODAY - timedelta(days=250),
        "老新客户公司": None,
    }


def test_confirmed_loss_warns_again_only_after_a_newer_order(db_session):
    s = db_session
    client = silent_client(s)
    s.commit()
    assert detect_churn(TODAY, DAYS) == 1
    warning = warnings_of(s, client)[0]
    perform(warning, "confirm", user(s, "sales_director"), "转投竞争对手")
    s.commit()
    assert detect_churn(TODAY + timedelta(days=400), DAYS) == 0  # confirmed, no newer order: stays settled
    newer = TODAY + timedelta(days=30)
    make_order(s, client, newer)
    s.commit()
    assert detect_churn(newer + timedelta(days=DAYS - 1), DAYS) == 0  # not silent long enough yet
    assert detect_churn(newer + timedelta(days=DAYS), DAYS) == 1  # silent again after the newer order
    s.commit()
    rows = warnings_of(s, client)
    assert [(r.status, r.last_order_on) for r in rows] == [
        ("confirmed", TODAY - timedelta(days=DAYS + 30)),
        ("warning", newer),
    ]


@pytest.mark.parametrize("open_status", ["warning", "delayed"])
def test_open_warning_blocks_a_new_one(db_session, open_status):
    client = silent_client(db_session)
    db_session.add(
        ClientLoss(client=client, owner_id=client.owner_id, detected_on=TODAY - timedelta(days=60), status=open_status)
    )
    db_session.commit()
    assert detect_churn(TODAY, DAYS) == 0
    assert len(warnings_of(db_session, client)) == 1


def test_default_days_come_from_the_churn_days_setting(db_session):
    from models.auth import SystemConfig

    client = silent_client(db_session, days_ago=40)
    setting = db_session.execute(select(SystemConfig).where(SystemConfig.name == "churn_days")).scalar_one()
    setting.value = "41"
    db_session.commit()
    assert detect_churn(TODAY) == 0
    setting.value = "40"
    db_session.commit()
    assert detect_churn(TODAY) == 1
    assert warnings_of(db_session, client)[0].detected_on == TODAY


# ------------------------------------------------------------------------------------ CLI
def test_detect_churn_command_reports_per_department_and_is_idempotent(app, db_session):
    silent_client(db_session, "account_manager")
    silent_client(db_session, "am_team")
    silent_client(db_session, "am_other")
    recent = make_client(db_session, "am_other")
    make_order(db_session, recent, TODAY - timedelta(days=3))
    db_session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["detect-churn", "--today", TODAY.isoformat(), "--days", str(DAYS)])
    assert first.exit_code == 0, first.output
    assert "Created 3 churn warning(s)" in first.output
    assert "销售一部: 2" in first.output and "销售二部: 1" in first.output
    again = runner.invoke(args=["detect-churn", "--today", TODAY.isoformat(), "--days", str(DAYS)])
    assert again.exit_code == 0 and "Created 0 churn warning(s)" in again.output
    assert "销售一部" not in again.output
    db_session.expire_all()
    assert db_session.execute(select(func.count()).select_from(ClientLoss)).scalar() == 3
    assert {r.detected_on for r in db_session.execute(select(ClientLoss)).scalars()} == {TODAY}


def test_detect_churn_command_limits_to_a_department_and_refuses_bad_input(app, db_session):
    mine = silent_client(db_session, "account_manager")
    other = silent_client(db_session, "am_other")
    db_session.commit()
    runner = app.test_cli_runner()
    bad_day = runner.invoke(args=["detect-churn", "--today", "2026-13-01"])
    assert bad_day.exit_code == 2 and "--today" in bad_day.output
    assert runner.invoke(args=["detect-churn", "--days", "0"]).exit_code == 2
    unknown = runner.invoke(args=["detect-churn", "--department", "火星部"])
    assert unknown.exit_code == 1 and "unknown department" in unknown.output
    help_text = runner.invoke(args=["detect-churn", "--help"]).output
    assert "--days" in help_text and "--today" in help_text and "--department" in help_text
    limited = runner.invoke(args=["detect-churn", "--today", TODAY.isoformat(), "--department", "销售二部"])
    assert limited.exit_code == 0 and "Created 1 churn warning(s)" in limited.output
    db_session.expire_all()
    assert len(warnings_of(db_session, other)) == 1 and warnings_of(db_session, mine) == []
    # default days (churn_days = 180) and today: the client silent for 210 days is found
    everyone = runner.invoke(args=["detect-churn"])
    assert everyone.exit_code == 0 and "Created 1 churn warning(s)" in everyone.output


# ----------------------------------------------------------------------- view: workflow
def _warning(session, owner="account_manager", name=None) -> ClientLoss:
    client = silent_client(session, owner, name=name)
    loss = ClientLoss(
        client=client, owner_id=client.owner_id, detected_on=TODAY, last_order_on=TODAY - timedelta(days=DAYS + 30)
    )
    session.add(loss)
    session.commit()
    return loss


def test_add_measure_appends_a_signed_dated_line_and_delays(client_as, db_session):
    loss = _warning(db_session)
    manager = switch_to_english(client_as("account_manager"))
    assert 'id="wf-add_measure"' in manager.get(f"/admin/churn/details/?id={loss.id}").get_data(as_text=True)
    refused = transition(manager, "churn", "add_measure", loss, "")
    assert "Add measure" in flashes(refused) and "comment" in flashes(refused)
    db_session.expire_all()
    assert db_session.get(ClientLoss, loss.id).status == "warning"
    transition(manager, "churn", "add_measure", loss, "电话回访，答应下月续订")
    transition(manager, "churn", "add_measure", loss, "赠送一次免费培训")
    db_session.expire_all()
    loss = db_session.get(ClientLoss, loss.id)
    day = _local_today().isoformat()
    assert loss.status == "delayed"
    assert loss.measures == (
        f"[{day} 测试account_manager] 电话回访，答应下月续订\n[{day} 测试account_manager] 赠送一次免费培训"
    )
    page = manager.get("/admin/churn/").get_data(as_text=True)
    assert "赠送一次免费培训" in page  # the latest measure is listed


def test_confirm_needs_a_reason_and_a_confirmed_loss_is_read_only(client_as, db_session):
    loss = _warning(db_session)
    manager = switch_to_english(client_as("account_manager"))
    refused = transition(manager, "churn", "confirm", loss, "  ")
    assert "comment" in flashes(refused) and "1 refused" in flashes(refused)
    db_session.expire_all()
    assert db_session.get(ClientLoss, loss.id).status == "warning"
    transition(manager, "churn", "confirm", loss, "公司注销")
    db_session.expire_all()
    loss = db_session.get(ClientLoss, loss.id)
    assert (loss.status, loss.reason, loss.confirmed_by.username) == ("confirmed", "公司注销", "account_manager")
    assert loss.confirmed_at is not None
    # read-only: no edit, no further measure, no workflow buttons
    edit = manager.get(f"/admin/churn/edit/?id={loss.id}")
    assert edit.status_code == 302 and "details" in edit.headers["Location"]
    manager.post(
        f"/admin/churn/edit/?id={loss.id}",
        data={"owner": str(user(db_session, "am_team").id), "detected_on": "2020-01-01"},
    )
    refused = transition(manager, "churn", "add_measure", loss, "再试一次")
    assert "1 refused" in flashes(refused)
    db_session.expire_all()
    after = db_session.get(ClientLoss, loss.id)
    assert (after.status, after.measures, after.detected_on, after.owner_id) == (
        "confirmed",
        None,
        TODAY,
        loss.owner_id,
    )
    assert 'id="wf-' not in manager.get(f"/admin/churn/details/?id={loss.id}").get_data(as_text=True)


def test_workflow_rules_hold_outside_the_view(db_session):
    loss = _warning(db_session)
    clerk = user(db_session, "clerk")
    with pytest.raises(WorkflowError):
        perform(loss, "add_measure", clerk, "无权")  # no churn rights
    db_session.rollback()
    with pytest.raises(WorkflowError, match="comment"):
        perform(loss, "confirm", user(db_session, "admin"))


# -------------------------------------------------------------------------- view: scope
def test_account_manager_sees_only_warnings_of_own_clients(client_as, db_session):
    mine = _warning(db_session, "account_manager", name="我的流失公司")
    team = _warning(db_session, "am_team", name="同组流失公司")
    other = _warning(db_session, "am_other", name="二部流失公司")
    manager = client_as("account_manager")
    assert listed_clients(manager.get("/admin/churn/")) == {"我的流失公司"}
    assert manager.get(f"/admin/churn/details/?id={other.id}").status_code == 404
    assert manager.get(f"/admin/churn/edit/?id={team.id}").status_code == 404
    transition(manager, "churn", "add_measure", other, "越权")  # ids outside the scope are ignored
    db_session.expire_all()
    assert db_session.get(ClientLoss, other.id).measures is None
    assert manager.get(f"/admin/churn/details/?id={mine.id}").status_code == 200
    assert listed_clients(client_as("sales_director").get("/admin/churn/")) == {"我的流失公司", "同组流失公司"}
    assert listed_clients(client_as("admin").get("/admin/churn/")) == {"我的流失公司", "同组流失公司", "二部流失公司"}
    assert client_as("clerk").get("/admin/churn/").status_code == 403  # no churn rights


def test_list_filters_search_and_constant_queries(app, client_as, db_session):
    a = _warning(db_session, "account_manager", name="甲流失公司")
    b = _warning(db_session, "am_other", name="乙流失公司")
    perform(b, "add_measure", user(db_session, "admin"), "回访")
    db_session.commit()
    admin = client_as("admin")
    page = admin.get("/admin/churn/").get_data(as_text=True)
    for arg in (
        "flt_status_equals",
        "flt_account_manager_equals",
        "flt_warning_date_between",
        "flt_last_order_between",
        "flt_client_equals",
    ):
        assert f'"arg": "{arg[4:]}"' in page, arg
    assert listed_clients(admin.get("/admin/churn/?flt_status_equals=delayed")) == {"乙流失公司"}
    assert listed_clients(admin.get(f"/admin/churn/?flt_account_manager_equals={a.owner_id}")) == {"甲流失公司"}
    assert listed_clients(admin.get(f"/admin/churn/?flt_client_equals={b.client_id}")) == {"乙流失公司"}
    assert listed_clients(admin.get("/admin/churn/?search=甲流失")) == {"甲流失公司"}
    assert listed_clients(admin.get(f"/admin/churn/?flt_warning_date_between={TODAY}+to+{TODAY}")) == {
        "甲流失公司",
        "乙流失公司",
    }
    assert listed_clients(admin.get("/admin/churn/?flt_warning_date_between=2000-01-01+to+2000-12-31")) == set()
    with count_queries(app) as few:
        admin.get("/admin/churn/")
    for n in range(8):
        _warning(db_session, "am_team" if n % 2 else "am_other")
    with count_queries(app) as many:
        assert admin.get("/admin/churn/").status_code == 200
    assert len(many) == len(few)


def test_hand_made_warning_is_filled_from_the_client_and_not_doubled(client_as, db_session):
    client = silent_client(db_session, "account_manager", name="手工预警公司")
    db_session.commit()
    manager = switch_to_english(client_as("account_manager"))
    created = manager.post("/admin/churn/new/", data={"client": str(client.id)})
    assert created.status_code == 302, flashes(created)
    loss = warnings_of(db_session, client)[0]
    assert (loss.owner_id, loss.status, loss.detected_on, loss.last_order_on) == (
        client.owner_id,
        "warning",
        _local_today(),
        TODAY - timedelta(days=DAYS + 30),
    )
    again = manager.post("/admin/churn/new/", data={"client": str(client.id)})
    assert again.status_code == 200 and "already has an open churn warning" in flashes(again)
    db_session.expire_all()
    assert len(warnings_of(db_session, client)) == 1
    other = silent_client(db_session, "am_other")
    db_session.commit()
    manager.post("/admin/churn/new/", data={"client": str(other.id)})  # out of scope: not offered
    assert warnings_of(db_session, other) == []


# -------------------------------------------------------------------- client list, delete
def test_client_churn_status_filter(client_as, db_session):
    s = db_session
    warned = _warning(s, name="预警公司")
    delayed = _warning(s, name="暂缓公司")
    perform(delayed, "add_measure", user(s, "admin"), "回访")
    confirmed = _warning(s, name="流失公司")
    perform(confirmed, "confirm", user(s, "admin"), "倒闭")
    make_client(s, "account_manager", name="正常公司")
    s.commit()
    admin = client_as("admin")
    assert '"arg": "churn_status_equals"' in admin.get("/admin/client/").get_data(as_text=True)
    expected = {"warning": {"预警公司"}, "delayed": {"暂缓公司"}, "confirmed": {"流失公司"}, "none": {"正常公司"}}
    for status, names in expected.items():
        assert listed_clients(admin.get(f"/admin/client/?flt_churn_status_equals={status}")) == names, status
    assert listed_clients(admin.get("/admin/client/?flt_churn_status_equals=bogus")) == {
        "预警公司",
        "暂缓公司",
        "流失公司",
        "正常公司",
    }  # an invalid value is ignored
    details = admin.get(f"/admin/client/details/?id={warned.client_id}").get_data(as_text=True)
    assert 'id="churn"' in details and f"/admin/churn/details/?id={warned.id}" in details


def test_client_with_orders_cannot_be_deleted(client_as, db_session):
    s = db_session
    with_order = make_client(s, "sales_director", name="有订单公司")
    order = make_order(s, with_order, TODAY)
    only_deleted = make_client(s, "sales_director", name="订单已删公司")
    make_order(s, only_deleted, TODAY, deleted=True)
    s.commit()
    director = switch_to_english(client_as("sales_director"))
    refused = director.post("/admin/client/delete/", data={"id": str(with_order.id)}, follow_redirects=True)
    message = flashes(refused)
    assert order.number in message and "contracts or orders" in message
    assert director.post("/admin/client/delete/", data={"id": str(only_deleted.id)}).status_code == 302
    s.expire_all()
    assert not s.get(Client, with_order.id).is_deleted
    assert s.get(Client, only_deleted.id).is_deleted


# --------------------------------------------------------------------------------- rights
#: SPEC §6, row "churn"; the confirm right goes with C/E for the sales roles (seed/reference.py)
CHURN_ROW = {
    "admin": "VCEDX",
    "executive": "VX",
    "sales_director": "VCE",
    "account_manager": "VCE",
    "clerk": "",
    "finance": "",
    "service": "",
    "marketing": "",
}


@pytest.mark.parametrize("role", sorted(CHURN_ROW))
def test_churn_rights_follow_the_matrix(client_as, db_session, role):
    loss = _warning(db_session, "account_manager")
    loss_id = loss.id
    letters = CHURN_ROW[role]
    web = client_as(role)
    assert web.get("/admin/churn/").status_code == (200 if "V" in letters else 403)
    assert web.get("/admin/churn/new/").status_code == (200 if "C" in letters else 403)
    assert web.get(f"/admin/churn/edit/?id={loss.id}").status_code == (200 if "E" in letters else 403)
    assert web.get("/admin/churn/export/csv/").status_code == (200 if "X" in letters else 403)
    if "V" in letters:
        details = web.get(f"/admin/churn/details/?id={loss.id}").get_data(as_text=True)
        assert ('id="wf-add_measure"' in details) == ("E" in letters)
        assert ('id="wf-confirm"' in details) == ("E" in letters)  # churn.confirm: the same roles
    gone = web.post("/admin/churn/delete/", data={"id": str(loss.id)})
    assert gone.status_code == (302 if "D" in letters else 403)
    db_session.expunge_all()
    assert (db_session.get(ClientLoss, loss_id) is None) == ("D" in letters)
