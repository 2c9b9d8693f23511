"""Weekly reports and sales targets (SPEC §4.4, rights and scope of §6): reports written
with inline items about opportunities in the author's scope, the week starting on a
Monday, one report per person and week; submit by the author only, review and send back
with a comment by the sales director of the author's department (or a parent
department's), submitted reports read-only; monthly targets for a salesperson or a
department, never both or neither, months written YYYY-MM.

Organisation (tests/conftest.py): 销售部 ⊃ {销售一部, 销售二部}. account_manager, am_team,
sales_director … in 销售一部, am_other in 销售二部, director_top (sales_director) in 销售部.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from models.auth import Department
from models.base import FieldError, utcnow
from models.targets import WEEKLY_REPORT, SalesTarget, WeeklyReport, WeeklyReportItem
from models.workflow import WorkflowError, is_locked, perform
from tests.conftest import count_queries, field_errors, filter_groups, flashes, transition
from tests.factories import make_opportunity, user

MONDAY = date(2026, 11, 23)


def make_report(session, author="account_manager", week_start=MONDAY, state="draft", items=1, **fields):
    """A report of ``author`` with ``items`` items, moved to ``state``."""
    report = WeeklyReport(user=user(session, author), week_start=week_start, summary=f"{author} 本周小结", **fields)
    for n in range(items):
        report.items.append(WeeklyReportItem(progress=f"进展{n}", next_plan="继续跟进"))
    session.add(report)
    session.commit()
    if state in ("submitted", "reviewed"):
        perform(report, "submit", user(session, author))
        session.commit()
    if state == "reviewed":
        perform(report, "review", user(session, "director_top"), "很好")
        session.commit()
    return report


def department(session, name):
    return session.execute(select(Department).where(Department.name == name)).scalar_one()


# --------------------------------------------------------------------------- the form
def test_create_with_items_defaults_to_me_and_this_monday(en_client, db_session):
    mine = make_opportunity(db_session, created_by="account_manager", title="我的机会")
    am = en_client("account_manager")
    form = am.get("/admin/weekly_report/new/").get_data(as_text=True)
    assert 'name="user"' not in form  # an own-scope user writes only their own reports
    monday = re.search(r'name="week_start"[^>]*value="([\d-]+)"', form) or re.search(
        r'value="([\d-]+)"[^>]*name="week_start"', form
    )
    assert monday and date.fromisoformat(monday.group(1)).weekday() == 0
    assert date.today() - timedelta(days=7) <= date.fromisoformat(monday.group(1)) <= date.today() + timedelta(days=1)
    response = am.post(
        "/admin/weekly_report/new/",
        data={
            "week_start": "2026-11-16",
            "summary": "拜访三家客户",
            "items-0-opportunity": str(mine.id),
            "items-0-progress": "完成方案演示",
            "items-0-next_plan": "报价",
            "items-0-issues": "",
            "items-0-support_needed": "需要售前支持",
            "items-0-notes": "",
            "items-1-opportunity": "",
            "items-1-progress": "整理客户资料",
        },
    )
    assert response.status_code == 302, (flashes(response), field_errors(response))
    report = db_session.execute(select(WeeklyReport)).scalar_one()
    assert (report.user.username, report.week_start, report.status) == ("account_manager", date(2026, 11, 16), "draft")
    assert [(i.opportunity_id, i.progress, i.support_needed) for i in report.items] == [
        (mine.id, "完成方案演示", "需要售前支持"),
        (None, "整理客户资料", None),
    ]
    details = am.get(f"/admin/weekly_report/details/?id={report.id}").get_data(as_text=True)
    assert "完成方案演示" in details and "我的机会" in details and 'id="wf-submit"' in details


def test_a_director_may_write_a_report_for_a_team_member(en_client, db_session):
    team = user(db_session, "am_team")
    db_session.commit()
    director = en_client("sales_director")
    form = director.get("/admin/weekly_report/new/").get_data(as_text=True)
    assert 'name="user"' in form
    response = director.post(
        "/admin/weekly_report/new/",
        data={"user": str(team.id), "week_start": "2026-11-16", "items-0-progress": "代为录入"},
    )
    assert response.status_code == 302
    assert db_session.execute(select(WeeklyReport)).scalar_one().user.username == "am_team"
    outside = director.post(
        "/admin/weekly_report/new/", data={"user": str(user(db_session, "am_other").id), "week_start": "2026-11-02"}
    )
    assert outside.status_code == 200  # 销售二部 is not the director's department: not offered
    assert "Not a valid choice" in field_errors(outside).get("Salesperson", "")
    response = director.post("/admin/weekly_report/new/", data={"user": "", "week_start": "2026-11-09"})
    assert response.status_code == 302
    assert (
        db_session.execute(select(WeeklyReport).where(WeeklyReport.week_start == date(2026, 11, 9)))
        .scalar_one()
        .user.username
        == "sales_director"
    )  # left empty: me


@pytest.mark.parametrize("week_start", ["2026-11-24", "2026-11-29"])
def test_week_start_not_a_monday_is_refused_naming_the_field(en_client, db_session, week_start):
    response = en_client("account_manager").post(
        "/admin/weekly_report/new/", data={"week_start": week_start, "items-0-progress": "进展"}
    )
    assert response.status_code == 200
    errors = field_errors(response)
    label = "Week starting (Monday)"
    assert label in errors and "must be a Monday" in errors[label] and "2026-11-23" in errors[label], errors
    assert label in flashes(response)
    assert db_session.execute(select(func.count()).select_from(WeeklyReport)).scalar() == 0
    with pytest.raises(FieldError, match="Monday"):
        make_report(db_session, week_start=date.fromisoformat(week_start))


def test_one_report_per_person_and_week(en_client, db_session):
    make_report(db_session, "account_manager")
    response = en_client("account_manager").post(
        "/admin/weekly_report/new/", data={"week_start": MONDAY.isoformat(), "items-0-progress": "重复"}
    )
    assert response.status_code == 200
    assert "already a weekly report" in field_errors(response).get("Week starting (Monday)", "")
    ok = en_client("am_team").post("/admin/weekly_report/new/", data={"week_start": MONDAY.isoformat()})
    assert ok.status_code == 302  # another person's report of the same week
    assert db_session.execute(select(func.count()).select_from(WeeklyReport)).scalar() == 2


def test_items_offer_only_opportunities_in_the_users_scope(en_client, db_session):
    mine = make_opportunity(db_session, created_by="sales_director", assigned_to="account_manager", title="指派给我")
    foreign = make_opportunity(db_session, created_by="am_other", title="二部的机会")
    am = en_client("account_manager")
    form = am.get("/admin/weekly_report/new/").get_data(as_text=True)
    assert "指派给我" in form and "二部的机会" not in form
    response = am.post(
        "/admin/weekly_report/new/",
        data={"week_start": MONDAY.isoformat(), "items-0-opportunity": str(foreign.id), "items-0-progress": "越权"},
    )
    assert response.status_code == 200
    assert "Not a valid choice" in field_errors(response).get("Opportunity", "")
    assert db_session.execute(select(func.count()).select_from(WeeklyReport)).scalar() == 0
    assert mine.id != foreign.id


def test_inline_items_are_changed_and_removed_through_the_edit_form(en_client, db_session):
    report = make_report(db_session, items=2)
    first_id, second_id = (item.id for item in report.items)
    am = en_client("account_manager")
    assert am.get(f"/admin/weekly_report/edit/?id={report.id}").status_code == 200
    response = am.post(
        f"/admin/weekly_report/edit/?id={report.id}",
        data={
            "week_start": MONDAY.isoformat(),
            "summary": "改过",
            "items-0-id": str(first_id),
            "items-0-progress": "进展已更新",
            "items-1-id": str(second_id),
            "items-1-progress": "进展1",
            "del-items-1": "y",
        },
    )
    assert response.status_code == 302, (flashes(response), field_errors(response))
    db_session.expire_all()
    items = db_session.execute(select(WeeklyReportItem)).scalars().all()
    assert [(i.id, i.progress) for i in items] == [(first_id, "进展已更新")]


# ------------------------------------------------------------------------- the workflow
def test_workflow_declaration_matches_the_spec():
    expected = {
        "submit": ({"draft"}, "submitted", "edit"),
        "review": ({"submitted"}, "reviewed", "review"),
        "send_back": ({"submitted"}, "draft", "review"),
    }
    assert {n: (set(t.sources), t.target, t.right) for n, t in WEEKLY_REPORT.transitions.items()} == expected
    assert {n for n, t in WEEKLY_REPORT.transitions.items() if t.comment_required} == {"review", "send_back"}
    assert WEEKLY_REPORT.locked == {"submitted", "reviewed"}


def test_only_the_author_submits(db_session):
    s = db_session
    report = make_report(s, "account_manager")
    for other in ("sales_director", "am_team", "admin"):  # all hold weekly_report.edit
        with pytest.raises(WorkflowError, match="only its author"):
            perform(report, "submit", user(s, other))
        s.rollback()
        assert report.status == "draft" and report.submitted_at is None
    start = utcnow()
    assert perform(report, "submit", user(s, "account_manager")) == "submitted"
    s.commit()
    assert report.submitted_at >= start - timedelta(seconds=1)
    with pytest.raises(WorkflowError, match="Submitted"):
        perform(report, "submit", user(s, "account_manager"))  # not twice


@pytest.mark.parametrize(
    "reviewer, author, allowed",
    [
        ("sales_director", "account_manager", True),  # 销售一部 reviews 销售一部
        ("sales_director", "am_team", True),
        ("sales_director", "am_other", False),  # 销售一部 does not review 销售二部
        ("director_top", "am_other", True),  # 销售部 is the parent of 销售二部
        ("director_top", "account_manager", True),
        ("director_top", "sales_director", True),
        ("admin", "am_other", True),
        ("sales_director", "sales_director", False),  # nobody reviews their own report
    ],
)
def test_review_by_the_sales_director_of_the_authors_department(db_session, reviewer, author, allowed):
    s = db_session
    report = make_report(s, author, state="submitted")
    if allowed:
        assert perform(report, "review", user(s, reviewer), "内容充实") == "reviewed"
        s.commit()
        assert (report.reviewed_by.username, report.review_comment) == (reviewer, "内容充实")
        assert report.reviewed_at is not None and is_locked(report)
        return
    for action in ("review", "send_back"):
        with pytest.raises(WorkflowError, match="only the sales director of the author's department"):
            perform(report, action, user(s, reviewer), "意见")
        s.rollback()
    assert (report.status, report.reviewed_by_id) == ("submitted", None)


@pytest.mark.parametrize("username", ["account_manager", "am_team", "clerk", "executive"])
def test_review_needs_the_review_right(db_session, username):
    report = make_report(db_session, "account_manager", state="submitted")
    with pytest.raises(WorkflowError, match="right"):
        perform(report, "review", user(db_session, username), "看过")


def test_review_and_send_back_need_a_comment(db_session):
    s = db_session
    report = make_report(s, state="submitted")
    for action in ("review", "send_back"):
        for comment in (None, "   "):
            with pytest.raises(WorkflowError, match="needs a comment"):
                perform(report, action, user(s, "sales_director"), comment)
            s.rollback()
    assert report.status == "submitted"
    assert perform(report, "send_back", user(s, "sales_director"), "请补充客户反馈") == "draft"
    s.commit()
    assert (report.review_comment, report.reviewed_by_id, report.reviewed_at) == ("请补充客户反馈", None, None)
    assert not is_locked(report)
    perform(report, "submit", user(s, "account_manager"))
    assert perform(report, "review", user(s, "sales_director"), "可以") == "reviewed"
    with pytest.raises(WorkflowError, match="Reviewed"):
        perform(report, "send_back", user(s, "sales_director"), "再改")


def test_workflow_through_the_view(en_client, db_session):
    s = db_session
    report = make_report(s, "account_manager")
    other = make_report(s, "am_other")
    am, director, top = en_client("account_manager"), en_client("sales_director"), en_client("director_top")
    buttons = set(
        re.findall(r'id="wf-([a-z_]+)"', am.get(f"/admin/weekly_report/details/?id={report.id}").get_data(as_text=True))
    )
    assert buttons == {"submit"}
    assert "only its author" in flashes(transition(director, "weekly_report", "submit", report))
    s.expire_all()
    assert report.status == "draft"
    assert "1 done" in flashes(transition(am, "weekly_report", "submit", report))
    assert "1 done" in flashes(transition(en_client("am_other"), "weekly_report", "submit", other))
    s.expire_all()
    assert report.status == other.status == "submitted"
    assert "needs a comment" in flashes(transition(director, "weekly_report", "review", report))
    assert "right" in flashes(transition(am, "weekly_report", "review", report))
    # am_other's report is outside the 销售一部 director's scope: not even offered
    assert "Choose at least one record" in flashes(transition(director, "weekly_report", "review", other, "越级"))
    s.expire_all()
    assert report.status == other.status == "submitted"
    assert "1 done" in flashes(transition(director, "weekly_report", "review", report, "按计划推进"))
    assert "1 done" in flashes(transition(top, "weekly_report", "review", other, "继续努力"))
    s.expire_all()
    assert (report.status, report.reviewed_by.username) == ("reviewed", "sales_director")
    assert (other.status, other.reviewed_by.username) == ("reviewed", "director_top")
    details = am.get(f"/admin/weekly_report/details/?id={report.id}").get_data(as_text=True)
    assert "按计划推进" in details and not re.findall(r'id="wf-', details)


@pytest.mark.parametrize("state", ["submitted", "reviewed"])
def test_submitted_and_reviewed_reports_are_read_only(en_client, db_session, state):
    report = make_report(db_session, state=state)
    am = en_client("account_manager")
    page = am.get(f"/admin/weekly_report/edit/?id={report.id}")
    assert page.status_code == 302 and "details" in page.headers["Location"]
    response = am.post(
        f"/admin/weekly_report/edit/?id={report.id}",
        data={"week_start": MONDAY.isoformat(), "summary": "偷偷修改"},
        follow_redirects=True,
    )
    assert "can no longer be changed" in flashes(response)
    db_session.expire_all()
    assert report.summary == "account_manager 本周小结" and len(report.items) == 1


# --------------------------------------------------------------------- list, scope, SQL
def test_list_scope_filters_and_export(en_client, db_session):
    s = db_session
    for author in ("account_manager", "am_team", "am_other"):
        make_report(s, author, state="submitted" if author == "am_team" else "draft")
    reviewed = make_report(s, "account_manager", week_start=MONDAY - timedelta(days=7), state="reviewed")

    def authors(test_client, query=""):
        page = test_client.get(f"/admin/weekly_report/{query}")
        assert page.status_code == 200
        ids = {
            int(i) for i in re.findall(r'href="/admin/weekly_report/details/\?id=(\d+)', page.get_data(as_text=True))
        }
        rows = s.execute(select(WeeklyReport).where(WeeklyReport.id.in_(ids))).scalars()
        return sorted(r.user.username for r in rows)

    assert authors(en_client("account_manager")) == ["account_manager", "account_manager"]
    assert authors(en_client("am_other")) == ["am_other"]
    assert authors(en_client("sales_director")) == ["account_manager", "account_manager", "am_team"]
    assert authors(en_client("director_top")) == ["account_manager", "account_manager", "am_other", "am_team"]
    admin = en_client("admin")
    groups = filter_groups(admin.get("/admin/weekly_report/"))
    for name in ("status_equals", "salesperson_equals", "week_starting_monday_between", "reviewed_by_equals"):
        assert f'"{name}"' in groups, name
    assert authors(admin, "?flt0_status_equals=submitted") == ["am_team"]
    assert authors(admin, f"?flt0_reviewed_by_equals={user(s, 'director_top').id}") == ["account_manager"]
    assert authors(admin, f"?flt0_salesperson_equals={user(s, 'am_other').id}") == ["am_other"]
    previous = (MONDAY - timedelta(days=7)).isoformat()
    assert authors(admin, f"?flt0_week_starting_monday_between={previous}+to+{previous}") == ["account_manager"]
    assert reviewed.status == "reviewed"
    for index in range(7):
        assert admin.get(f"/admin/weekly_report/?sort={index}").status_code == 200
    export = en_client("sales_director").get("/admin/weekly_report/export/csv/")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r["Salesperson"] for r in rows) == sorted(
        [user(s, "account_manager").name] * 2 + [user(s, "am_team").name]
    )


def test_report_details_of_another_department_are_404(en_client, db_session):
    other = make_report(db_session, "am_other")
    for username in ("account_manager", "sales_director"):
        client = en_client(username)
        assert client.get(f"/admin/weekly_report/details/?id={other.id}").status_code == 404
        assert client.get(f"/admin/weekly_report/edit/?id={other.id}").status_code == 404
    assert en_client("director_top").get(f"/admin/weekly_report/details/?id={other.id}").status_code == 200


def test_report_list_sql_statements_constant(app, en_client, db_session):
    s = db_session
    authors = [user(s, name).id for name in ("account_manager", "am_team", "sales_director")]
    reviewer = user(s, "director_top").id
    now = utcnow()
    week = iter(range(1000))

    def add(count):
        s.execute(
            insert(WeeklyReport),
            [
                {
                    "user_id": authors[i % 3],
                    "week_start": MONDAY - timedelta(days=7 * next(week)),
                    "summary": "批量周报",
                    "status": "reviewed",
                    "reviewed_by_id": reviewer,
                    "submitted_at": now,
                    "reviewed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        s.commit()

    counts = {"admin": {}, "sales_director": {}, "account_manager": {}}
    for added, total in ((5, 5), (20, 25)):
        add(added)
        for username, by_total in counts.items():
            test_client = en_client(username)
            test_client.get("/admin/weekly_report/")
            with count_queries(app) as statements:
                assert test_client.get("/admin/weekly_report/?page_size=50").status_code == 200
            by_total[total] = len(statements)
    for username, by_total in counts.items():
        assert by_total[5] == by_total[25], (username, by_total)


# ------------------------------------------------------------------------- sales targets
def target_form(**overrides):
    data = {"user": "", "department": "", "month": "2026-12", "amount": "300000.00", "notes": ""}
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "overrides, label, message",
    [
        ({}, "Salesperson", "choose either a salesperson or a department, not both"),  # neither
        ({"user": "USER", "department": "DEPT"}, "Salesperson", "choose either a salesperson or a department"),
        ({"user": "USER", "month": "2026-13"}, "Month (YYYY-MM)", "write the month as YYYY-MM"),
        ({"user": "USER", "month": "2026/12"}, "Month (YYYY-MM)", "write the month as YYYY-MM"),
        ({"user": "USER", "month": "26-12"}, "Month (YYYY-MM)", "write the month as YYYY-MM"),
        ({"user": "USER", "amount": "0.00"}, "Target amount", "greater than 0"),
    ],
)
def test_target_refusals_are_shown_on_the_field(en_client, db_session, overrides, label, message):
    ids = {"USER": str(user(db_session, "account_manager").id), "DEPT": str(department(db_session, "销售一部").id)}
    db_session.commit()
    data = target_form(**{k: ids.get(v, v) for k, v in overrides.items()})
    response = en_client("sales_director").post("/admin/sales_target/new/", data=data)
    assert response.status_code == 200
    errors = field_errors(response)
    assert label in errors and message in errors[label], errors
    assert db_session.execute(select(func.count()).select_from(SalesTarget)).scalar() == 0


def test_targets_for_a_person_and_a_department(en_client, db_session):
    s = db_session
    am, team = user(s, "account_manager"), department(s, "销售一部")
    other_department = department(s, "销售二部")
    s.commit()
    director = en_client("sales_director")
    form = director.get("/admin/sales_target/new/").get_data(as_text=True)
    departments = re.search(r'<select[^>]*name="department".*?</select>', form, re.S).group(0)
    assert f'value="{team.id}"' in departments and f'value="{other_department.id}"' not in departments  # subtree
    users = re.search(r'<select[^>]*name="user".*?</select>', form, re.S).group(0)
    assert f'value="{am.id}"' in users and f'value="{user(s, "am_other").id}"' not in users
    response = director.post("/admin/sales_target/new/", data=target_form(user=str(am.id), month=" 2026-12 "))
    assert response.status_code == 302, (flashes(response), field_errors(response))
    assert (
        director.post(
            "/admin/sales_target/new/", data=target_form(department=str(team.id), amount="1500000.00")
        ).status_code
        == 302
    )
    targets = s.execute(select(SalesTarget).order_by(SalesTarget.id)).scalars().all()
    assert [(t.user_id, t.department_id, t.month, t.amount) for t in targets] == [
        (am.id, None, "2026-12", Decimal("300000.00")),
        (None, team.id, "2026-12", Decimal("1500000.00")),
    ]
    # a second target of the same person and month is refused
    again = director.post("/admin/sales_target/new/", data=target_form(user=str(am.id)))
    assert again.status_code == 200 and "already exists" in flashes(again)
    # filters and the list
    groups = filter_groups(director.get("/admin/sales_target/"))
    for name in ("month_equals", "month_greater_than", "salesperson_equals", "department_equals"):
        assert f'"{name}"' in groups, (name, groups)
    page = director.get("/admin/sales_target/?flt0_month_equals=2026-12").get_data(as_text=True)
    assert "¥300,000.00" in page and "¥1,500,000.00" in page
    assert "¥300,000.00" not in director.get("/admin/sales_target/?flt0_month_equals=2026-11").get_data(as_text=True)
    by_department = director.get(f"/admin/sales_target/?flt0_department_equals={team.id}").get_data(as_text=True)
    assert "¥1,500,000.00" in by_department and "¥300,000.00" not in by_department
    by_user = director.get(f"/admin/sales_target/?flt0_salesperson_equals={am.id}").get_data(as_text=True)
    assert "¥300,000.00" in by_user and "¥1,500,000.00" not in by_user
    # the account manager sees their own and their department's targets, and may not create any
    mine = en_client("account_manager")
    page = mine.get("/admin/sales_target/").get_data(as_text=True)
    assert "¥300,000.00" in page and "¥1,500,000.00" in page
    assert mine.get("/admin/sales_target/new/").status_code == 403
    assert "¥300,000.00" not in en_client("am_other").get("/admin/sales_target/").get_data(as_text=True)


def test_target_rules_hold_outside_forms(db_session):
    s = db_session
    with pytest.raises(FieldError, match="either a salesperson or a department"):
        s.add(SalesTarget(month="2026-01", amount=Decimal("1.00")))
        s.flush()
    s.rollback()
    with pytest.raises(FieldError, match="YYYY-MM"):
        s.add(SalesTarget(user=user(s, "am_team"), month="2026-1", amount=Decimal("1.00")))
        s.flush()
