"""At most 4 SQL statements for every big list page — page 1, filtered, searched, a deep
page, the last page — whatever the page size and the number of rows: the user (with the
rights, settings, reminder count and cache version read in the same SELECT), the capped
count, the page and its eager loads; filter options come from the process cache."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import count_queries

MAX_STATEMENTS = 4
#: list endpoint → a search term found in the demo data
BIG_LISTS = {
    "client": "公司",
    "linkman": "1",
    "followup": "客户",
    "contract": "合同",
    "receipt": "1",
    "invoice": "1",
    "opportunity": "项目",
    "quote": "Q",
    "order": "O",
}


@pytest.fixture(scope="module")
def demo_app(template_db, tmp_path_factory):
    """One app on a database with the demo data (read-only tests)."""
    from tests.conftest import module_app

    with module_app(template_db, tmp_path_factory) as app:
        result = app.test_cli_runner().invoke(args=["seed-demo", "--clients", "60", "--seed", "3"])
        assert result.exit_code == 0, result.output
        yield app


def _next(response):
    found = re.search(r'id="pager-next" href="([^"]+)"', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def _filter_arg(page: str) -> str | None:
    """A filter of the list that takes a fixed value: "is (not) empty", else "equals" a status."""
    empty = re.search(r'"arg": "([a-z0-9_]+_empty)"', page)
    return f"flt_{empty.group(1)}=0" if empty else None


def _statements(app, client, url):
    client.get(url)  # the filter options of a new process are read once, then kept
    with count_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return statements, response


@pytest.mark.parametrize("endpoint", sorted(BIG_LISTS))
def test_every_big_list_page_takes_at_most_four_statements(demo_app, endpoint):
    admin = demo_app.login_client("admin")
    base = f"/admin/{endpoint}/"
    first = admin.get(base).get_data(as_text=True)
    filtered = _filter_arg(first)
    variants = {
        "page 1": "",
        "searched": f"search={BIG_LISTS[endpoint]}",
        "last page": "last=1",
        "exact count": "exact_count=1",
        "old page number": "page=1",
    }
    if filtered:
        variants["filtered"] = filtered
    seen = {}
    for name, args in variants.items():
        for size in (20, 100):
            statements, response = _statements(demo_app, admin, f"{base}?page_size={size}&{args}")
            assert len(statements) <= MAX_STATEMENTS, (name, size, statements)
            seen[(name, size)] = len(statements)
        assert seen[(name, 20)] == seen[(name, 100)], (name, seen)
    # a deep page, reached by its links (keyset), costs what page 1 costs
    response = admin.get(f"{base}?page_size=20")
    for _ in range(2):
        following = _next(response)
        if following is None:
            break
        statements, response = _statements(demo_app, admin, following)
        assert len(statements) <= MAX_STATEMENTS, statements
        assert len(statements) == seen[("page 1", 20)], statements


def test_the_count_of_statements_does_not_grow_with_the_rows(app, client_as, db_session):
    from tests.factories import make_client

    admin = client_as("admin")
    make_client(db_session, "admin")
    db_session.commit()
    few, _ = _statements(app, admin, "/admin/client/")
    for n in range(30):
        make_client(db_session, "account_manager" if n % 2 else "admin")
    db_session.commit()
    many, _ = _statements(app, admin, "/admin/client/?page_size=50")
    assert len(many) == len(few) <= MAX_STATEMENTS, (few, many)


def test_a_scoped_list_is_as_cheap(demo_app):
    manager = demo_app.login_client("account_manager")
    statements, response = _statements(demo_app, manager, "/admin/client/?page_size=20")
    assert len(statements) <= MAX_STATEMENTS, statements
