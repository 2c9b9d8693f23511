"""Opportunities (SPEC §4.4, workflow §5.3, rights and scope of §6) and development plans:
the form (customer name and success rate filled in by the domain, inline plans added,
changed and removed, no assignee on the form), every transition allowed and refused
(assign to… with its right, the person chosen and the time recorded, close as won / lost,
lost only with a reason, reopen only with ``opportunity.reopen``), read-only archived
opportunities, the buttons of a won opportunity, data scope (lists, counts, details,
edit, export, plans through their opportunity), filters, search, sorting and SQL
statements per list page.

Organisation (tests/conftest.py): 销售部 ⊃ {销售一部, 销售二部}. account_manager, am_team,
sales_director, clerk … in 销售一部, am_other in 销售二部, director_top (sales_director) in
销售部. HTTP clients ask for English so that messages can be asserted literally.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, insert, select

from models.base import utcnow
from models.lookups import ClientSource
from models.opportunities import OPPORTUNITY, DevelopmentPlan, Opportunity
from models.workflow import WorkflowError, is_locked, perform
from tests.conftest import count_queries, field_errors, filter_groups, flashes, module_app, transition
from tests.factories import lookup, make_client, make_opportunity, stage, user

_seq = itertools.count(1)


# ------------------------------------------------------------------------------ helpers
def snapshot(record):
    return {
        key: getattr(record, key)
        for key in (
            "status",
            "outcome",
            "lost_reason",
            "closed_at",
            "assigned_to_id",
            "assigned_at",
            "success_rate",
            "version",
        )
    }


def opportunity_form(session, **overrides):
    data = {
        "source": "",
        "client": "",
        "customer_name": "杭州某某科技有限公司",
        "title": "CRM 系统采购",
        "stage": str(stage(session).id),
        "success_rate": "",
        "expected_amount": "120000.50",
        "expected_close_on": "2026-12-31",
        "linkman": "王经理",
        "tel": "13912345678",
        "competitor": "某软件",
        "description": "客户计划年底前上线 CRM",
    }
    data.update(overrides)
    return data


# ------------------------------------------------------------------------------- the form
def test_create_through_the_form_fills_customer_name_success_rate_and_creator(en_client, db_session):
    client = make_client(db_session, "account_manager", name="上海测试机械有限公司")
    source = lookup(db_session, ClientSource)
    db_session.commit()
    am = en_client("account_manager")
    form = am.get("/admin/opportunity/new/").get_data(as_text=True)
    for absent in ("assigned_to", "created_by", "status", "outcome"):
        assert f'name="{absent}"' not in form  # assignment happens through the assign step
    assert "Left empty, the probability of the sales stage." in form
    response = am.post(
        "/admin/opportunity/new/",
        data=opportunity_form(
            db_session,
            client=str(client.id),
            customer_name="",
            source=str(source.id),
            **{
                "plans-0-planned_on": "2026-11-30",
                "plans-0-todo": "上门演示",
                "plans-0-result": "",
                "plans-0-executed_on": "",
                "plans-1-planned_on": "2026-12-05",
                "plans-1-todo": "提交方案",
                "plans-1-result": "客户认可",
                "plans-1-executed_on": "2026-12-06",
            },
        ),
    )
    assert response.status_code == 302, (flashes(response), field_errors(response))
    opportunity = db_session.execute(select(Opportunity)).scalar_one()
    assert opportunity.customer_name == "上海测试机械有限公司"  # from the client
    assert opportunity.success_rate == 30  # the probability of 需求确认
    assert opportunity.created_by.username == "account_manager"
    assert (opportunity.status, opportunity.assigned_to_id, opportunity.assigned_at) == ("unassigned", None, None)
    assert opportunity.expected_amount == Decimal("120000.50") and opportunity.source_id == source.id
    assert [(p.planned_on, p.todo, p.result, p.executed_on) for p in opportunity.plans] == [
        (date(2026, 11, 30), "上门演示", None, None),
        (date(2026, 12, 5), "提交方案", "客户认可", date(2026, 12, 6)),
    ]
    # a typed success rate and customer name are kept
    response = am.post(
        "/admin/opportunity/new/", data=opportunity_form(db_session, success_rate="65", title="第二个机会")
    )
    assert response.status_code == 302
    second = db_session.execute(select(Opportunity).where(Opportunity.title == "第二个机会")).scalar_one()
    assert (second.success_rate, second.customer_name) == (65, "杭州某某科技有限公司")


def test_client_choice_is_scoped_but_a_colleagues_client_stays_on_edit(en_client, db_session):
    s = db_session
    colleague_client = make_client(s, "am_team", name="同事的客户有限公司")
    opportunity = make_opportunity(s, assigned_to="account_manager", client=colleague_client, customer_name="")
    am = en_client("account_manager")
    found = am.get("/admin/opportunity/ajax/lookup/?name=client&query=同事").get_data(as_text=True)
    assert "同事的客户" not in found  # the look-up offers my clients only
    refused = am.post(
        "/admin/opportunity/new/", data=opportunity_form(s, client=str(colleague_client.id), title="借用同事客户")
    )
    assert refused.status_code == 200 and "Client" in field_errors(refused)
    page = am.get(f"/admin/opportunity/edit/?id={opportunity.id}").get_data(as_text=True)
    version = re.search(r'name="loaded_version" type="hidden" value="(\d+)"', page).group(1)
    response = am.post(
        f"/admin/opportunity/edit/?id={opportunity.id}",
        data=opportunity_form(
            s,
            client=str(colleague_client.id),
            customer_name="",
            title="改了标题",
            success_rate="40",
            loaded_version=version,
        ),
    )
    assert response.status_code == 302, (flashes(response), field_errors(response))
    s.expire_all()
    assert (opportunity.title, opportunity.client_id, opportunity.success_rate) == ("改了标题", colleague_client.id, 40)
    assert opportunity.customer_name == "同事的客户有限公司"
    assert (opportunity.status, opportunity.assigned_to.username) == ("assigned", "account_manager")


def test_a_director_cannot_assign_through_the_form(en_client, db_session):
    other = user(db_session, "am_team")
    db_session.commit()
    director = en_client("sales_director")
    assert 'name="assigned_to"' not in director.get("/admin/opportunity/new/").get_data(as_text=True)
    response = director.post("/admin/opportunity/new/", data=opportunity_form(db_session, assigned_to=str(other.id)))
    assert response.status_code == 302
    opportunity = db_session.execute(select(Opportunity)).scalar_one()
    assert (opportunity.status, opportunity.assigned_to_id) == ("unassigned", None)
    assert opportunity.created_by.username == "sales_director"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"customer_name": "", "client": ""}, "Customer name", "enter the customer's name or choose a client"),
        ({"success_rate": "101"}, "Success rate (%)", "100"),
        ({"expected_amount": "-1.00"}, "Expected amount", "0"),
        ({"expected_amount": "1.001"}, "Expected amount", "2 decimals"),
        ({"tel": "12345"}, "Contact phone", ""),
        ({"stage": ""}, "Sales stage", ""),
    ],
)
def test_bad_input_is_refused_naming_the_field(en_client, db_session, overrides, field, message):
    response = en_client("account_manager").post(
        "/admin/opportunity/new/", data=opportunity_form(db_session, **overrides)
    )
    assert response.status_code == 200
    errors = field_errors(response)
    assert field in errors and message in errors[field], errors  # shown under the field it is about
    assert db_session.execute(select(func.count()).select_from(Opportunity)).scalar() == 0


def test_success_rate_defaults_from_the_stage(db_session):
    for name, probability in (("初步接洽", 10), ("需求确认", 30), ("方案报价", 50), ("谈判审核", 80)):
        assert make_opportunity(db_session, stage_name=name).success_rate == probability
    kept = make_opportunity(db_session, stage_name="初步接洽", success_rate=0)
    assert kept.success_rate == 0  # a typed 0 is a value, not "empty"
    with pytest.raises(ValueError, match="between 0 and 100"):
        make_opportunity(db_session, success_rate=120)


def test_inline_plans_are_added_changed_and_removed_through_the_edit_form(en_client, db_session):
    opportunity = make_opportunity(db_session, created_by="account_manager")
    opportunity.plans = [
        DevelopmentPlan(planned_on=date(2026, 11, 1), todo="电话约访"),
        DevelopmentPlan(planned_on=date(2026, 11, 8), todo="现场调研"),
    ]
    db_session.commit()
    first, second = opportunity.plans
    first_id, second_id = first.id, second.id
    am = en_client("account_manager")
    page = am.get(f"/admin/opportunity/edit/?id={opportunity.id}").get_data(as_text=True)
    assert "电话约访" in page and "现场调研" in page
    version = re.search(r'name="loaded_version" type="hidden" value="(\d+)"', page).group(1)
    data = opportunity_form(
        db_session,
        customer_name=opportunity.customer_name,
        title=opportunity.title,
        success_rate="30",
        loaded_version=version,
        **{
            "plans-0-id": str(first_id),
            "plans-0-planned_on": "2026-11-01",
            "plans-0-todo": "电话约访",
            "plans-0-result": "约到下周拜访",
            "plans-0-executed_on": "2026-11-02",
            "plans-1-id": str(second_id),
            "plans-1-planned_on": "2026-11-08",
            "plans-1-todo": "现场调研",
            "del-plans-1": "y",
            "plans-2-planned_on": "2026-11-20",
            "plans-2-todo": "报价",
            "plans-2-result": "",
            "plans-2-executed_on": "",
        },
    )
    response = am.post(f"/admin/opportunity/edit/?id={opportunity.id}", data=data)
    assert response.status_code == 302, (flashes(response), field_errors(response))
    db_session.expire_all()
    plans = db_session.execute(select(DevelopmentPlan).order_by(DevelopmentPlan.planned_on)).scalars().all()
    assert [(p.id == first_id, p.todo, p.result, p.executed_on) for p in plans] == [
        (True, "电话约访", "约到下周拜访", date(2026, 11, 2)),
        (False, "报价", None, None),
    ]
    assert db_session.get(DevelopmentPlan, second_id) is None
    details = am.get(f"/admin/opportunity/details/?id={opportunity.id}").get_data(as_text=True)
    assert "约到下周拜访" in details and "报价" in details and "现场调研" not in details


def test_a_plan_with_a_result_is_dated_today(db_session):
    opportunity = make_opportunity(db_session)
    opportunity.plans.append(DevelopmentPlan(planned_on=date(2026, 1, 5), todo="拜访", result="签约意向"))
    db_session.commit()
    assert opportunity.plans[0].executed_on is not None


# -------------------------------------------------------------------------- the workflow
def test_workflow_declaration_matches_the_spec():
    expected = {
        "assign": ({"unassigned", "assigned"}, "assign"),
        "win": ({"unassigned", "assigned"}, "edit"),
        "lose": ({"unassigned", "assigned"}, "edit"),
        "reopen": ({"archived"}, "reopen"),
    }
    assert {name: (set(t.sources), t.right) for name, t in OPPORTUNITY.transitions.items()} == expected
    assert {name for name, t in OPPORTUNITY.transitions.items() if t.comment_required} == {"lose"}
    assert OPPORTUNITY.locked == {"archived"}


def test_assign_needs_the_right_a_person_and_records_who_and_when(db_session):
    s = db_session
    opportunity = make_opportunity(s)
    before = snapshot(opportunity)
    with pytest.raises(WorkflowError, match="right"):
        perform(opportunity, "assign", user(s, "account_manager"), assignee=user(s, "account_manager"))
    s.rollback()
    with pytest.raises(WorkflowError, match="choose the person"):
        perform(opportunity, "assign", user(s, "sales_director"))
    s.rollback()
    assert snapshot(opportunity) == before
    start = utcnow()
    assert perform(opportunity, "assign", user(s, "sales_director"), assignee=user(s, "account_manager")) == "assigned"
    s.commit()
    assert opportunity.assigned_to.username == "account_manager"
    assert start - timedelta(seconds=1) <= opportunity.assigned_at <= utcnow()
    # reassigning an assigned opportunity records the new person and time
    first_time = opportunity.assigned_at
    perform(opportunity, "assign", user(s, "admin"), assignee=user(s, "am_team"))
    s.commit()
    assert opportunity.assigned_to.username == "am_team" and opportunity.assigned_at >= first_time
    # a disabled user cannot take it
    team = user(s, "am_team")
    team.is_active = False
    s.commit()
    other = make_opportunity(s)
    with pytest.raises(WorkflowError, match="disabled"):
        perform(other, "assign", user(s, "sales_director"), assignee=team)


@pytest.mark.parametrize("state", ["unassigned", "assigned"])
def test_close_as_won_and_lost_from_open_states(db_session, state):
    s = db_session
    won = make_opportunity(s, assigned_to="account_manager" if state == "assigned" else None)
    lost = make_opportunity(s, assigned_to="account_manager" if state == "assigned" else None)
    assert won.status == state
    am = user(s, "account_manager")
    actor = am if state == "assigned" else user(s, "sales_director")
    assert perform(won, "win", actor) == "archived"
    s.commit()
    assert (won.outcome, won.success_rate, won.lost_reason) == ("won", 100, None) and won.closed_at is not None
    with pytest.raises(WorkflowError, match="needs a comment"):
        perform(lost, "lose", actor)
    s.rollback()
    assert lost.status == state and lost.outcome is None
    assert perform(lost, "lose", actor, "价格太高，客户选择了竞争对手") == "archived"
    s.commit()
    assert (lost.outcome, lost.lost_reason, lost.success_rate) == ("lost", "价格太高，客户选择了竞争对手", 0)
    assert is_locked(won) and is_locked(lost)


@pytest.mark.parametrize("action, comment", [("assign", None), ("win", None), ("lose", "理由")])
def test_archived_opportunities_refuse_every_step_but_reopen(db_session, action, comment):
    s = db_session
    opportunity = make_opportunity(s, assigned_to="account_manager")
    perform(opportunity, "win", user(s, "account_manager"))
    s.commit()
    before = snapshot(opportunity)
    with pytest.raises(WorkflowError, match="Archived"):
        perform(opportunity, action, user(s, "admin"), comment, assignee=user(s, "am_team"))
    s.rollback()
    assert snapshot(opportunity) == before


def test_reopen_needs_its_right_and_an_archived_opportunity(db_session):
    s = db_session
    opportunity = make_opportunity(s, assigned_to="account_manager", stage_name="方案报价")
    with pytest.raises(WorkflowError, match="Assigned"):
        perform(opportunity, "reopen", user(s, "sales_director"))  # not archived
    s.rollback()
    perform(opportunity, "lose", user(s, "account_manager"), "预算取消")
    s.commit()
    for username in ("account_manager", "clerk", "executive"):
        with pytest.raises(WorkflowError, match="right"):
            perform(opportunity, "reopen", user(s, username))
        s.rollback()
    assert perform(opportunity, "reopen", user(s, "sales_director")) == "assigned"
    s.commit()
    assert (opportunity.outcome, opportunity.lost_reason, opportunity.closed_at) == (None, None, None)
    assert opportunity.success_rate == 50  # the stage's probability again
    unassigned = make_opportunity(s)
    perform(unassigned, "win", user(s, "sales_director"))
    assert perform(unassigned, "reopen", user(s, "sales_director")) == "unassigned"


@pytest.mark.parametrize(
    "username, allowed", [("account_manager", True), ("sales_director", True), ("clerk", False), ("marketing", False)]
)
def test_closing_needs_the_edit_right(db_session, username, allowed):
    s = db_session
    opportunity = make_opportunity(s, assigned_to="account_manager")
    if allowed:
        assert perform(opportunity, "win", user(s, username)) == "archived"
    else:
        with pytest.raises(WorkflowError, match="right"):
            perform(opportunity, "win", user(s, username))


def test_assign_through_the_view_offers_only_the_directors_department(en_client, db_session):
    s = db_session
    opportunity = make_opportunity(s, created_by="account_manager")  # in the account manager's scope
    ids = {name: user(s, name).id for name in ("account_manager", "am_team", "am_other", "director_top")}
    s.commit()
    director = en_client("sales_director")
    page = director.get(f"/admin/opportunity/transition/?action=assign&ids={opportunity.id}").get_data(as_text=True)
    offered = {int(i) for i in re.findall(r'<option value="(\d+)">', page)}
    assert {ids["account_manager"], ids["am_team"]} <= offered
    assert ids["am_other"] not in offered and ids["director_top"] not in offered  # 销售二部 / 销售部
    refused = transition(director, "opportunity", "assign", [opportunity], assignee=str(ids["am_other"]))
    assert "choose the person" in flashes(refused)
    s.expire_all()
    assert (opportunity.status, opportunity.assigned_to_id) == ("unassigned", None)
    # the account manager holds no assign right
    no_right = transition(
        en_client("account_manager"), "opportunity", "assign", [opportunity], assignee=str(ids["account_manager"])
    )
    assert "right" in flashes(no_right)
    s.expire_all()
    assert opportunity.status == "unassigned"
    start = utcnow()
    done = transition(director, "opportunity", "assign", [opportunity], assignee=str(ids["account_manager"]))
    assert "1 done" in flashes(done)
    s.expire_all()
    assert opportunity.status == "assigned" and opportunity.assigned_to_id == ids["account_manager"]
    assert opportunity.assigned_at >= start - timedelta(seconds=1)
    # director_top (销售部) may hand it to 销售二部
    top = en_client("director_top")
    transition(top, "opportunity", "assign", [opportunity], assignee=str(ids["am_other"]))
    s.expire_all()
    assert opportunity.assigned_to_id == ids["am_other"]


def test_transitions_through_the_view_and_details_buttons(en_client, db_session):
    s = db_session
    opportunity = make_opportunity(s, assigned_to="account_manager")
    s.commit()
    am, director = en_client("account_manager"), en_client("sales_director")
    details = am.get(f"/admin/opportunity/details/?id={opportunity.id}").get_data(as_text=True)
    assert set(re.findall(r'id="wf-([a-z_]+)"', details)) == {"win", "lose"}
    assert set(
        re.findall(
            r'id="wf-([a-z_]+)"',
            director.get(f"/admin/opportunity/details/?id={opportunity.id}").get_data(as_text=True),
        )
    ) == {"assign", "win", "lose"}
    assert "needs a comment" in flashes(transition(am, "opportunity", "lose", [opportunity]))
    s.expire_all()
    assert opportunity.status == "assigned"
    assert "1 done" in flashes(transition(am, "opportunity", "lose", [opportunity], "客户项目取消"))
    s.expire_all()
    assert (opportunity.status, opportunity.outcome, opportunity.lost_reason) == ("archived", "lost", "客户项目取消")
    assert "right" in flashes(transition(am, "opportunity", "reopen", [opportunity]))
    s.expire_all()
    assert opportunity.status == "archived"
    details = director.get(f"/admin/opportunity/details/?id={opportunity.id}").get_data(as_text=True)
    assert set(re.findall(r'id="wf-([a-z_]+)"', details)) == {"reopen"}
    assert "客户项目取消" in details
    transition(director, "opportunity", "reopen", [opportunity])
    s.expire_all()
    assert opportunity.status == "assigned" and opportunity.outcome is None


def test_bulk_action_reports_done_and_refused(en_client, db_session):
    s = db_session
    open_one = make_opportunity(s, assigned_to="account_manager")
    closed = make_opportunity(s, assigned_to="account_manager")
    perform(closed, "win", user(s, "account_manager"))
    s.commit()
    response = transition(en_client("sales_director"), "opportunity", "win", [open_one, closed])
    text = flashes(response)
    assert "1 done, 1 refused" in text and "Archived" in text
    s.expire_all()
    assert open_one.outcome == "won"


def test_an_archived_opportunity_is_read_only(en_client, db_session):
    s = db_session
    opportunity = make_opportunity(s, assigned_to="account_manager")
    perform(opportunity, "win", user(s, "account_manager"))
    s.commit()
    am = en_client("account_manager")
    page = am.get(f"/admin/opportunity/edit/?id={opportunity.id}")
    assert page.status_code == 302 and "details" in page.headers["Location"]
    response = am.post(
        f"/admin/opportunity/edit/?id={opportunity.id}",
        data=opportunity_form(s, title="改过的标题", loaded_version=str(opportunity.version)),
        follow_redirects=True,
    )
    assert "can no longer be changed" in flashes(response)
    s.expire_all()
    assert opportunity.title != "改过的标题"
    deleted = en_client("sales_director").post(
        "/admin/opportunity/delete/", data={"id": str(opportunity.id)}, follow_redirects=True
    )
    assert "can no longer be changed" in flashes(deleted)
    assert s.get(Opportunity, opportunity.id) is not None


def test_a_won_opportunity_offers_quote_and_contract(app, en_client, db_session):
    s = db_session
    won = make_opportunity(s, assigned_to="account_manager")
    perform(won, "win", user(s, "account_manager"))
    still_open = make_opportunity(s, assigned_to="account_manager")
    lost = make_opportunity(s, assigned_to="account_manager")
    perform(lost, "lose", user(s, "account_manager"), "没预算")
    s.commit()
    am = en_client("account_manager")
    page = am.get(f"/admin/opportunity/details/?id={won.id}").get_data(as_text=True)
    contract = re.search(r'id="create-contract" href="([^"]+)"', page)
    assert contract and html.unescape(contract.group(1)) == f"/admin/contract/new/?opportunity_id={won.id}"
    if "quote.create_view" in app.view_functions:  # the quote views come with views/orders.py
        quote = re.search(r'id="create-quote" href="([^"]+)"', page)
        assert quote and html.unescape(quote.group(1)) == f"/admin/quote/new/?opportunity_id={won.id}"
    for other in (still_open, lost):
        page = am.get(f"/admin/opportunity/details/?id={other.id}").get_data(as_text=True)
        assert 'id="create-contract"' not in page and 'id="create-quote"' not in page
    # the clerk views opportunities and contracts but creates neither
    page = en_client("clerk").get(f"/admin/opportunity/details/?id={won.id}").get_data(as_text=True)
    assert 'id="create-contract"' not in page and 'id="create-quote"' not in page


# ------------------------------------------------------------------------------- scope
#: opportunity tag → (created by, assigned to)
ROWS = {
    "o1": ("sales_director", "account_manager"),
    "o2": ("account_manager", None),
    "o3": ("sales_director", "am_team"),
    "o4": ("director_top", "am_other"),
    "o5": ("am_other", None),
    "o6": ("director_top", None),
}
#: who sees which — written from the organisation (SPEC §6), not from the code
SEES = {
    "account_manager": {"o1", "o2"},  # assigned to me or created by me
    "am_team": {"o3"},
    "am_other": {"o4", "o5"},
    "sales_director": {"o1", "o2", "o3"},  # anyone of 销售一部 created or is assigned
    "director_top": set(ROWS),
    "admin": set(ROWS),
    "clerk": {"o1", "o2", "o3"},
}


@pytest.fixture(scope="module")
def sc(template_db, tmp_path_factory):
    """One app for the read-only scope tests: the ROWS (each with a plan) and logged-in clients."""
    from models import db
    from models.auth import Right, Role

    with module_app(template_db, tmp_path_factory) as app:
        with app.app_context():
            s = db.session
            ids = {}
            for tag, (creator, assignee) in ROWS.items():
                opportunity = make_opportunity(
                    s, creator, assignee, title=f"范围机会-{tag}", customer_name=f"范围客户-{tag}"
                )
                opportunity.plans.append(DevelopmentPlan(planned_on=date(2026, 10, 1), todo=f"范围计划-{tag}"))
                s.commit()
                ids[tag] = (opportunity.id, opportunity.plans[0].id)
            role = s.execute(select(Role).where(Role.code == "account_manager")).scalar_one()
            for code in ("opportunity.export", "dev_plan.export"):  # the seed gives no export: test its scope
                role.rights.append(s.execute(select(Right).where(Right.code == code)).scalar_one())
            s.commit()
            s.remove()

        def client(username):
            test_client = app.login_client(username)
            test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
            return test_client

        yield SimpleNamespace(app=app, ids=ids, client=client)


def tags_of(sc, found, plans=False) -> set[str]:
    by_id = {pair[1 if plans else 0]: tag for tag, pair in sc.ids.items()}
    return {by_id.get(int(i), "?") for i in found}


def list_rows(test_client, endpoint, query=""):
    response = test_client.get(f"/admin/{endpoint}/{query}")
    assert response.status_code == 200, response.data[:300]
    page = response.get_data(as_text=True)
    ids = re.findall(rf'href="/admin/{endpoint}/details/\?id=(\d+)', page)
    count = re.search(r'class="nav-link active">[^<(]*\((\d+)\)</a>', page)
    return ids, int(count.group(1)) if count else 0


@pytest.mark.parametrize("username", list(SEES))
def test_list_and_count_show_exactly_the_scope(sc, username):
    ids, count = list_rows(sc.client(username), "opportunity")
    assert tags_of(sc, ids) == SEES[username] and count == len(ids) == len(SEES[username])


@pytest.mark.parametrize("username", list(SEES))
def test_plans_are_scoped_through_their_opportunity(sc, username):
    ids, count = list_rows(sc.client(username), "dev_plan")
    assert tags_of(sc, ids, plans=True) == SEES[username] and count == len(SEES[username])


@pytest.mark.parametrize("username", ["account_manager", "am_team", "am_other", "sales_director"])
def test_details_edit_and_plans_outside_the_scope_are_404(sc, username):
    test_client = sc.client(username)
    for tag, (opportunity_id, plan_id) in sc.ids.items():
        expected = 200 if tag in SEES[username] else 404
        assert test_client.get(f"/admin/opportunity/details/?id={opportunity_id}").status_code == expected
        assert test_client.get(f"/admin/opportunity/edit/?id={opportunity_id}").status_code == expected
        assert test_client.get(f"/admin/dev_plan/details/?id={plan_id}").status_code == expected
        if tag not in SEES[username]:
            response = test_client.post(f"/admin/opportunity/edit/?id={opportunity_id}", data={"title": "偷改"})
            assert response.status_code == 404


@pytest.mark.parametrize("username", ["account_manager", "am_other", "sales_director", "director_top"])
def test_export_respects_the_scope(sc, username):
    for endpoint, column in (("opportunity", "Summary"), ("dev_plan", "Plan content")):
        response = sc.client(username).get(f"/admin/{endpoint}/export/csv/")
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        prefix = "范围机会-" if endpoint == "opportunity" else "范围计划-"
        assert {row[column].removeprefix(prefix) for row in rows} == SEES[username], endpoint


def test_search_never_leaves_the_scope(sc):
    ids, count = list_rows(sc.client("account_manager"), "opportunity", "?search=范围")
    assert tags_of(sc, ids) == {"o1", "o2"} and count == 2
    assert list_rows(sc.client("account_manager"), "opportunity", "?search=范围客户-o5") == ([], 0)


def test_plan_filter_offers_only_opportunities_in_scope(sc):
    groups = filter_groups(sc.client("account_manager").get("/admin/dev_plan/"))
    assert "范围机会-o1" in groups and "范围机会-o2" in groups
    assert "范围机会-o3" not in groups and "范围机会-o5" not in groups


# ------------------------------------------------------------------ development plans view
def test_plan_created_from_the_opportunity_button(en_client, db_session):
    opportunity = make_opportunity(db_session, created_by="account_manager")
    foreign = make_opportunity(db_session, created_by="am_other")
    am = en_client("account_manager")
    details = am.get(f"/admin/opportunity/details/?id={opportunity.id}").get_data(as_text=True)
    assert f"/admin/dev_plan/new/?opportunity_id={opportunity.id}" in html.unescape(details)
    form = am.get(f"/admin/dev_plan/new/?opportunity_id={opportunity.id}").get_data(as_text=True)
    assert f'<option selected value="{opportunity.id}">' in form
    assert f'value="{foreign.id}"' not in form  # only opportunities in scope are offered

    def new_plan(target, todo):
        data = {
            "opportunity": str(target.id),
            "planned_on": "2026-12-01",
            "todo": todo,
            "result": "",
            "executed_on": "",
        }
        return am.post("/admin/dev_plan/new/", data=data)

    response = new_plan(opportunity, "技术交流")
    assert response.status_code == 302
    refused = new_plan(foreign, "越权")
    assert refused.status_code == 200
    plans = db_session.execute(select(DevelopmentPlan.opportunity_id, DevelopmentPlan.todo)).all()
    assert plans == [(opportunity.id, "技术交流")]


# ------------------------------------------------------------ filters, search, sorting
def test_filters_search_and_sorting(en_client, db_session):
    s = db_session
    client = make_client(s, "account_manager", name="宁波精密模具有限公司")
    a = make_opportunity(
        s,
        assigned_to="account_manager",
        title="机会甲",
        expected_amount=Decimal("5000.00"),
        expected_close_on=date(2026, 3, 1),
        linkman="赵联系",
        source=lookup(s, ClientSource),
    )
    b = make_opportunity(
        s,
        created_by="am_team",
        title="机会乙",
        expected_amount=Decimal("90000.00"),
        expected_close_on=date(2026, 9, 1),
        stage_name="谈判审核",
        client=client,
        customer_name="",
    )
    c = make_opportunity(s, assigned_to="am_team", title="机会丙", expected_amount=Decimal("30000.00"))
    perform(c, "lose", user(s, "sales_director"), "竞争失败")
    s.commit()
    admin = en_client("admin")

    def titles(query):
        page = admin.get(f"/admin/opportunity/{query}")
        assert page.status_code == 200, query
        return {t for t in ("机会甲", "机会乙", "机会丙") if t in page.get_data(as_text=True)}

    groups = json.loads(filter_groups(admin.get("/admin/opportunity/")))
    names = {f["arg"] for group in groups.values() for f in group}
    for expected in (
        "status_equals",
        "sales_stage_equals",
        "opportunity_source_equals",
        "assigned_to_equals",
        "created_by_equals",
        "expected_amount_greater_than",
        "expected_amount_smaller_than",
        "expected_close_date_between",
        "outcome_equals",
    ):
        assert expected in names, (expected, sorted(names))
    assert titles("?flt0_status_equals=archived") == {"机会丙"}
    assert titles("?flt0_status_equals=assigned") == {"机会甲"}
    assert titles("?flt0_outcome_equals=lost") == {"机会丙"}
    assert titles(f"?flt0_assigned_to_equals={user(s, 'account_manager').id}") == {"机会甲"}
    assert titles(f"?flt0_created_by_equals={user(s, 'am_team').id}") == {"机会乙"}
    assert titles(f"?flt0_sales_stage_equals={stage(s, '谈判审核').id}") == {"机会乙"}
    assert titles(f"?flt0_opportunity_source_equals={a.source_id}") == {"机会甲"}
    assert titles("?flt0_expected_amount_greater_than=10000&flt1_expected_amount_smaller_than=50000") == {"机会丙"}
    assert titles("?flt0_expected_close_date_between=2026-08-01+to+2026-09-30") == {"机会乙"}
    assert titles("?search=赵联系") == {"机会甲"}  # the contact
    assert titles("?search=精密模具") == {"机会乙"}  # the client's name
    assert b.customer_name == "宁波精密模具有限公司"
    # every list column that is sortable sorts
    for index in range(8):
        for desc in ("0", "1"):
            assert admin.get(f"/admin/opportunity/?sort={index}&desc={desc}").status_code == 200
    page = admin.get("/admin/opportunity/?sort=3&desc=1").get_data(as_text=True)  # expected amount
    assert page.index("机会乙") < page.index("机会丙") < page.index("机会甲")


def test_list_sql_statements_stay_constant_as_rows_grow(app, en_client, db_session):
    s = db_session
    users = [user(s, name).id for name in ("account_manager", "am_team", "sales_director")]
    client = make_client(s, "account_manager")
    stage_id, source_id = stage(s).id, lookup(s, ClientSource).id
    now = utcnow()

    inserted = []

    def add(count):
        rows = [(users[i % 3], users[(i + 1) % 3]) for i in range(count)]
        inserted.extend(rows)
        s.execute(
            insert(Opportunity),
            [
                {
                    "customer_name": f"批量客户{next(_seq)}",
                    "title": f"批量机会{next(_seq)}",
                    "success_rate": 30,
                    "stage_id": stage_id,
                    "source_id": source_id,
                    "client_id": client.id,
                    "description": "批量",
                    "created_by_id": creator,
                    "assigned_to_id": assignee,
                    "assigned_at": now,
                    "status": "assigned",
                    "expected_amount": Decimal("100.00"),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for creator, assignee in rows
            ],
        )
        s.commit()

    am_id = users[0]
    counts: dict[str, dict[int, int]] = {name: {} for name in ("admin", "account_manager", "sales_director")}
    for added, total in ((5, 5), (20, 25)):
        add(added)
        for username in counts:
            visible = total if username != "account_manager" else sum(am_id in pair for pair in inserted)
            test_client = en_client(username)
            test_client.get("/admin/opportunity/")  # warm-up: login bookkeeping
            with count_queries(app) as statements:
                page = test_client.get("/admin/opportunity/?page_size=50")
            assert page.status_code == 200
            assert page.get_data(as_text=True).count("批量机会") == visible, username
            counts[username][total] = len(statements)
    for username, by_total in counts.items():
        assert by_total[5] == by_total[25], (username, by_total)


# ------------------------------------------------------------------------------ rights
ROLES = ["admin", "executive", "sales_director", "account_manager", "clerk", "finance", "service", "marketing"]
#: SPEC §6 row "opportunities, plans, quotes, orders, weekly reports" (A: workflow codes, tested above)
SALES_ROW = {
    "admin": "VCEDX",
    "executive": "VX",
    "sales_director": "VCEDX",
    "account_manager": "VCE",
    "clerk": "V",
    "finance": "V",
    "service": "",
    "marketing": "V",
}
#: sales targets: planned by the directors, read by the sales roles (seed/reference.py, SPEC §4.4)
TARGET_ROW = {**SALES_ROW, "account_manager": "V"}
RIGHTS = {"opportunity": SALES_ROW, "dev_plan": SALES_ROW, "weekly_report": SALES_ROW, "sales_target": TARGET_ROW}


@pytest.fixture(scope="module")
def rights_app(template_db, tmp_path_factory):
    """One row per endpoint that every role with the view right has in scope: the account
    manager's (own scope) in 销售一部 (the department-scope roles' department)."""
    from models import db
    from models.targets import SalesTarget, WeeklyReport

    with module_app(template_db, tmp_path_factory) as app:
        with app.app_context():
            s = db.session
            opportunity = make_opportunity(s, created_by="account_manager")
            plan = DevelopmentPlan(planned_on=date(2026, 10, 1), todo="拜访")
            opportunity.plans.append(plan)
            report = WeeklyReport(user=user(s, "account_manager"), week_start=date(2026, 11, 23))
            target = SalesTarget(user=user(s, "account_manager"), month="2026-11", amount=Decimal("1000.00"))
            s.add_all([report, target])
            s.commit()
            app.row_ids = {
                "opportunity": opportunity.id,
                "dev_plan": plan.id,
                "weekly_report": report.id,
                "sales_target": target.id,
            }
            s.remove()
        yield app


@pytest.mark.parametrize("endpoint", list(RIGHTS))
@pytest.mark.parametrize("role", ROLES)
def test_rights_of_the_sales_views(rights_app, role, endpoint):
    test_client = rights_app.login_client(role)
    row = rights_app.row_ids[endpoint]
    letters = RIGHTS[endpoint][role]
    requests = {
        "V": lambda: test_client.get(f"/admin/{endpoint}/"),
        "C": lambda: test_client.get(f"/admin/{endpoint}/new/"),
        "E": lambda: test_client.get(f"/admin/{endpoint}/edit/?id={row}"),
        "D": lambda: test_client.post(f"/admin/{endpoint}/delete/", data={"id": "999999"}),
        "X": lambda: test_client.get(f"/admin/{endpoint}/export/csv/"),
    }
    for letter, call in requests.items():
        status = call().status_code
        if letter in letters:  # (deleting a row that does not exist: 404, not 403)
            assert status in ((200, 302, 404) if letter == "D" else (200, 302)), (letter, status)
        else:
            assert status == 403, (letter, status)
    details = test_client.get(f"/admin/{endpoint}/details/?id={row}").status_code
    assert details == (200 if "V" in letters else 403)
    menu = test_client.get("/admin/").get_data(as_text=True)
    assert (f'href="/admin/{endpoint}/"' in menu) == ("V" in letters)
