"""The list engine (views/crud/paging.py): capped counts with the exact count on a click,
keyset pages (next / previous / first / last, both directions, NULLs and ties), links
that stay put while rows are inserted, tampered cursors, and counts within the scope."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from models.auth import SystemConfig
from models.base import utcnow
from models.customers import Client
from models.lookups import Area, ClientType
from tests.factories import lookup, user

ROW_ID = re.compile(r'name="rowid"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="rowid"')
#: ClientView's list columns, by position (Flask-Admin's ``sort=`` is a column index)
NAME, TYPE, CONTACT, UPDATED = 0, 2, 5, 7


def ids_in(response) -> list[int]:
    return [int(a or b) for a, b in ROW_ID.findall(response.get_data(as_text=True))]


def link(response, key: str) -> str | None:
    found = re.search(rf'id="pager-{key}" href="([^"]+)"', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def label(response) -> str:
    return re.search(r'id="pager-label">([^<]*)<', response.get_data(as_text=True)).group(1)


def bulk_clients(session, count, owner="admin", prefix="分页客户", **extra):
    """``count`` clients in one INSERT: contact names with ties, types with NULLs (no
    type: the sort's outer join gives NULL) and ties, update times with ties."""
    owner = user(session, owner)
    types = [lookup(session, ClientType, name).id for name in ("普通客户", "重要客户")]
    area = lookup(session, Area, "北京").id
    now = utcnow()
    rows = [
        {
            "name": f"{prefix}{i:03d}",
            "name_key": f"{prefix}{i:03d}",
            "address": "地址",
            "phone": "010-12345678",
            "contact_name": f"联系人{i % 7}",
            "contact_mobile": f"138{i:08d}",
            "type_id": None if i % 4 == 0 else types[i % 2],
            "owner_id": owner.id,
            "area_id": area,
            "version": 1,
            "is_deleted": False,
            "created_at": now,
            "updated_at": now - timedelta(minutes=i // 3),
            **extra,
        }
        for i in range(count)
    ]
    session.execute(insert(Client), rows)
    session.commit()
    return [i for (i,) in session.execute(select(Client.id).where(Client.name.like(f"{prefix}%")))]


def expected_order(session, key, desc):
    """All live clients in the list's order, computed here: NULLs as the database orders
    them (smallest on SQLite, largest on PostgreSQL), id breaks ties in the same direction."""
    clients = session.execute(select(Client).where(Client.live())).scalars().all()
    nulls_small = session.get_bind().dialect.name == "sqlite"

    def sort_key(c):
        value = key(c)
        return ((value is not None) == nulls_small, value if value is not None else 0, c.id)

    return [c.id for c in sorted(clients, key=sort_key, reverse=desc)]


def walk_forward(client, url):
    pages, response = [], client.get(url)
    while True:
        assert response.status_code == 200
        pages.append(ids_in(response))
        nxt = link(response, "next")
        if nxt is None:
            return pages
        response = client.get(nxt)


def walk_back(client, url):
    response = client.get(url)
    pages = []
    while True:
        assert response.status_code == 200
        pages.insert(0, ids_in(response))
        prev = link(response, "prev")
        if prev is None:
            return pages
        response = client.get(prev)


SORTS = [
    pytest.param(None, None, lambda c: c.updated_at, True, id="default-updated_at-desc"),
    pytest.param(NAME, 0, lambda c: c.name, False, id="name-asc"),
    pytest.param(CONTACT, 0, lambda c: c.contact_name, False, id="contact-asc-ties"),
    pytest.param(CONTACT, 1, lambda c: c.contact_name, True, id="contact-desc-ties"),
    pytest.param(TYPE, 0, lambda c: c.type_id, False, id="type-asc-nulls"),
    pytest.param(TYPE, 1, lambda c: c.type_id, True, id="type-desc-nulls"),
]


@pytest.mark.parametrize("sort,desc,key,descending", SORTS)
def test_keyset_pages_walk_the_whole_list_both_ways(client_as, db_session, sort, desc, key, descending):
    bulk_clients(db_session, 47)
    expected = expected_order(db_session, key, descending)
    admin = client_as("admin")
    args = "page_size=20" + (f"&sort={sort}" if sort is not None else "") + ("&desc=1" if desc else "")
    forward = walk_forward(admin, f"/admin/client/?{args}")
    assert [len(p) for p in forward] == [20, 20, 7]
    assert sum(forward, []) == expected
    # from the last page backwards: the last 20 rows, then the 20 before them, …
    back = walk_back(admin, f"/admin/client/?{args}&last=1")
    assert back[-1] == expected[-20:]
    assert sum(back, [])[-40:] == expected[-40:]
    assert back[0] == expected[: len(back[0])]
    last = admin.get(f"/admin/client/?{args}&last=1")
    assert link(last, "next") is None and link(last, "last") is None
    first = admin.get(link(last, "first"))
    assert ids_in(first) == expected[:20] and link(first, "prev") is None


def test_links_stay_put_while_rows_are_inserted(client_as, db_session):
    bulk_clients(db_session, 50)
    admin = client_as("admin")
    page1 = admin.get("/admin/client/?page_size=20")
    before = ids_in(admin.get(link(page1, "next")))
    # newer than every row: they go on top of page 1, not into page 2
    bulk_clients(db_session, 5, prefix="新插入客户", updated_at=utcnow() + timedelta(hours=1))
    after = admin.get(link(page1, "next"))
    assert ids_in(after) == before
    assert ids_in(admin.get(link(after, "prev"))) == ids_in(page1)
    assert len(ids_in(admin.get("/admin/client/?page_size=20&last=1"))) == 20


def test_old_page_numbers_still_work(client_as, db_session):
    bulk_clients(db_session, 50)
    expected = expected_order(db_session, lambda c: c.updated_at, True)
    admin = client_as("admin")
    page = admin.get("/admin/client/?page_size=20&page=1")
    assert ids_in(page) == expected[20:40]
    assert "21–40" in label(page)
    assert ids_in(admin.get(link(page, "next"))) == expected[40:]
    assert ids_in(admin.get(link(page, "prev"))) == expected[:20]


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "eyJzIjpbIiIsdHJ1ZV0sInYiOm51bGwsImkiOjEsInAiOjB9.forged", "%00%ff", "a" * 3000],
)
def test_a_tampered_cursor_shows_the_first_page_with_a_message(en_client, db_session, cursor):
    bulk_clients(db_session, 25)
    expected = expected_order(db_session, lambda c: c.updated_at, True)
    admin = en_client("admin")
    for arg in ("after", "before"):
        response = admin.get(f"/admin/client/?page_size=20&{arg}={cursor}")
        assert response.status_code == 200
        assert ids_in(response) == expected[:20]
        assert "The page link was not valid" in response.get_data(as_text=True)


