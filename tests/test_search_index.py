"""Indexed search (issue 10, docs/search.md): the indexes find what the plain LIKE search
finds (1-, 2-, 3+-character Chinese, Latin in any case, digits, ``%`` and ``_`` taken
literally, within the user's scope, without deleted rows), pinyin finds names, the index
follows inserts, bulk inserts, updates and deletes, and the database uses it."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import insert, select, text

from models.customers import Client, Linkman
from models.search import indexed_ids, name_pinyin, paused_search_index, rebuild_search_keys, search_keys
from tests.conftest import PG_URL, module_app
from tests.factories import make_client, make_contract, make_opportunity, make_order, make_quote
from views.crud.search import SearchMixin

DIALECT = "postgresql" if PG_URL else "sqlite"

CLIENTS = [
    # name, contact, mobile, owner, deleted
    ("北京科技有限公司", "王伟", "13812345678", "account_manager", False),
    ("上海王氏贸易有限公司", "李娜", "13912345000", "account_manager", False),
    ("深圳ABC电子", "曾小明", "13700001111", "account_manager", False),
    ("百分比50%公司", "单田芳", "13600002222", "account_manager", False),
    ("下划线a_b商行", "解放", "13500003333", "account_manager", False),
    ("axb商行", "区志强", "13400004444", "account_manager", False),
    ("Alpha Beta Co", "John Smith", "13300005555", "account_manager", False),
    ("上海浦东删除公司", "王五", "13200006666", "account_manager", True),
    ("上海科技别人公司", "王六", "13812349999", "am_other", False),
]
QUERIES = [
    "王",
    "上海",
    "科技",
    "北京科技",
    "科技有限",
    "1381234",
    "13",
    "5678",
    "Alpha",
    "alpha",
    "ALPHA",
    "bEtA",
    "50%",
    "%",
    "a_b",
    "_",
    "^北京",
    "=王伟",
    "上海 王",
    "王五",
    "上海科技别人",
    "赵六",
    "DD-S-2",
    "bjkj",
    "beijingkeji",
    "zeng",
    "不存在的名字",
]
ENDPOINTS = ("client", "linkman", "contract", "opportunity", "quote", "order")


@pytest.fixture(scope="module")
def searchable(template_db, tmp_path_factory):
    """One app on a database with the fixed data set (read-only tests)."""
    from models import db

    with module_app(template_db, tmp_path_factory) as app:
        with app.app_context():
            session = db.session
            for n, (name, contact, mobile, owner, deleted) in enumerate(CLIENTS):
                client = make_client(session, owner, name, contact_name=contact, contact_mobile=mobile)
                session.add(Linkman(client=client, name=f"赵六{n}", position="经理", gender="男", mobile=f"150{n:08d}"))
                make_contract(session, client, number=f"HT-S-{n}", name=f"{name[:2]}服务合同")
                make_order(session, owner, client=client, number=f"DD-S-{n}", delivery_address=f"{name}仓库")
                make_quote(session, owner, client=client, notes=f"{contact}的报价")
                client.is_deleted = deleted
                make_opportunity(session, created_by=owner, customer_name=name, title=f"{name[:4]}项目", client=client)
            session.commit()
            db.session.remove()
        yield app


def listed(test_client, endpoint: str, search: str) -> list[int]:
    """The row ids of the list page for ``search`` (100 a page, more than the data set)."""
    response = test_client.get(f"/admin/{endpoint}/?page_size=100&search={quote(search)}")
    assert response.status_code == 200, response.data[:300]
    html = response.get_data(as_text=True)
    return [int(i) for i in re.findall(rf'href="/admin/{endpoint}/details/\?id=(\d+)', html)]


@pytest.mark.parametrize(
    "endpoint,username", [(endpoint, "account_manager") for endpoint in ENDPOINTS] + [("client", "admin")]
)
def test_indexed_search_finds_what_the_plain_like_search_finds(searchable, monkeypatch, endpoint, username):
    test_client = searchable.login_client(username)
    indexed = {search: sorted(listed(test_client, endpoint, search)) for search in QUERIES}
    monkeypatch.setattr(SearchMixin, "_indexed_ids", lambda self, text: None)  # the plain LIKE search
    plain = {search: sorted(listed(test_client, endpoint, search)) for search in QUERIES}
    assert indexed == plain
    assert any(plain.values())


def names_found(test_client, search: str) -> set[str]:
    from models import db

    ids = listed(test_client, "client", search)
    with test_client.application.app_context():
        return set(db.session.scalars(select(Client.name).where(Client.id.in_(ids))))


def test_search_keeps_scope_deleted_rows_and_literal_wildcards(searchable):
    am = searchable.login_client("account_manager")
    assert names_found(am, "上海") == {"上海王氏贸易有限公司"}  # not the deleted one, not am_other's
    assert names_found(searchable.login_client("admin"), "上海") == {"上海王氏贸易有限公司", "上海科技别人公司"}
    assert names_found(am, "a_b") == {"下划线a_b商行"}  # not axb商行
    assert names_found(am, "50%") == {"百分比50%公司"}
    assert names_found(am, "%") == {"百分比50%公司"}
    assert names_found(am, "王") == {"北京科技有限公司", "上海王氏贸易有限公司"}  # the contact 王伟, the name


def test_pinyin_full_and_initials_find_names_with_surname_readings(searchable):
    am = searchable.login_client("account_manager")
    assert names_found(am, "bjkj") == {"北京科技有限公司"}
    assert names_found(am, "BeiJingKeJi") == {"北京科技有限公司"}
    assert names_found(am, "zengxiaoming") == {"深圳ABC电子"}  # 曾 as a surname: zeng
    assert names_found(am, "cengxiaoming") == set()
    assert names_found(am, "shantianfang") == {"百分比50%公司"}  # 单 shan
    assert names_found(am, "xiefang") == {"下划线a_b商行"}  # 解 xie
    assert names_found(am, "ouzhiqiang") == {"axb商行"}  # 区 ou
    assert names_found(am, "xm") == {"深圳ABC电子"}  # initials of 曾小明, two letters
    contracts = listed(am, "contract", "bjkj")  # through the client's name
    assert len(contracts) == 1


def test_exact_and_prefix_matches_come_first(searchable):
    am = searchable.login_client("account_manager")
    ids = listed(am, "client", "王伟")
    assert len(ids) == 1
    first = listed(am, "opportunity", "上海王氏贸易有限公司")
    assert len(first) == 1
    from models import db

    with searchable.app_context():
        order = [db.session.get(Client, i).name for i in listed(am, "client", "axb")]
        assert order == ["axb商行"]
        names = [db.session.get(Client, i).name for i in listed(am, "client", "上海")]
        assert names == ["上海王氏贸易有限公司"]
        order_numbers = listed(am, "order", "DD-S-1")
        assert len(order_numbers) == 1


def test_ranking_puts_prefix_matches_before_later_rows(app, client_as, db_session):
    older = make_client(db_session, "account_manager", "排序科技公司")
    make_client(db_session, "account_manager", "新的排序科技")  # newer: first by updated_at
    db_session.commit()
    ids = listed(client_as("account_manager"), "client", "排序")
    assert ids[0] == older.id and len(ids) == 2


def test_keys_follow_orm_changes_and_bulk_inserts(app, client_as, db_session):
    client = make_client(db_session, "account_manager", "杭州旧名公司")
    db_session.commit()
    am = client_as("account_manager")
    assert listed(am, "client", "hzjm") == [client.id]
    client.name = "宁波新名公司"
    db_session.commit()
    assert listed(am, "client", "hzjm") == [] and listed(am, "client", "旧名") == []
    assert listed(am, "client", "nbxm") == [client.id] and listed(am, "client", "新名") == [client.id]
    row = {c: getattr(client, c) for c in ("address", "phone", "area_id", "owner_id")}
    db_session.execute(
        insert(Client), [dict(row, name="苏州批量公司", contact_name="钱七", contact_mobile="13011112222")]
    )
    db_session.commit()
    assert len(listed(am, "client", "苏州批量")) == 1  # triggers / expression index: at once
    assert listed(am, "client", "szpl") == [] and listed(am, "client", "苏州") == []  # keys not yet filled
    assert rebuild_search_keys(db_session) == 1
    db_session.commit()
    assert len(listed(am, "client", "szpl")) == 1 and len(listed(am, "client", "苏州")) == 1
    assert rebuild_search_keys(db_session, Client) == 0


def test_bulk_inserts_with_the_index_paused_are_indexed_at_the_end(app, client_as, db_session):
    client = make_client(db_session, "account_manager", "模板公司")
    row = {c: getattr(client, c) for c in ("address", "phone", "area_id", "owner_id")}
    db_session.commit()
    with paused_search_index(db_session):
        db_session.execute(
            insert(Client),
            [
                dict(row, name=f"无锡暂停{n}公司", contact_name="周九", contact_mobile=f"1301234{n:04d}")
                for n in range(3)
            ],
        )
        assert rebuild_search_keys(db_session) == 3
    db_session.commit()
    am = client_as("account_manager")
    assert len(listed(am, "client", "无锡暂停")) == 3 and len(listed(am, "client", "无锡")) == 3
    assert len(listed(am, "client", "wxzt")) == 3 and len(listed(am, "client", "13012340001")) == 1
    client.name = "常州改名公司"  # the triggers are back
    db_session.commit()
    assert listed(am, "client", "常州改名") == [client.id] and listed(am, "client", "模板") == []


def test_deleted_rows_leave_the_index(app, db_session):
    client = make_client(db_session, "account_manager", "温州删除公司")
    linkman = Linkman(client=client, name="孙八", position="经理", gender="男", mobile="13122223333")
    db_session.add(linkman)
    db_session.commit()

    def found(term):
        return set(db_session.scalars(indexed_ids(Linkman, term, DIALECT)))

    assert linkman.id in found("13122223333") and linkman.id in found("孙八")
    db_session.delete(linkman)
    db_session.commit()
    assert linkman.id not in found("13122223333") and linkman.id not in found("孙八")


def test_pinyin_and_grams_of_a_row():
    assert name_pinyin("北京科技") == ("beijingkeji", "bjkj")
    assert name_pinyin("曾小单", person=True) == ("zengxiaodan", "zxd")
    assert name_pinyin("曾经") == ("cengjing", "cj")
    assert name_pinyin("尉迟恭", person=True) == ("yuchigong", "ycg")
    assert name_pinyin("Alpha") == ("", "")
    keys, grams = search_keys({"name": "上海AB"}, ("name",), {"name": "company"})
    assert keys == "shanghaiab shab"
    assert {"上", "上海", "海a", "ab", "sh"} <= set(grams.split())


def test_the_database_answers_terms_from_the_index(app, db_session):
    """The query plan reads the FTS5 tables (SQLite) or the GIN indexes (PostgreSQL)."""
    for term in ("北京科技", "上海", "王"):
        query = indexed_ids(Client, term, DIALECT)
        compiled = query.compile(dialect=db_session.get_bind().dialect, compile_kwargs={"literal_binds": True})
        if DIALECT == "sqlite":
            plan = " ".join(str(row[-1]) for row in db_session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "VIRTUAL TABLE INDEX" in plan, plan
        else:
            db_session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in db_session.execute(text(f"EXPLAIN {compiled}")))
            assert "ix_clients_search_" in plan, plan
    db_session.rollback()


def page_statements(app, test_client, url: str) -> list[tuple[str, object]]:
    """(SQL, parameters) of the statements a GET sends."""
    from models import db

    with app.app_context():
        engine = db.engine
    sent = []

    def before(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", before)
    try:
        assert test_client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return sent


@pytest.mark.parametrize("endpoint,search", [("client", "北京科技"), ("client", "上海"), ("contract", "bjkj")])
def test_searched_list_page_reads_rows_through_the_index(searchable, endpoint, search):
    """The searched page and count start from the index's ids, never a scan of the table."""
    if DIALECT != "sqlite":
        pytest.skip("PostgreSQL chooses by statistics; its index use is checked above")
    from models import db

    url = f"/admin/{endpoint}/?search={quote(search)}"
    table = {"client": "clients", "contract": "contract"}[endpoint]
    statements = [
        (sql, params)
        for sql, params in page_statements(searchable, searchable.login_client("account_manager"), url)
        if "fts_" in sql
    ]
    assert len(statements) >= 2  # the count and the page
    with searchable.app_context():
        for sql, params in statements:
            connection = db.session.connection()
            plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            assert f"SCAN {table}" not in plan and any("VIRTUAL TABLE INDEX" in step for step in plan), plan
