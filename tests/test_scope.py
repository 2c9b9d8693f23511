"""Data scope (SPEC §6) through CrmModelView, on test-only models (tests/probe_models.py):
lists, counts, details, edit, delete, bulk actions, export, the recycle bin, a child
table scoped through its parent, and no N+1 for the owner column.

Organisation (tests/conftest.py): 销售部 ⊃ {销售一部, 销售二部}. account_manager, am_team and
sales_director are in 销售一部, am_other in 销售二部, director_top in 销售部.
"""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest

from tests.conftest import count_queries, module_app
from views.crud import CrmModelView

#: note/line owners; each owns one note "note:<owner>", some own a line "line:<owner>"
OWNERS = ["account_manager", "am_team", "am_other", "sales_director", "director_top"]
LINE_OWNERS = ["account_manager", "am_team", "am_other", "director_top"]
GRANTED = {"account_manager": "own", "sales_director": "department", "admin": "all"}

#: who sees whose notes — written from the organisation above, not from the code
SEES = {
    "account_manager": {"account_manager"},
    "am_other": {"am_other"},
    "sales_director": {"account_manager", "am_team", "sales_director"},
    "director_top": set(OWNERS),
    "admin": set(OWNERS),
}


class ProbeNoteView(CrmModelView):
    column_list = ("title", "owner")
    column_searchable_list = ("title",)


class ProbeLineView(CrmModelView):
    column_list = ("note", "text")


def install_probe(app):
    """Tables, views, rights and rows of the probe models on ``app`` (the views before its
    first request, once)."""
    from models import db
    from models.auth import Right, Role, User
    from tests.probe_models import ProbeLine, ProbeNote

    admin = app.extensions["admin"][0]
    if "probe_note" not in {view.endpoint for view in admin._views}:  # a shared app keeps them
        admin.add_view(ProbeNoteView(ProbeNote, name="Probe notes", endpoint="probe_note"))
        admin.add_view(ProbeLineView(ProbeLine, name="Probe lines", endpoint="probe_line"))
    with app.app_context():
        ProbeNote.__table__.create(db.engine)
        ProbeLine.__table__.create(db.engine)
        roles = db.session.execute(db.select(Role).where(Role.code.in_(GRANTED))).scalars().all()
        assert {r.code: r.data_scope for r in roles} == GRANTED
        for endpoint in ("probe_note", "probe_line"):
            for op in ("view", "create", "edit", "delete", "export"):
                right = Right(code=f"{endpoint}.{op}", type="action", text=f"{endpoint}-{op}", endpoint=endpoint)
                db.session.add(right)
                for role in roles:
                    role.rights.append(right)
        users = {u.username: u.id for u in db.session.execute(db.select(User)).scalars()}
        notes = {owner: ProbeNote(title=f"note:{owner}", owner_id=users[owner]) for owner in OWNERS}
        db.session.add_all(notes.values())
        db.session.flush()
        lines = {owner: ProbeLine(note_id=notes[owner].id, text=f"line:{owner}") for owner in LINE_OWNERS}
        db.session.add_all(lines.values())
        db.session.commit()
        ns = SimpleNamespace(
            app=app,
            Note=ProbeNote,
            Line=ProbeLine,
            users=users,
            note={o: n.id for o, n in notes.items()},
            line={o: n.id for o, n in lines.items()},
        )
        db.session.remove()
    return ns


@pytest.fixture
def app(shared_app):
    """The worker's shared app of the probe (its own ``role``): install_probe adds the views
    to it in its first test, before its first request (an app that has served requests
    refuses new views), and the tables and rows to each test's fresh database."""
    return shared_app(role="probe")


@pytest.fixture
def probe(app):
    """A fresh app and database with the probe models, for tests that change data."""
    return install_probe(app)


@pytest.fixture(scope="module")
def probe_ro(template_db, tmp_path_factory):
    """One app per module for the read-only tests (SQLite copy or PostgreSQL clone), plus
    a logged-in client per user: ``probe_ro.client("clerk")``."""
    with module_app(template_db, tmp_path_factory) as app:
        ns = install_probe(app)
        ns.client = app.login_client
        yield ns


def note_state(probe, note_id):
    from models import db

    with probe.app.app_context():
        note = db.session.get(probe.Note, note_id)
        state = None if note is None else (note.is_deleted, note.title, note.version)
        db.session.remove()
    return state


def listed(html: str, kind: str = "note") -> list[str]:
    """Owners of the rows on a list page (from the title/text cells)."""
    return re.findall(rf'<td class="col-(?:title|text)">\s*{kind}:([a-z_]+)\s*</td>', html)


def list_count(html: str) -> int:
    match = re.search(r'class="nav-link active">[^<(]*\((\d+)\)</a>', html)
    return int(match.group(1)) if match else 0


