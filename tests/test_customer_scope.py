"""Data scope (SPEC §6) of the customers views (SPEC §4.3): clients by their owner, and
linkmans, follow-ups, appointments and contracts through their client — in lists, counts,
details, edit, export, ajax look-ups, select boxes, bulk delete and the client search by a
linkman's mobile.

Organisation (tests/conftest.py): 销售部 ⊃ {销售一部, 销售二部}. account_manager (own),
am_team, sales_director and clerk (department) are in 销售一部, am_other in 销售二部,
director_top (sales_director, department) in 销售部.
"""

from __future__ import annotations

import csv
import io
import json
import re
from itertools import product
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from tests.conftest import customer_rows, models_by_endpoint, module_app

ENDPOINTS = ["client", "linkman", "followup", "appointment", "contract"]
CHILD_ENDPOINTS = ENDPOINTS[1:]
#: each owns one client "客户scope-<owner>" with a linkman, follow-up, appointment, contract
OWNERS = ["account_manager", "am_team", "am_other", "sales_director", "director_top"]
MOBILES = {owner: f"1390000000{i}" for i, owner in enumerate(OWNERS)}

#: whose customers rows each user sees — written from the organisation, not from the code
SEES = {
    "account_manager": {"account_manager"},
    "am_other": {"am_other"},
    "sales_director": {"account_manager", "am_team", "sales_director"},
    "clerk": {"account_manager", "am_team", "sales_director"},
    "director_top": set(OWNERS),
    "admin": set(OWNERS),
}
#: SPEC §6: who may edit what (everybody here views all five; clerk: contracts V only)
CAN_EDIT = {
    "account_manager": set(ENDPOINTS),
    "am_other": set(ENDPOINTS),
    "sales_director": set(ENDPOINTS),
    "director_top": set(ENDPOINTS),
    "admin": set(ENDPOINTS),
    "clerk": {"client", "linkman", "followup", "appointment"},
}
#: account_manager holds no export right in the seed: the module grants it <endpoint>.export
#: so that the `own` scope of exports is tested too
EXPORTERS = ["account_manager", "sales_director", "director_top", "admin"]


def _grant(codes, role_code):
    from models import db
    from models.auth import Right, Role

    role = db.session.execute(db.select(Role).where(Role.code == role_code)).scalar_one()
    for code in codes:
        right = db.session.execute(db.select(Right).where(Right.code == code)).scalar_one()
        if right not in role.rights:
            role.rights.append(right)
    db.session.commit()


def _build(app):
    """Per owner: a client with one row of each child table; endpoint → owner → id."""
    from models import db
    from models.auth import User

    with app.app_context():
        made = {owner: customer_rows(owner, f"scope-{owner}", mobile=MOBILES[owner]) for owner in OWNERS}
        ids = {endpoint: {owner: made[owner][endpoint] for owner in OWNERS} for endpoint in ENDPOINTS}
        users = dict(db.session.execute(db.select(User.username, User.id)).all())
        db.session.remove()
    return ids, users


@pytest.fixture(scope="module")
def cs(template_db, tmp_path_factory):
    """One app and database for the read-only tests, the rows of every owner, and a
    logged-in client per user: ``cs.client("clerk")``."""
    with module_app(template_db, tmp_path_factory) as app:
        ids, users = _build(app)
        with app.app_context():
            _grant([f"{endpoint}.export" for endpoint in ENDPOINTS], "account_manager")
            from models import db

            db.session.remove()
        yield SimpleNamespace(app=app, ids=ids, users=users, client=app.login_client)


def owners_of(ids: dict[str, int], found) -> list[str]:
    """The owners whose row ids are in ``found`` (an id that is nobody's shows as '?')."""
    by_id = {row_id: owner for owner, row_id in ids.items()}
    return sorted(by_id.get(int(i), "?") for i in found)


def list_rows(client, endpoint: str, query: str = "") -> tuple[list[int], int]:
    """(row ids from the details links, the count in the list tab) of a list page."""
    response = client.get(f"/admin/{endpoint}/{query}")
    assert response.status_code == 200, response.data[:300]
    html = response.get_data(as_text=True)
    ids = [int(i) for i in re.findall(rf'href="/admin/{endpoint}/details/\?id=(\d+)', html)]
    match = re.search(r'class="nav-link active">[^<(]*\((\d+)\)</a>', html)
    return ids, int(match.group(1)) if match else 0


