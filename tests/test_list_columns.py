"""Wide lists (issue 14 item 5): the columns each user chooses for a list, remembered per
user and list (views/crud/columns.py, models/list_columns.py); statuses as badges; one
client column on the opportunity list."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from models.list_columns import UserListColumns
from tests.conftest import cells, count_queries, csrf_token_from, login, run_parallel
from tests.factories import make_client, make_contract, make_opportunity, user

LIST = "/admin/contract/"


def headers(page: str) -> list[str]:
    """The list columns of a page, by name (the header cells' ``col-<name>`` classes)."""
    return re.findall(r'<th class="column-header col-([\w-]+)">', page)


def chooser(page: str) -> dict[str, bool]:
    """The chooser's checkboxes: column name → ticked."""
    boxes = re.findall(
        r'<input class="form-check-input" type="checkbox" name="columns" value="([^"]+)"[^>]*?( checked)?>', page
    )
    return {name: bool(ticked) for name, ticked in boxes}


def saved(session, username: str, endpoint: str = "contract"):
    session.expire_all()
    return session.execute(
        select(UserListColumns.columns).where(
            UserListColumns.user_id == user(session, username).id, UserListColumns.endpoint == endpoint
        )
    ).scalar()


def contract(session, **fields):
    client = make_client(session, "account_manager", name="宽列表测试有限公司")
    record = make_contract(session, client, "12345.00", number="HT-WIDE-1", **fields)
    session.commit()
    return record


DEFAULT = ["number", "name", "client", "amount", "balance", "status", "ends_on", "owner"]


def test_the_default_columns_and_the_chooser(en_client, db_session):
    contract(db_session)
    page = en_client("account_manager").get(LIST).get_data(as_text=True)
    assert headers(page) == DEFAULT
    boxes = chooser(page)
    assert [name for name, ticked in boxes.items() if ticked] == DEFAULT
    assert {"type", "received", "invoiced", "starts_on", "scan_file"} <= {n for n, t in boxes.items() if not t}
    assert 'id="column-chooser-button"' in page and 'action="/admin/contract/columns/"' in page
    assert "<script>" not in page.split('id="column-chooser"')[1].split("</form>")[0]  # no inline script (CSP)


def test_chosen_columns_stay_for_that_user_only(en_client, db_session):
    record = contract(db_session)
    mine = en_client("account_manager")
    response = mine.post(
        f"{LIST}columns/",
        data={"columns": ["number", "client", "status", "starts_on", "type"], "url": f"{LIST}?search=HT-WIDE"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{LIST}?search=HT-WIDE")
    assert saved(db_session, "account_manager") == ["number", "client", "status", "type", "starts_on"]
    page = mine.get(LIST).get_data(as_text=True)
    assert "Your columns for this list were saved." in page
    assert headers(page) == ["number", "client", "status", "type", "starts_on"]  # defaults first, then the added ones
    assert cells(page, "starts_on") == [record.starts_on.isoformat()]
    assert cells(page, "type") == [record.type.name]
    # after a new login too (stored, not in the session), and sorting follows the shown columns
    again = en_client("account_manager")
    page = again.get(f"{LIST}?sort=4&desc=1").get_data(as_text=True)
    assert headers(page) == ["number", "client", "status", "type", "starts_on"]
    # the sort index is the shown column's: the start date is the sorted one
    assert re.search(
        r'col-starts_on">\s*<a href="/admin/contract/\?sort=4[^"]*"[^>]*>\s*Start date\s*'
        r'<span class="fa fa-chevron-down',
        page,
    )
    # another user of the same list, and the same user's other lists, are unchanged
    assert headers(en_client("sales_director").get(LIST).get_data(as_text=True)) == DEFAULT
    assert headers(mine.get("/admin/client/").get_data(as_text=True))[:2] == ["name", "area"]


def test_an_undeclared_column_is_refused(en_client, db_session):
    contract(db_session)
    web = en_client("account_manager")
    for names in (["number", "content"], ["number", "owner.password_hash"], ["number", "</th><script>"]):
        response = web.post(f"{LIST}columns/", data={"columns": names, "url": LIST})
        assert response.status_code == 400
        assert saved(db_session, "account_manager") is None
    page = web.get(LIST).get_data(as_text=True)
    assert "cannot be shown in this list; choose among the columns offered. Nothing was saved." in page
    assert "<script>" not in page.split("cannot be shown")[0][-200:]  # the refused name is escaped
    assert headers(page) == DEFAULT
    response = web.post(f"{LIST}columns/", data={"url": LIST})  # nothing ticked
    assert response.status_code == 400 and saved(db_session, "account_manager") is None
    assert "tick at least one column" in web.get(LIST).get_data(as_text=True)


def test_the_return_address_stays_on_the_list(en_client, db_session):
    web = en_client("account_manager")
    for target in ("https://evil.example/", "//evil.example/", "/admin/client/"):
        response = web.post(f"{LIST}columns/", data={"columns": ["number"], "url": target})
        assert response.status_code == 302 and response.headers["Location"].endswith(LIST), target


def test_reset_brings_back_the_defaults(en_client, db_session):
    contract(db_session)
    web = en_client("account_manager")
    web.post(f"{LIST}columns/", data={"columns": ["number", "status"], "url": LIST})
    assert headers(web.get(LIST).get_data(as_text=True)) == ["number", "status"]
    response = web.post(f"{LIST}columns/", data={"columns": ["number"], "reset": "1", "url": LIST})
    assert response.status_code == 302 and saved(db_session, "account_manager") is None
    page = web.get(LIST).get_data(as_text=True)
    assert headers(page) == DEFAULT and "The list shows its default columns again." in page


def test_saving_needs_the_csrf_token_and_the_list_right(csrf_app, db_session):
    web = csrf_app.test_client()
    assert login(web, "account_manager").status_code == 302
    response = web.post(f"{LIST}columns/", data={"columns": ["number", "status"], "url": LIST})
    assert response.status_code == 400 and saved(db_session, "account_manager") is None
    token = csrf_token_from(web.get(LIST).data)
    response = web.post(f"{LIST}columns/", data={"columns": ["number", "status"], "url": LIST, "csrf_token": token})
    assert response.status_code == 302 and saved(db_session, "account_manager") == ["number", "status"]
    anonymous = csrf_app.test_client()
    assert anonymous.post(f"{LIST}columns/", data={"columns": ["number"]}).status_code in (302, 400)


def test_without_the_list_right_nothing_is_saved(client_as, db_session):
    response = client_as("clerk").post("/admin/invoice/columns/", data={"columns": ["number"]})
    assert response.status_code == 403 and saved(db_session, "clerk", "invoice") is None


def test_a_chosen_related_column_costs_no_statement(app, en_client, db_session):
    client = make_client(db_session, "account_manager", name="语句计数有限公司")
    opportunities = [make_opportunity(db_session, title=f"语句计数机会{i}", client=client) for i in range(3)]
    for i, opportunity in enumerate(opportunities):
        make_contract(db_session, client, "100.00", number=f"HT-SQL-{i}", opportunity=opportunity)
    db_session.commit()
    web = en_client("account_manager")
    web.get(LIST)
    with count_queries(app) as default:
        page = web.get(LIST).get_data(as_text=True)
    assert len(cells(page, "number")) >= 3
    web.post(f"{LIST}columns/", data={"columns": [*DEFAULT, "opportunity", "type", "scan_file"], "url": LIST})
    web.get(LIST)
    with count_queries(app) as chosen:
        page = web.get(LIST).get_data(as_text=True)
    assert "opportunity" in headers(page)
    shown = cells(page, "opportunity")
    assert all(any(text.startswith(f"语句计数机会{i}") for text in shown) for i in range(3)), shown
    assert len(chosen) == len(default), chosen


def test_the_export_keeps_its_declared_columns(en_client, db_session):
    contract(db_session)
    web = en_client("admin")
    web.post(f"{LIST}columns/", data={"columns": ["number", "status"], "url": LIST})
    rows = list(csv.reader(io.StringIO(web.get(f"{LIST}export/csv/").get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows[0]) == 13  # number … scan: every column the export declares, not the two shown
    assert rows[1][0] == "HT-WIDE-1"


def test_a_masked_column_stays_masked_when_chosen(en_client, db_session):
    target = user(db_session, "clerk")
    target.id_card = "11010519491231002X"
    db_session.commit()
    viewer = en_client(_user_viewer(db_session))
    viewer.post("/admin/user/columns/", data={"columns": ["username", "id_card"], "url": "/admin/user/"})
    page = viewer.get("/admin/user/?search=clerk").get_data(as_text=True)
    assert headers(page) == ["username", "id_card"]
    assert "1101**********002X" in cells(page, "id_card") and "11010519491231002X" not in page
    admin = en_client("admin")
    admin.post("/admin/user/columns/", data={"columns": ["username", "id_card"], "url": "/admin/user/"})
    assert "11010519491231002X" in cells(admin.get("/admin/user/?search=clerk").get_data(as_text=True), "id_card")


def _user_viewer(session) -> str:
    from tests.factories import person

    return person(session, "user.view")


# ------------------------------------------------------------------------- badges
def test_statuses_are_coloured_badges(en_client, db_session):
    contract(db_session, status="approved")
    client = make_client(db_session, "account_manager", name="徽章测试有限公司")
    make_contract(db_session, client, "1.00", number="HT-WIDE-2", status="draft")
    make_contract(db_session, client, "1.00", number="HT-WIDE-3", status="terminated")
    db_session.commit()
    page = en_client("admin").get(f"{LIST}?search=HT-WIDE").get_data(as_text=True)
    assert '<span class="badge badge-success crm-badge" data-state="approved">Approved</span>' in page
    assert '<span class="badge badge-secondary crm-badge" data-state="draft">Draft</span>' in page
    assert '<span class="badge badge-danger crm-badge" data-state="terminated">Terminated</span>' in page
    # numbers, dates and money do not wrap
    assert re.search(r'<td class="col-number">\s*<span class="text-nowrap">HT-WIDE-1</span>', page)
    assert re.search(r'<td class="col-amount">\s*<span class="text-nowrap">¥12,345.00</span>', page)
    # in Chinese the badge shows the Chinese label
    zh = en_client("admin")
    zh.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert 'data-state="approved">已审批</span>' in zh.get(f"{LIST}?search=HT-WIDE-1").get_data(as_text=True)


def test_a_choices_status_gets_its_label_in_the_badge(en_client, db_session):
    make_opportunity(db_session, title="徽章机会", assigned_to="account_manager")
    page = en_client("admin").get("/admin/opportunity/?search=徽章机会").get_data(as_text=True)
    assert '<span class="badge badge-info crm-badge" data-state="assigned">Assigned</span>' in page


# -------------------------------------------------------------------- opportunities
def test_the_opportunity_list_has_one_client_column(en_client, db_session):
    client = make_client(db_session, "sales_director", name="机会客户有限公司")
    db_session.commit()
    make_opportunity(db_session, title="有客户的机会", client=client, customer_name="机会客户有限公司")
    make_opportunity(db_session, title="无客户的机会", customer_name="手填客户名称有限公司")
    page = en_client("admin").get("/admin/opportunity/?search=的机会").get_data(as_text=True)
    columns = headers(page)
    assert "client" in columns and "customer_name" not in columns
    assert sorted(cells(page, "client")) == ["手填客户名称有限公司", "机会客户有限公司"]
    assert re.search(r'<td class="col-client">\s*<a href="/admin/client/details/\?id=\d+">机会客户有限公司</a>', page)


# ------------------------------------------------------------------ parallel saves
def test_parallel_saves_of_one_list_leave_one_row(http_user, db_session):
    """The same user saving the same list from several tabs at once: every save answers
    (no 500), one row remains (the primary key is user and list), holding one of the sets."""
    tabs = [http_user("account_manager") for _ in range(4)]
    sets = [["number", "status"], ["number", "client"], ["name", "amount", "type"], ["number", "starts_on"]]
    for _trial in range(3):
        results = run_parallel(
            [
                lambda tab=tab, names=names: tab.post(f"{LIST}columns/", {"columns": names})
                for tab, names in zip(tabs, sets, strict=True)
            ]
        )
        for result in results:
            assert not isinstance(result, Exception), repr(result)
            assert result[0] == 302, result[1][:500]
        db_session.expire_all()
        rows = (
            db_session.execute(
                select(UserListColumns).where(UserListColumns.user_id == user(db_session, "account_manager").id)
            )
            .scalars()
            .all()
        )
        assert len(rows) == 1 and rows[0].endpoint == "contract"
        assert rows[0].columns in [[n for n in DECLARED if n in names] for names in sets]
        _, body, _ = tabs[0].get(LIST)
        assert headers(body) == rows[0].columns
        tabs[0].post(f"{LIST}columns/", {"reset": "1"})  # the next trial starts with no row


#: the contract list's columns in their declared order (defaults, then the optional ones)
DECLARED = [*DEFAULT, "type", "received", "invoiced", "starts_on", "scan_file", "opportunity", "created_at"]


def test_the_export_sorts_by_the_column_the_user_sorted(en_client, db_session):
    from datetime import date

    client = make_client(db_session, "account_manager", name="导出排序有限公司")
    make_contract(db_session, client, "1.00", date(2026, 3, 1), number="HT-SORT-LATE")  # created first
    make_contract(db_session, client, "1.00", date(2026, 1, 1), number="HT-SORT-EARLY")
    db_session.commit()
    web = en_client("admin")
    web.post(f"{LIST}columns/", data={"columns": ["number", "client", "status", "type", "starts_on"]})
    page = web.get(f"{LIST}?search=HT-SORT&sort=4").get_data(as_text=True)  # 4: the start date, as shown
    assert cells(page, "number") == ["HT-SORT-EARLY", "HT-SORT-LATE"]
    for desc, expected in (("", ["HT-SORT-EARLY", "HT-SORT-LATE"]), ("&desc=1", ["HT-SORT-LATE", "HT-SORT-EARLY"])):
        text = web.get(f"{LIST}export/csv/?search=HT-SORT&sort=4{desc}").get_data(as_text=True).lstrip("\ufeff")
        assert [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]] == expected


def test_a_details_page_reads_no_choice(app, en_client, db_session):
    record = contract(db_session)
    web = en_client("account_manager")
    url = f"{LIST}details/?id={record.id}"
    web.get(url)
    with count_queries(app) as before:
        web.get(url)
    web.post(f"{LIST}columns/", data={"columns": ["number", "opportunity"]})
    web.get(url)
    with count_queries(app) as after:
        page = web.get(url).get_data(as_text=True)
    assert "HT-WIDE-1" in page and len(after) == len(before)
    assert not any("user_list_columns" in statement for statement in after)
