"""Customers module (SPEC §4.3): inline create, duplicate guard, delete guard, reassign,
merge, search and filters, in-list editing, SQL per page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from models.audit import AuditLog
from models.base import utcnow
from models.customers import Client, Contract, FollowUp, Linkman, normalise_name
from models.lookups import Area, ClientSource, ClientType, CompanySize, FollowUpType, StarRating, Trade
from tests.conftest import list_pages
from tests.factories import add_children, contract_form, lookup, make_client, user


def client_form(session, **overrides):
    data = {
        "name": "杭州云帆软件有限公司",
        "area": str(lookup(session, Area, "杭州").id),
        "address": "杭州市西湖区文三路90号",
        "phone": "0571-88886666",
        "contact_name": "王芳",
        "contact_mobile": "13905710001",
        "contact_gender": "",
        "satisfaction": "",
        "credit": "",
    }
    data.update(overrides)
    return data


def test_inline_create_with_two_contacts_and_a_follow_up(client_as, db_session):
    followup_type = lookup(db_session, FollowUpType)
    db_session.commit()
    clerk = client_as("clerk")
    data = client_form(
        db_session,
        **{
            "linkmans-0-name": "李雷",
            "linkmans-0-position": "采购经理",
            "linkmans-0-gender": "男",
            "linkmans-0-mobile": "13800001111",
            "linkmans-1-name": "韩梅梅",
            "linkmans-1-position": "财务",
            "linkmans-1-gender": "女",
            "linkmans-1-mobile": "+86 138 0000 2222",
            "linkmans-1-email": "hmm@example.cn",
            "followups-0-type": str(followup_type.id),
            "followups-0-followed_at": "2026-11-20 10:00:00",
            "followups-0-content": "首次电话沟通，客户对CRM有兴趣",
        },
    )
    response = clerk.post("/admin/client/new/", data=data)
    assert response.status_code == 302, re.findall(r"alert[^>]*>([^<]+)", response.data.decode())
    client = db_session.execute(select(Client).where(Client.name == "杭州云帆软件有限公司")).scalar_one()
    assert client.owner.username == "clerk"  # defaults to the current user
    assert sorted((lm.name, lm.mobile) for lm in client.linkmans) == [
        ("李雷", "13800001111"),
        ("韩梅梅", "13800002222"),
    ]
    assert [(f.content, f.user.username) for f in client.followups] == [("首次电话沟通，客户对CRM有兴趣", "clerk")]
    assert client.name_key == normalise_name("杭州云帆软件有限公司")
    details = clerk.get(f"/admin/client/details/?id={client.id}").data.decode()
    for text in ("李雷", "韩梅梅", "首次电话沟通", 'id="history"', 'id="contracts"'):
        assert text in details
    history = details[details.index('id="history"') :]
    assert "杭州" in history and f"→ {client.area_id}<" not in history  # foreign keys by name
    assert "name_key" not in history and "规范化名称" not in history


def test_bad_contact_mobile_is_refused_and_nothing_saved(client_as, db_session):
    db_session.commit()
    response = client_as("clerk").post(
        "/admin/client/new/",
        data=client_form(
            db_session,
            **{
                "linkmans-0-name": "李雷",
                "linkmans-0-position": "经理",
                "linkmans-0-gender": "男",
                "linkmans-0-mobile": "12345",
            },
        ),
    )
    assert response.status_code == 200
    assert db_session.execute(select(func.count()).select_from(Client)).scalar() == 0
    assert db_session.execute(select(func.count()).select_from(Linkman)).scalar() == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "  杭州云帆软件有限责任公司 "),  # suffix variant + spaces
        ("name", "杭州云帆软件有限公司".replace("杭州", "ＨＺ").replace("ＨＺ", "杭州")),
        ("uscc", "91330100799655058B"),
        ("contact_mobile", "13905710001"),
    ],
)
def test_duplicate_guard_needs_explicit_confirmation(client_as, db_session, field, value):
    make_client(
        db_session, "clerk", name="杭州云帆软件有限公司", uscc="91330100799655058B", contact_mobile="13905710001"
    )
    db_session.commit()
    clerk = client_as("clerk")
    data = client_form(db_session, name="宁波另一家公司", contact_mobile="13905719999")
    data[field] = value
    first = clerk.post("/admin/client/new/", data=data)
    page = first.data.decode()
    assert db_session.execute(select(func.count()).select_from(Client)).scalar() == 1
    if field == "uscc":  # the code is unique: refused at the field, no "save anyway"
        assert first.status_code == 200 and ("已经存在" in page or "already exists" in page.lower())
        return
    assert first.status_code == 200 and 'id="duplicates"' in page and "杭州云帆软件有限公司" in page
    second = clerk.post("/admin/client/new/", data={**data, "save_anyway": "y"})
    assert second.status_code == 302
    assert db_session.execute(select(func.count()).select_from(Client)).scalar() == 2


def test_full_width_name_counts_as_duplicate():
    assert normalise_name("ＡＢＣ科技（深圳）有限责任公司") == normalise_name("abc科技(深圳)有限公司")


def test_duplicate_guard_checks_linkman_mobiles(client_as, db_session):
    other = make_client(db_session, "clerk", name="上海海纳贸易有限公司")
    add_children(db_session, other, mobile="13611112222")
    db_session.commit()
    data = client_form(
        db_session,
        **{
            "linkmans-0-name": "赵六",
            "linkmans-0-position": "经理",
            "linkmans-0-gender": "男",
            "linkmans-0-mobile": "13611112222",
        },
    )
    response = client_as("clerk").post("/admin/client/new/", data=data)
    assert 'id="duplicates"' in response.data.decode() and "上海海纳贸易有限公司" in response.data.decode()


def test_client_with_contracts_cannot_be_deleted(client_as, db_session):
    client = make_client(db_session, "sales_director", name="有合同的公司")
    children = add_children(db_session, client)
    bare = make_client(db_session, "sales_director", name="无合同的公司")
    db_session.commit()
    director = client_as("sales_director")
    refused = director.post("/admin/client/delete/", data={"id": str(client.id)}, follow_redirects=True)
    assert children["contract"].number in refused.data.decode()
    assert director.post("/admin/client/delete/", data={"id": str(bare.id)}).status_code == 302
    db_session.expire_all()
    assert not db_session.get(Client, client.id).is_deleted
    assert db_session.get(Client, bare.id).is_deleted


def test_own_scope_user_has_no_owner_field_and_owns_what_they_create(client_as, db_session):
    db_session.commit()
    manager = client_as("account_manager")
    page = manager.get("/admin/client/new/").data.decode()
    assert 'name="owner"' not in page
    assert 'name="owner"' in client_as("sales_director").get("/admin/client/new/").data.decode()
    data = client_form(db_session, owner=str(user(db_session, "sales_director").id))
    assert manager.post("/admin/client/new/", data=data).status_code == 302
    client = db_session.execute(select(Client)).scalar_one()
    assert client.owner.username == "account_manager"


def test_reassign_selected_and_all_of_one_owner(client_as, db_session):
    mine = [make_client(db_session, "account_manager") for _ in range(3)]
    foreign = make_client(db_session, "am_other")
    target = user(db_session, "am_team")
    db_session.commit()
    director = client_as("sales_director")
    redirect = director.post(
        "/admin/client/action/", data={"action": "reassign", "rowid": [str(mine[0].id), str(foreign.id)]}
    )
    assert redirect.status_code == 302 and "/admin/client/reassign/" in redirect.headers["Location"]
    page = director.get(redirect.headers["Location"]).data.decode()
    assert mine[0].name in page and foreign.name not in page  # out of the director's department
    director.post(
        "/admin/client/reassign/",
        data={"ids": f"{mine[0].id},{foreign.id}", "owner_id": str(target.id), "comment": "离职交接"},
    )
    db_session.expire_all()
    assert db_session.get(Client, mine[0].id).owner_id == target.id
    assert db_session.get(Client, foreign.id).owner.username == "am_other"
    # everything left of account_manager moves in one go
    director.post(
        "/admin/client/reassign/",
        data={"ids": "", "from_owner_id": str(user(db_session, "account_manager").id), "owner_id": str(target.id)},
    )
    db_session.expire_all()
    assert {db_session.get(Client, c.id).owner_id for c in mine} == {target.id}
    entry = (
        db_session.execute(select(AuditLog).where(AuditLog.table_name == "clients", AuditLog.action == "reassign"))
        .scalars()
        .first()
    )
    assert entry is not None and "owner_id" in entry.changes
    # an account manager may not reassign
    assert client_as("account_manager").get("/admin/client/reassign/").status_code == 403


def test_merge_moves_children_fills_fields_and_audits_each_move(client_as, db_session):
    keep = make_client(db_session, "sales_director", name="深圳星辰科技有限公司", website=None)
    dup = make_client(
        db_session,
        "sales_director",
        name="深圳星辰科技有限责任公司",
        website="https://xingchen.example.cn",
        uscc="9144030071526726XG",
    )
    kids = add_children(db_session, dup)
    add_children(db_session, keep)
    db_session.commit()
    director = client_as("sales_director")
    page = director.get(f"/admin/client/merge/?ids={keep.id},{dup.id}").data.decode()
    assert "深圳星辰科技有限责任公司" in page
    response = director.post("/admin/client/merge/", data={"ids": f"{keep.id},{dup.id}", "keep_id": str(keep.id)})
    assert response.status_code == 302
    db_session.expire_all()
    kept = db_session.get(Client, keep.id)
    assert len(kept.linkmans) == 2 and len(kept.followups) == 2 and len(kept.appointments) == 2
    assert {c.number for c in kept.contracts} >= {kids["contract"].number}
    assert kept.website == "https://xingchen.example.cn" and kept.uscc == "9144030071526726XG"
    gone = db_session.get(Client, dup.id)
    assert gone.is_deleted and gone.uscc is None
    merged = db_session.execute(
        select(AuditLog.table_name, func.count()).where(AuditLog.action == "merge").group_by(AuditLog.table_name)
    ).all()
    counts = dict(merged)
    assert counts["linkmans"] == 1 and counts["documentary"] == 1 and counts["appointment"] == 1
    assert counts["contract"] == 1 and counts["clients"] >= 2
    assert client_as("account_manager").get(f"/admin/client/merge/?ids={keep.id},{dup.id}").status_code == 403


def _listed(response) -> set[str]:
    html = response.data.decode()
    body = html[html.index('class="table table-striped table-bordered table-hover model-list') :]
    return set(re.findall(r"测试客户\d+有限公司|[^<>\s]+公司", body[: body.index("</table>")]))


def test_search_by_name_uscc_phone_contact_and_linkman_mobile(client_as, db_session):
    a = make_client(
        db_session,
        "admin",
        name="北京蓝海科技有限公司",
        uscc="91110108551385082Q",
        phone="010-66668888",
        contact_name="欧阳娜娜",
        contact_mobile="13911112222",
    )
    b = make_client(db_session, "admin", name="广州白云物流有限公司")
    add_children(db_session, b, mobile="13722223333")
    add_children(db_session, b, mobile="13722223334")
    db_session.commit()
    admin = client_as("admin")
    for term, expected in [
        ("蓝海", {a.name}),
        ("91110108551385082Q", {a.name}),
        ("66668888", {a.name}),
        ("欧阳", {a.name}),
        ("13911112222", {a.name}),
        ("1372222333", {b.name}),
    ]:
        response = admin.get(f"/admin/client/?search={term}")
        assert _listed(response) == expected, term
    two_matches = admin.get("/admin/client/?search=1372222333").data.decode()
    assert "列表 (1)" in two_matches or "List (1)" in two_matches  # counted once


def test_filters_return_the_right_rows(client_as, db_session):
    vip = lookup(db_session, ClientType, "重要客户")
    five = lookup(db_session, StarRating, "五星")
    expo = lookup(db_session, ClientSource, "展会")
    retail = lookup(db_session, Trade, "零售")
    big = lookup(db_session, CompanySize, "1000人以上")
    shenzhen = lookup(db_session, Area, "深圳")
    a = make_client(
        db_session,
        "account_manager",
        name="甲公司",
        type=vip,
        star=five,
        source=expo,
        trade=retail,
        size=big,
        area=shenzhen,
    )
    b = make_client(db_session, "am_other", name="乙公司")
    c = make_client(db_session, "am_team", name="丙公司")
    c.created_at = utcnow() - timedelta(days=400)
    db_session.commit()
    admin = client_as("admin")
    dep = user(db_session, "am_other").department_id
    cases = {
        f"flt_client_type_equals={vip.id}": {"甲公司"},
        f"flt_star_rating_equals={five.id}": {"甲公司"},
        f"flt_client_source_equals={expo.id}": {"甲公司"},
        f"flt_product_category_equals={retail.id}": {"甲公司"},
        f"flt_company_size_equals={big.id}": {"甲公司"},
        f"flt_area_equals={shenzhen.id}": {"甲公司"},
        f"flt_owner_equals={user(db_session, 'am_other').id}": {"乙公司"},
    }
    offered = set(re.findall(r'"arg": "([a-z_0-9]+)"', admin.get("/admin/client/").data.decode()))
    for query, expected in cases.items():
        assert query.split("=")[0][4:] in offered, query
        assert _listed(admin.get(f"/admin/client/?{query}")) == expected, query
    assert _listed(admin.get(f"/admin/client/?flt_owners_department_in_with_subdepartments={dep}")) == {"乙公司"}
    assert b.name not in _listed(
        admin.get(
            "/admin/client/?flt_created_at_between=2000-01-01+00:00:00+to+"
            + (utcnow() - timedelta(days=300)).strftime("%Y-%m-%d+%H:%M:%S")
        )
    )
    assert {"丙公司"} == _listed(
        admin.get(
            "/admin/client/?flt_created_at_between=2000-01-01+00:00:00+to+"
            + (utcnow() - timedelta(days=300)).strftime("%Y-%m-%d+%H:%M:%S")
        )
    )
    assert a.name in _listed(
        admin.get(
            "/admin/client/?flt_updated_at_greater_than=" + (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d+%H:%M:%S")
        )
    )


def test_star_and_type_are_editable_in_the_list(client_as, db_session):
    client = make_client(db_session, "clerk")
    five = lookup(db_session, StarRating, "五星")
    db_session.commit()
    clerk = client_as("clerk")
    response = clerk.post("/admin/client/ajax/update/", data={"list_form_pk": str(client.id), "star": str(five.id)})
    assert response.status_code == 200, response.data
    db_session.expire_all()
    assert db_session.get(Client, client.id).star_id == five.id
    # finance may only view: no in-list editing
    assert (
        client_as("finance")
        .post("/admin/client/ajax/update/", data={"list_form_pk": str(client.id), "star": str(five.id)})
        .status_code
        == 403
    )


def test_client_list_sql_statements_constant_as_page_size_grows(app, client_as, db_session):
    owner = user(db_session, "admin")
    area = lookup(db_session, Area, "北京")
    now = utcnow()
    db_session.execute(
        insert(Client),
        [
            {
                "name": f"批量客户{i}",
                "name_key": f"批量客户{i}",
                "address": "地址",
                "phone": "010-12345678",
                "area_id": area.id,
                "contact_name": "某人",
                "contact_mobile": f"139{i:08d}",
                "owner_id": owner.id,
                "version": 1,
                "is_deleted": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(150)
        ],
    )
    db_session.commit()
    admin = client_as("admin")
    counts, pages = list_pages(app, admin, "/admin/client/")
    assert all(page.status_code == 200 for page in pages.values())
    assert counts[20] == counts[100], counts


def test_follow_up_and_contract_rules(client_as, db_session):
    client = make_client(db_session, "clerk")
    db_session.commit()
    director = client_as("admin")

    bad = director.post(
        "/admin/contract/new/",
        data=contract_form(
            db_session,
            client,
            number="HT-X-1",
            name="倒签合同",
            starts_on="2026-05-01",
            ends_on="2026-04-01",
            amount="100.00",
        ),
    )
    assert bad.status_code == 200
    assert db_session.execute(select(func.count()).select_from(Contract)).scalar() == 0
    ok = director.post(
        "/admin/contract/new/",
        data=contract_form(
            db_session,
            client,
            number="HT-X-1",
            name="正常合同",
            starts_on="2026-04-01",
            ends_on="2026-05-01",
            amount="1234.56",
        ),
    )
    assert ok.status_code == 302
    from decimal import Decimal

    assert db_session.execute(select(Contract.amount)).scalar() == Decimal("1234.56")
    fu = director.post(
        "/admin/followup/new/",
        data={
            "client": str(client.id),
            "type": str(lookup(db_session, FollowUpType).id),
            "followed_at": "2026-11-20 09:00:00",
            "content": "上门拜访",
        },
    )
    assert fu.status_code == 302
    assert db_session.execute(select(FollowUp)).scalar_one().user.username == "admin"


def test_stale_client_edit_is_refused(client_as, db_session):
    client = make_client(db_session, "clerk", name="并发编辑公司")
    db_session.commit()
    clerk = client_as("clerk")
    page = clerk.get(f"/admin/client/edit/?id={client.id}").data.decode()
    assert 'name="loaded_version" type="hidden" value="1"' in page
    data = client_form(db_session, name="并发编辑公司", owner=str(client.owner_id))
    assert (
        clerk.post(
            f"/admin/client/edit/?id={client.id}", data={**data, "address": "第一次", "loaded_version": "1"}
        ).status_code
        == 302
    )
    stale = clerk.post(f"/admin/client/edit/?id={client.id}", data={**data, "address": "第二次", "loaded_version": "1"})
    assert stale.status_code == 200
    db_session.expire_all()
    assert db_session.get(Client, client.id).address == "第一次"


def test_times_are_typed_and_shown_in_shanghai_time(client_as, db_session):
    from models.customers import Appointment
    from models.lookups import AppointmentType

    client = make_client(db_session, "clerk")
    kind = lookup(db_session, AppointmentType)
    db_session.commit()
    clerk = client_as("clerk")
    response = clerk.post(
        "/admin/appointment/new/",
        data={
            "client": str(client.id),
            "type": str(kind.id),
            "scheduled_at": "2026-12-01 10:00:00",
            "remind_at": "2026-12-01 08:00:00",
            "content": "上门演示",
            "status": "待办",
        },
    )
    assert response.status_code == 302
    row = db_session.execute(select(Appointment)).scalar_one()
    assert row.remind_at.hour == 0 and row.remind_at.utcoffset() == timedelta(0)  # 08:00 +08:00
    edit = clerk.get(f"/admin/appointment/edit/?id={row.id}").data.decode()
    assert 'value="2026-12-01 08:00:00"' in edit
    listed = clerk.get("/admin/appointment/").data.decode()
    assert "2026-12-01 08:00" in listed
    hit = clerk.get("/admin/appointment/?flt_reminder_time_between=2026-12-01+07:59:00+to+2026-12-01+08:01:00")
    miss = clerk.get("/admin/appointment/?flt_reminder_time_between=2026-12-01+00:00:00+to+2026-12-01+00:01:00")
    assert "上门演示" in hit.data.decode() and "上门演示" not in miss.data.decode()


def test_import_button_only_for_users_with_the_right(client_as):
    assert 'href="/admin/client/import/"' in client_as("clerk").get("/admin/client/").data.decode()
    assert 'href="/admin/client/import/"' not in client_as("finance").get("/admin/client/").data.decode()