# ------------------------------------------------------------------ lists and counts
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("username", list(SEES))
def test_list_and_count_show_exactly_the_scope(cs, username, endpoint):
    rows, count = list_rows(cs.client(username), endpoint)
    assert owners_of(cs.ids[endpoint], rows) == sorted(SEES[username])
    assert len(rows) == len(set(rows)) == count == len(SEES[username])


@pytest.mark.parametrize("endpoint", CHILD_ENDPOINTS)
@pytest.mark.parametrize("username", ["account_manager", "sales_director"])
def test_child_search_by_client_name_stays_within_scope(cs, username, endpoint):
    """Searching every client's name ("客户scope") never reaches a row outside the scope."""
    rows, count = list_rows(cs.client(username), endpoint, f"?search={quote('客户scope')}")
    assert owners_of(cs.ids[endpoint], rows) == sorted(SEES[username])
    assert count == len(SEES[username])
    rows, count = list_rows(cs.client(username), endpoint, f"?search={quote('客户scope-am_other')}")
    assert (rows, count) == ([], 0)


# ------------------------------------------------------------------ one record
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("username", ["account_manager", "sales_director", "clerk", "director_top", "admin"])
def test_details_and_edit_outside_scope_are_404(cs, username, endpoint):
    client = cs.client(username)
    for owner in OWNERS:
        row_id = cs.ids[endpoint][owner]
        status = 200 if owner in SEES[username] else 404
        assert client.get(f"/admin/{endpoint}/details/?id={row_id}").status_code == status, owner
        edit = client.get(f"/admin/{endpoint}/edit/?id={row_id}").status_code
        assert edit == (status if endpoint in CAN_EDIT[username] else 403), owner


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_foreign_edit_post_is_404(cs, endpoint):
    """account_manager POSTs an edit of am_team's row: 404, nothing saved."""
    from models import db

    row_id = cs.ids[endpoint]["am_team"]

    def snapshot():
        with cs.app.app_context():
            row = db.session.get(models_by_endpoint()[endpoint], row_id)
            snap = {c.key: getattr(row, c.key) for c in row.__table__.columns}
            db.session.remove()
        return snap

    before = snapshot()
    response = cs.client("account_manager").post(
        f"/admin/{endpoint}/edit/?id={row_id}",
        data={"name": "hijacked", "content": "hijacked", "position": "hijacked", "loaded_version": "1"},
    )
    assert response.status_code == 404
    assert snapshot() == before


# ------------------------------------------------------------------ export
def _csv_owners(body: str) -> list[str]:
    owners = []
    for row in list(csv.reader(io.StringIO(body)))[1:]:
        marked = set(re.findall(r"scope-([a-z_]+)", ",".join(row)))
        assert len(marked) == 1, row  # a row and its client belong to one owner
        owners += marked
    return sorted(owners)


@pytest.mark.parametrize(
    "username,endpoint", [pytest.param(u, e, id=f"{u}-{e}") for u, e in product(EXPORTERS, ENDPOINTS)]
)
def test_export_contains_only_the_scope(cs, username, endpoint):
    response = cs.client(username).get(f"/admin/{endpoint}/export/csv/")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "text/csv"
    assert _csv_owners(response.get_data(as_text=True)) == sorted(SEES[username])


def _xlsx_owners(data: bytes) -> list[str]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    owners = []
    for row in list(sheet.iter_rows(values_only=True))[1:]:
        marked = set(re.findall(r"scope-([a-z_]+)", ",".join(str(v) for v in row if v is not None)))
        assert len(marked) == 1, row
        owners += marked
    return sorted(owners)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("username", EXPORTERS)
def test_xlsx_export_contains_only_the_scope(cs, username, endpoint):
    """The XLSX export (built inside the request) — covers the client export despite the CSV bug."""
    response = cs.client(username).get(f"/admin/{endpoint}/export/xlsx/")
    assert response.status_code == 200, response.data[:300]
    assert _xlsx_owners(response.data) == sorted(SEES[username])


def test_export_selected_clients_ignores_foreign_ids(cs):
    """The client action "export selected" with every id exports only the scope."""
    all_ids = ",".join(str(i) for i in cs.ids["client"].values())
    response = cs.client("sales_director").get(f"/admin/client/export/csv/?flt_ids={all_ids}")
    assert response.status_code == 200
    assert _csv_owners(response.get_data(as_text=True)) == sorted(SEES["sales_director"])