def get_list(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.data[:300]
    html = response.get_data(as_text=True)
    return listed(html, "line" if "probe_line" in url else "note"), list_count(html)


# ------------------------------------------------------------------ lists and counts
@pytest.mark.parametrize("username", list(SEES))
def test_list_and_count_show_exactly_the_scope(probe_ro, username):
    rows, count = get_list(probe_ro.client(username), "/admin/probe_note/")
    assert sorted(rows) == sorted(SEES[username])
    assert count == len(SEES[username])


@pytest.mark.parametrize("username", ["account_manager", "sales_director", "director_top"])
def test_search_stays_within_scope(probe_ro, username):
    rows, count = get_list(probe_ro.client(username), "/admin/probe_note/?search=note")
    assert sorted(rows) == sorted(SEES[username])
    assert count == len(SEES[username])
    rows, count = get_list(probe_ro.client(username), "/admin/probe_note/?search=am_other")
    assert rows == (["am_other"] if "am_other" in SEES[username] else [])


@pytest.mark.parametrize("username", list(SEES))
def test_child_rows_are_scoped_through_their_parent(probe_ro, username):
    rows, count = get_list(probe_ro.client(username), "/admin/probe_line/")
    assert sorted(rows) == sorted(SEES[username] & set(LINE_OWNERS))
    assert count == len(SEES[username] & set(LINE_OWNERS))


# ------------------------------------------------------------------ one record
@pytest.mark.parametrize("username", ["account_manager", "sales_director", "director_top"])
def test_details_and_edit_outside_scope_are_404(probe_ro, username):
    client = probe_ro.client(username)
    for owner in OWNERS:
        status = 200 if owner in SEES[username] else 404
        note_id = probe_ro.note[owner]
        assert client.get(f"/admin/probe_note/details/?id={note_id}").status_code == status, owner
        assert client.get(f"/admin/probe_note/edit/?id={note_id}").status_code == status, owner
    for owner in LINE_OWNERS:
        status = 200 if owner in SEES[username] else 404
        line_id = probe_ro.line[owner]
        assert client.get(f"/admin/probe_line/details/?id={line_id}").status_code == status, owner
        assert client.get(f"/admin/probe_line/edit/?id={line_id}").status_code == status, owner


def test_foreign_edit_post_is_404_and_changes_nothing(probe, client_as):
    client = client_as("account_manager")
    foreign = probe.note["am_team"]
    before = note_state(probe, foreign)
    response = client.post(f"/admin/probe_note/edit/?id={foreign}", data={"title": "hijacked", "loaded_version": "1"})
    assert response.status_code == 404
    assert note_state(probe, foreign) == before


def test_own_edit_works_and_owner_is_not_offered_to_own_scope(probe, client_as):
    client = client_as("account_manager")
    own = probe.note["account_manager"]
    page = client.get(f"/admin/probe_note/edit/?id={own}").get_data(as_text=True)
    assert 'name="title"' in page
    assert 'name="owner"' not in page  # SPEC §6: forms hide the owner for `own` scope
    response = client.post(
        f"/admin/probe_note/edit/?id={own}", data={"title": "note:account_manager_v2", "loaded_version": "1"}
    )
    assert response.status_code == 302
    assert note_state(probe, own)[1:] == ("note:account_manager_v2", 2)


def test_create_makes_the_user_the_owner(probe, client_as):
    from models import db

    client = client_as("account_manager")
    response = client.post("/admin/probe_note/new/", data={"title": "note:fresh"})
    assert response.status_code == 302
    with probe.app.app_context():
        note = db.session.execute(db.select(probe.Note).where(probe.Note.title == "note:fresh")).scalar_one()
        assert note.owner_id == probe.users["account_manager"]
        db.session.remove()


def test_single_delete_of_a_foreign_note_is_404(probe, client_as):
    client = client_as("account_manager")
    foreign = probe.note["am_team"]
    response = client.post("/admin/probe_note/delete/", data={"id": str(foreign)})
    assert response.status_code == 404
    assert note_state(probe, foreign)[0] is False


def test_foreign_line_delete_is_404(probe, client_as):
    from models import db

    client = client_as("sales_director")
    foreign = probe.line["am_other"]
    assert client.post("/admin/probe_line/delete/", data={"id": str(foreign)}).status_code == 404
    response = client.post("/admin/probe_line/action/", data={"action": "delete", "rowid": [str(foreign)]})
    assert response.status_code == 302
    with probe.app.app_context():
        assert db.session.get(probe.Line, foreign) is not None
        db.session.remove()


# ------------------------------------------------------------------ bulk actions, export
def test_bulk_delete_ignores_ids_outside_scope(probe, client_as):
    client = client_as("account_manager")
    own, foreign, other = probe.note["account_manager"], probe.note["am_team"], probe.note["am_other"]
    response = client.post(
        "/admin/probe_note/action/", data={"action": "delete", "rowid": [str(own), str(foreign), str(other)]}
    )
    assert response.status_code == 302
    assert note_state(probe, own)[0] is True
    assert note_state(probe, foreign)[0] is False
    assert note_state(probe, other)[0] is False


@pytest.mark.parametrize("username", ["account_manager", "sales_director", "admin"])
def test_export_contains_only_the_scope(probe_ro, username):
    response = probe_ro.client(username).get("/admin/probe_note/export/csv/")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    titles = sorted(row[0] for row in rows[1:])
    assert titles == sorted(f"note:{owner}" for owner in SEES[username])


def test_line_export_contains_only_the_scope(probe_ro):
    response = probe_ro.client("sales_director").get("/admin/probe_line/export/csv/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert sorted(re.findall(r"line:([a-z_]+)", body)) == ["account_manager", "am_team"]


# ------------------------------------------------------------------ recycle bin
def _bin_rows(client):
    return get_list(client, "/admin/probe_note/?bin=1")[0]


def test_soft_delete_recycle_bin_and_restore(probe, client_as):
    client = client_as("account_manager")
    own = probe.note["account_manager"]
    response = client.post("/admin/probe_note/action/", data={"action": "delete", "rowid": [str(own)]})
    assert response.status_code == 302
    assert note_state(probe, own)[0] is True
    assert get_list(client, "/admin/probe_note/") == ([], 0)
    assert _bin_rows(client) == ["account_manager"]
    # a deleted record can be looked at but not edited
    assert client.get(f"/admin/probe_note/details/?id={own}").status_code == 200
    assert client.get(f"/admin/probe_note/edit/?id={own}").status_code == 404

    response = client.post("/admin/probe_note/action/?bin=1", data={"action": "restore", "rowid": [str(own)]})
    assert response.status_code == 302
    assert note_state(probe, own)[0] is False
    assert get_list(client, "/admin/probe_note/")[0] == ["account_manager"]
    assert _bin_rows(client) == []


def test_recycle_bin_is_scoped_and_foreign_restore_is_ignored(probe, client_as):
    from models import db

    with probe.app.app_context():
        for owner in ("am_team", "account_manager"):
            db.session.get(probe.Note, probe.note[owner]).soft_delete(None)
        db.session.commit()
        db.session.remove()
    client = client_as("account_manager")
    assert _bin_rows(client) == ["account_manager"]
    foreign = probe.note["am_team"]
    for url in ("/admin/probe_note/action/?bin=1", "/admin/probe_note/action/"):
        response = client.post(url, data={"action": "restore", "rowid": [str(foreign)]})
        assert response.status_code == 302
        assert note_state(probe, foreign)[0] is True
    # the admin sees both in the bin; account_manager may not purge
    assert sorted(_bin_rows(client_as("admin"))) == ["account_manager", "am_team"]
    response = client.post(
        "/admin/probe_note/action/?bin=1", data={"action": "purge", "rowid": [str(probe.note["account_manager"])]}
    )
    assert response.status_code == 403  # SPEC §2.3: an action without its right is refused as such
    assert note_state(probe, probe.note["account_manager"])[0] is True


def test_restore_through_the_recycle_bin_page_form(probe, client_as):
    """The form the recycle bin page renders (no ?bin=1 in its action URL) restores."""
    client = client_as("account_manager")
    own = probe.note["account_manager"]
    client.post("/admin/probe_note/action/", data={"action": "delete", "rowid": [str(own)]})
    page = client.get("/admin/probe_note/?bin=1").get_data(as_text=True)
    assert 'data-crm-action="restore"' in page
    action_url = re.search(r'<form id="action_form" action="([^"]+)"', page).group(1)
    response = client.post(action_url.replace("&amp;", "&"), data={"action": "restore", "rowid": [str(own)]})
    assert response.status_code == 302
    assert note_state(probe, own)[0] is False


# ------------------------------------------------------------------ SQL statements
@pytest.mark.parametrize("username", ["admin", "sales_director"])
def test_list_query_count_does_not_grow_with_page_size(probe, client_as, username):
    """150 notes with 150 different owners: a lazy `owner` would cost one query per row."""
    from models import db
    from models.auth import Department, Role, User

    with probe.app.app_context():
        role_id = db.session.execute(db.select(Role.id).where(Role.code == "clerk")).scalar_one()
        team = db.session.execute(db.select(Department.id).where(Department.name == "销售一部")).scalar_one()
        db.session.execute(
            db.insert(User),
            [
                {
                    "username": f"bulk{i:03d}",
                    "name": f"批量{i:03d}",
                    "password_hash": "!",
                    "role_id": role_id,
                    "department_id": team,
                    "is_active": True,
                }
                for i in range(150)
            ],
        )
        ids = db.session.execute(db.select(User.id).where(User.username.like("bulk%"))).scalars().all()
        db.session.execute(
            db.insert(probe.Note), [{"title": f"bulk note {i}", "owner_id": owner_id} for i, owner_id in enumerate(ids)]
        )
        db.session.commit()
        db.session.remove()
    client = client_as(username)
    client.get("/admin/probe_note/?page_size=20")  # warm-up (first-request caches)
    with count_queries(probe.app) as small:
        page = client.get("/admin/probe_note/?page_size=20")
    assert page.data.count(b'name="rowid"') == 20
    with count_queries(probe.app) as large:
        page = client.get("/admin/probe_note/?page_size=100")
    assert page.data.count(b'name="rowid"') == 100
    assert "批量" in page.get_data(as_text=True)  # the owner column is rendered
    assert len(small) == len(large), (len(small), len(large))