def test_a_cursor_of_another_order_is_refused(en_client, db_session):
    bulk_clients(db_session, 25)
    admin = en_client("admin")
    by_name = admin.get(f"/admin/client/?page_size=20&sort={NAME}")
    cursor = re.search(r"after=([^&]+)", link(by_name, "next")).group(1)
    response = admin.get(f"/admin/client/?page_size=20&sort={CONTACT}&after={cursor}")
    assert response.status_code == 200
    assert "The page link was not valid" in response.get_data(as_text=True)
    assert ids_in(response) == ids_in(admin.get(f"/admin/client/?page_size=20&sort={CONTACT}"))


def _set_cap(session, cap):
    session.execute(update(SystemConfig).where(SystemConfig.name == "list_count_cap").values(value=str(cap)))
    session.commit()


def test_counts_stop_at_the_cap_and_the_exact_count_is_one_click_away(en_client, client_as, db_session):
    bulk_clients(db_session, 130)
    _set_cap(db_session, 100)
    admin = en_client("admin")
    page = admin.get("/admin/client/?page_size=20")
    assert label(page) == "1–20 of 100+"
    exact = admin.get(link(page, "exact"))
    assert label(exact) == "1–20 of 130"
    assert link(exact, "exact") is None
    # filtered and searched pages count up to the cap too
    searched = admin.get("/admin/client/?page_size=20&search=分页客户1")  # 分页客户1xx and 分页客户01x …
    matching = sum(1 for i in range(130) if "分页客户1" in f"分页客户{i:03d}")
    assert label(searched) == f"1–20 of {matching}"
    assert label(admin.get("/admin/client/?page_size=20&search=分页客户")) == "1–20 of 100+"
    assert label(admin.get(link(admin.get("/admin/client/?search=分页客户"), "exact"))) == "1–20 of 130"
    zh = client_as("admin").get("/admin/client/?page_size=20")
    assert label(zh) == "第 1–20 条，共 100+ 条"


def test_counts_and_pages_stay_within_the_scope(en_client, db_session):
    bulk_clients(db_session, 30, owner="account_manager", prefix="我的客户")
    bulk_clients(db_session, 120, owner="am_other", prefix="别人的客户")
    _set_cap(db_session, 100)
    manager = en_client("account_manager")
    page = manager.get("/admin/client/?page_size=20")
    assert label(page) == "1–20 of 30"
    mine = set(db_session.execute(select(Client.id).where(Client.name.like("我的客户%"))).scalars())
    seen = sum(walk_forward(manager, "/admin/client/?page_size=20"), [])
    assert set(seen) == mine and len(seen) == 30
    assert set(ids_in(manager.get("/admin/client/?page_size=20&last=1"))) <= mine
    assert label(manager.get("/admin/client/?page_size=20&exact_count=1")) == "1–20 of 30"
    assert label(manager.get("/admin/client/?page_size=20&search=别人的客户&exact_count=1")) == "No rows"
    admin = en_client("admin")
    assert label(admin.get("/admin/client/?page_size=20&exact_count=1")) == "1–20 of 150"


def shows(client, text: str) -> bool:
    page = client.get("/admin/client/").get_data(as_text=True)
    return text in page or json.dumps(text)[1:-1] in page  # the filter options are JSON


def test_a_lookup_edit_shows_at_once_in_the_cached_filter_options(client_as, db_session):
    admin = client_as("admin")
    assert not shows(admin, "新客户类型甲")
    db_session.add(ClientType(name="新客户类型甲", sort_order=99))
    db_session.commit()
    assert shows(admin, "新客户类型甲")
    kind = db_session.execute(select(ClientType).where(ClientType.name == "新客户类型甲")).scalar_one()
    kind.name = "改名客户类型乙"
    db_session.commit()
    assert shows(admin, "改名客户类型乙") and not shows(admin, "新客户类型甲")