def test_export_selected_action_redirects_to_an_export_of_the_scope(cs):
    """The same through the action and XLSX: every id selected, only the scope exported."""
    client = cs.client("sales_director")
    response = client.post(
        "/admin/client/action/",
        data={"action": "export_selected", "rowid": [str(i) for i in cs.ids["client"].values()]},
    )
    assert response.status_code == 302
    location = response.headers["Location"].replace("/export/csv/", "/export/xlsx/")
    response = client.get(location)
    assert response.status_code == 200
    assert _xlsx_owners(response.data) == sorted(SEES["sales_director"])


# ------------------------------------------------------------------ look-ups and select boxes
@pytest.mark.parametrize("endpoint", CHILD_ENDPOINTS)
@pytest.mark.parametrize("username", ["account_manager", "sales_director", "director_top", "admin"])
def test_ajax_client_lookup_offers_only_clients_in_scope(cs, username, endpoint):
    client = cs.client(username)
    response = client.get(f"/admin/{endpoint}/ajax/lookup/?name=client&query={quote('scope')}")
    assert response.status_code == 200, response.data[:300]
    found = [row[0] for row in json.loads(response.data)]
    assert owners_of(cs.ids["client"], found) == sorted(SEES[username])
    # asking for a foreign client by (part of) its name finds nothing
    response = client.get(f"/admin/{endpoint}/ajax/lookup/?name=client&query={quote('scope-am_other')}")
    found = [row[0] for row in json.loads(response.data)]
    assert found == ([cs.ids["client"]["am_other"]] if "am_other" in SEES[username] else [])


def _client_input(html: str) -> str:
    match = re.search(r'<input[^>]*name="client"[^>]*>', html)
    assert match, "no client field"
    return match.group(0)


@pytest.mark.parametrize("endpoint", CHILD_ENDPOINTS)
def test_create_form_preselects_only_a_client_in_scope(cs, endpoint):
    client = cs.client("account_manager")
    own, foreign = cs.ids["client"]["account_manager"], cs.ids["client"]["am_team"]
    field = _client_input(client.get(f"/admin/{endpoint}/new/?client_id={own}").get_data(as_text=True))
    assert f'value="{own}"' in field
    field = _client_input(client.get(f"/admin/{endpoint}/new/?client_id={foreign}").get_data(as_text=True))
    assert "value=" not in field.replace("data-", "")


def test_creating_a_linkman_for_a_foreign_client_is_refused(fresh, client_as):
    """A client id outside the scope, posted by hand, is not accepted by the ajax field."""
    from models import db
    from models.customers import Linkman

    response = client_as("account_manager").post(
        "/admin/linkman/new/",
        data={
            "client": str(fresh.ids["client"]["am_team"]),
            "name": "越权联系人",
            "position": "经理",
            "gender": "男",
            "mobile": "13811112222",
        },
    )
    assert response.status_code == 200  # the form again, with an error
    with fresh.app.app_context():
        assert db.session.execute(db.select(Linkman).where(Linkman.name == "越权联系人")).first() is None
        db.session.remove()


@pytest.mark.parametrize("endpoint", ["followup", "contract"])
def test_linkman_select_box_offers_only_linkmans_in_scope(cs, endpoint):
    """The contact select of follow-ups and contracts lists the scope's linkmans only."""
    page = cs.client("sales_director").get(f"/admin/{endpoint}/new/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    select = re.search(r'<select[^>]*name="linkman".*?</select>', html, re.S)
    assert select, "no linkman select"
    assert sorted(re.findall(r"联系人scope-([a-z_]+)", select.group(0))) == sorted(SEES["sales_director"])


# ------------------------------------------------------------------ changes: fresh database
@pytest.fixture
def fresh(app):
    """A fresh database with the rows of every owner (for tests that change data)."""
    ids, users = _build(app)
    return SimpleNamespace(app=app, ids=ids, users=users)


def _client_states(app, client_ids):
    from models import db
    from models.customers import Client

    with app.app_context():
        states = {i: db.session.get(Client, i).is_deleted for i in client_ids}
        db.session.remove()
    return states


def test_bulk_delete_of_clients_changes_only_rows_in_scope(fresh, client_as):
    """sales_director holds client.delete; clients without contracts, one per owner."""
    from models import db

    with fresh.app.app_context():
        bare = {owner: customer_rows(owner, f"bare-{owner}", children=("linkman",))["client"] for owner in OWNERS}
        db.session.remove()
    response = client_as("sales_director").post(
        "/admin/client/action/", data={"action": "delete", "rowid": [str(i) for i in bare.values()]}
    )
    assert response.status_code == 302
    states = _client_states(fresh.app, bare.values())
    assert {owner for owner, i in bare.items() if states[i]} == SEES["sales_director"]


def test_bulk_delete_without_the_right_changes_nothing(fresh, client_as):
    from models import db

    with fresh.app.app_context():
        own = customer_rows("account_manager", "bare-own", children=())["client"]
        db.session.remove()
    response = client_as("account_manager").post(
        "/admin/client/action/", data={"action": "delete", "rowid": [str(own)]}
    )
    assert response.status_code in (302, 403)
    assert _client_states(fresh.app, [own]) == {own: False}


@pytest.mark.parametrize("endpoint", ["linkman", "followup", "appointment"])
def test_bulk_and_single_delete_of_children_stay_within_scope(fresh, client_as, endpoint):
    from models import db

    model = models_by_endpoint()[endpoint]
    client = client_as("sales_director")
    foreign = fresh.ids[endpoint]["am_other"]
    assert client.post(f"/admin/{endpoint}/delete/", data={"id": str(foreign)}).status_code == 404
    response = client.post(
        f"/admin/{endpoint}/action/", data={"action": "delete", "rowid": [str(i) for i in fresh.ids[endpoint].values()]}
    )
    assert response.status_code == 302
    with fresh.app.app_context():
        left = {owner for owner, i in fresh.ids[endpoint].items() if db.session.get(model, i) is not None}
        db.session.remove()
    assert left == set(OWNERS) - SEES["sales_director"]


def test_bulk_delete_of_contracts_needs_the_right_and_stays_within_scope(fresh, client_as):
    """Only the admin deletes contracts (sales_director: VCEX); granted here, the scope holds."""
    from models import db
    from models.customers import Contract

    ids = fresh.ids["contract"]
    response = client_as("sales_director").post(
        "/admin/contract/action/", data={"action": "delete", "rowid": [str(i) for i in ids.values()]}
    )
    assert response.status_code in (302, 403)
    with fresh.app.app_context():
        assert not any(db.session.get(Contract, i).is_deleted for i in ids.values())
        _grant(["contract.delete"], "sales_director")
        db.session.remove()
    response = client_as("sales_director").post(
        "/admin/contract/action/", data={"action": "delete", "rowid": [str(i) for i in ids.values()]}
    )
    assert response.status_code == 302
    with fresh.app.app_context():
        deleted = {owner for owner, i in ids.items() if db.session.get(Contract, i).is_deleted}
        db.session.remove()
    assert deleted == SEES["sales_director"]


# ------------------------------------------------------------------ search by a linkman's mobile
SHARED_MOBILE = "13712345678"


@pytest.fixture
def shared_mobile(fresh):
    """Two linkmans of account_manager's client and one of am_other's share a mobile that
    no client's own contact mobile has."""
    from models import db

    with fresh.app.app_context():
        for owner, count in (("account_manager", 2), ("am_other", 1)):
            for n in range(count):
                customer_rows(
                    owner,
                    f"shared-{owner}-{n}",
                    children=("linkman",),
                    mobile=SHARED_MOBILE,
                    client_id=fresh.ids["client"][owner],
                )
        db.session.remove()
    return fresh


@pytest.mark.parametrize(
    "username,owners",
    [
        ("account_manager", ["account_manager"]),
        ("sales_director", ["account_manager"]),
        ("am_other", ["am_other"]),
        ("clerk", ["account_manager"]),
        ("director_top", ["account_manager", "am_other"]),
        ("admin", ["account_manager", "am_other"]),
    ],
)
def test_client_search_by_linkman_mobile_is_scoped_and_counts_each_client_once(
    shared_mobile, client_as, username, owners
):
    rows, count = list_rows(client_as(username), "client", f"?search={SHARED_MOBILE}")
    assert owners_of(shared_mobile.ids["client"], rows) == owners
    assert count == len(owners)


def test_client_search_by_a_foreign_linkman_mobile_finds_nothing(fresh, client_as):
    client = client_as("account_manager")
    assert list_rows(client, "client", f"?search={MOBILES['am_team']}") == ([], 0)
    rows, count = list_rows(client, "client", f"?search={MOBILES['account_manager']}")
    assert owners_of(fresh.ids["client"], rows) == ["account_manager"] and count == 1
