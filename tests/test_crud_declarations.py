"""The last hand-written hooks as declarations (views/crud): ``prefill`` / ``prefill_from``
fill a create form from a record named in the address only when the field would accept it;
records locked by their state (``can_change``, ``locked_with``) accept no change through
their inline child forms; the data scope narrows owners, look-ups and reassignment."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.auth import Department
from models.customers import Client
from models.finance import ContractReceipt, Receipt
from models.lookups import PaymentMethod
from models.opportunities import DevelopmentPlan, Opportunity
from models.purchasing import ExpenseContract, PurchaseItem, PurchaseRequest, Supplier
from models.targets import WeeklyReport, WeeklyReportItem
from models.workflow import perform
from tests.conftest import flashes
from tests.factories import (
    lookup,
    make_client,
    make_contract,
    make_opportunity,
    make_order,
    make_product,
    make_quote,
    person,
    user,
)


def input_tag(page: str, name: str) -> str:
    """The <input> or <select> named ``name`` on a form page (a select with its options)."""
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page) or re.search(
        rf'<select[^>]*\bname="{name}"[^>]*>.*?</select>', page, re.S
    )
    assert match, name
    return match.group(0)


def filled(page: str, name: str) -> str:
    """The value a form field starts with ("" when empty)."""
    tag = input_tag(page, name)
    if tag.startswith("<select"):
        chosen = re.search(r'<option selected value="([^"]*)"', tag)
        return chosen.group(1).replace("__None", "") if chosen else ""  # the blank choice
    value = re.search(r'\svalue="([^"]*)"', tag)
    return html.unescape(value.group(1)) if value else ""


# ---------------------------------------------------------------------------- prefill
def test_opportunity_in_scope_fills_only_the_client_the_field_accepts(en_client, db_session):
    """``prefill_from`` copies a related record only if its field would accept it: an
    opportunity of mine on another team's client fills title and amount, not the client."""
    foreign_client = make_client(db_session, "am_other", name="二部客户有限公司")
    opportunity = make_opportunity(
        db_session,
        created_by="account_manager",
        client=foreign_client,
        title="跨组机会",
        expected_amount=Decimal("1234.50"),
    )
    page = en_client("account_manager").get(f"/admin/contract/new/?opportunity_id={opportunity.id}")
    text = page.get_data(as_text=True)
    assert filled(text, "opportunity") == str(opportunity.id)
    assert filled(text, "name") == "跨组机会" and filled(text, "amount") == "1234.50"
    assert filled(text, "client") == "" and "二部客户有限公司" not in text


def test_an_opportunity_out_of_scope_fills_no_quote_and_says_so(en_client, db_session):
    foreign = make_opportunity(db_session, created_by="am_other", title="二部保密机会")
    page = en_client("account_manager").get(f"/admin/quote/new/?opportunity_id={foreign.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert filled(text, "opportunity") == "" and "二部保密机会" not in text
    assert f"Opportunity #{foreign.id} is not in your data scope" in flashes(page)
    junk = en_client("account_manager").get("/admin/quote/new/?opportunity_id=abc")
    assert filled(junk.get_data(as_text=True), "opportunity") == "" and "nothing was filled in" in flashes(junk)


def _expense_contract(session, handler: str, status: str) -> ExpenseContract:
    supplier = Supplier(name=f"预填供应商{handler}{status}", contact="陈经理", phone="0571-88886666")
    contract = ExpenseContract(
        number=f"ZC-PF-{handler}-{status}",
        name="预填合同",
        supplier=supplier,
        handler=user(session, handler),
        amount=Decimal("500.00"),
    )
    session.add(contract)
    session.commit()
    perform(contract, "submit", user(session, handler), "理由")
    if status == "approved":
        perform(contract, "approve", user(session, "finance"), "同意")
    session.commit()
    return contract


def test_payment_prefill_takes_only_an_approved_contract_in_scope(en_client, db_session):
    """The contract field offers approved contracts in scope: the prefill takes nothing else."""
    approved = _expense_contract(db_session, "account_manager", "approved")
    submitted = _expense_contract(db_session, "account_manager", "submitted")
    foreign = _expense_contract(db_session, "am_other", "approved")
    am = en_client("account_manager")
    text = am.get(f"/admin/payment/new/?expense_contract_id={approved.id}").get_data(as_text=True)
    assert filled(text, "expense_contract") == str(approved.id) and filled(text, "supplier") == str(
        approved.supplier_id
    )
    for contract in (submitted, foreign):
        page = am.get(f"/admin/payment/new/?expense_contract_id={contract.id}")
        text = page.get_data(as_text=True)
        assert filled(text, "expense_contract") == "" and filled(text, "supplier") == "", contract.number
        assert "nothing was filled in" in flashes(page)


# ------------------------------------------------------- inline forms under can_change
def _quote(s):
    quote = make_quote(s, lines=[(make_product(s), 2)])
    quote.status = "approved"
    return quote, "lines", "quantity", "999"


def _order(s):
    order = make_order(s, lines=[(make_product(s), 2)], status="shipped")
    return order, "lines", "quantity", "999"


def _purchase_request(s):
    request = PurchaseRequest(number="CG-LOCK-1", name="锁定申请", requester=user(s, "account_manager"))
    request.items = [PurchaseItem(name="原物品", quantity=1, unit_price=Decimal("10.00"))]
    request.status = "submitted"
    s.add(request)
    return request, "items", "name", "伪造物品"


def _weekly_report(s):
    report = WeeklyReport(user=user(s, "account_manager"), week_start=date(2026, 11, 2), summary="小结")
    report.items = [WeeklyReportItem(progress="原进展", next_plan="继续")]
    report.status = "submitted"
    s.add(report)
    return report, "items", "progress", "伪造进展"


def _opportunity(s):
    opportunity = make_opportunity(s, created_by="account_manager", title="已归档机会")
    opportunity.plans = [DevelopmentPlan(planned_on=date(2026, 11, 2), todo="原计划")]
    opportunity.status = "archived"
    return opportunity, "plans", "todo", "伪造计划"


def _receipt(s):
    client = make_client(s, "finance")
    contract = make_contract(s, client, amount="900.00")
    receipt = Receipt(
        number="HK-LOCK-1",
        client=client,
        amount=Decimal("100.00"),
        received_on=date(2026, 3, 1),
        method=lookup(s, PaymentMethod),
        recorded_by=user(s, "finance"),
    )
    receipt.allocations = [ContractReceipt(contract=contract, amount=Decimal("100.00"))]
    receipt.status = "confirmed"
    s.add(receipt)
    return receipt, "allocations", "amount", "1.00"


LOCKED = {
    "quote": ("account_manager", _quote),
    "order": ("account_manager", _order),
    "purchase_request": ("admin", _purchase_request),  # account managers may not edit requests
    "weekly_report": ("account_manager", _weekly_report),
    "opportunity": ("account_manager", _opportunity),
    "receipt": ("finance", _receipt),
}


def _snapshot(children, attr):
    return sorted((child.id, str(getattr(child, attr))) for child in children)


@pytest.mark.parametrize("endpoint", sorted(LOCKED))
def test_a_locked_record_accepts_no_change_through_its_inline_forms(client_as, db_session, endpoint):
    username, build = LOCKED[endpoint]
    record, collection, attr, forged = build(db_session)
    db_session.commit()
    children = getattr(record, collection)
    before, version = _snapshot(children, attr), getattr(record, "version", None)
    child = children[0]
    browser = client_as(username)
    edit = f"/admin/{endpoint}/edit/?id={record.id}"
    page = browser.get(edit)
    assert page.status_code == 302 and "/details/" in page.headers["Location"]  # no edit page
    data = {
        "loaded_version": str(version or ""),
        f"{collection}-0-id": str(child.id),
        f"{collection}-0-{attr}": forged,
        f"{collection}-1-{attr}": forged,  # and a new child
    }
    response = browser.post(edit, data=data)
    assert response.status_code == 302 and "/details/" in response.headers["Location"]
    db_session.expire_all()
    record = db_session.get(type(record), record.id)
    assert _snapshot(getattr(record, collection), attr) == before
    assert getattr(record, "version", None) == version
    assert db_session.execute(select(func.count()).select_from(type(child))).scalar() == len(before)


def test_a_draft_cannot_take_over_a_line_of_a_locked_record(client_as, db_session):
    """A draft's form naming the line of a locked request leaves that line where it is."""
    locked, _, _, _ = _purchase_request(db_session)
    draft = PurchaseRequest(number="CG-DRAFT-1", name="草稿申请", requester=user(db_session, "account_manager"))
    db_session.add(draft)
    db_session.commit()
    line = locked.items[0]
    response = client_as("admin").post(
        f"/admin/purchase_request/edit/?id={draft.id}",
        data={
            "loaded_version": str(draft.version),
            "number": "CG-DRAFT-1",
            "name": "草稿申请",
            "requester": str(draft.requester_id),
            "items-0-id": str(line.id),
            "items-0-name": "被挪走的物品",
            "items-0-quantity": "5",
            "items-0-unit_price": "1.00",
        },
    )
    assert response.status_code == 302, flashes(response)  # saved, with a new item of its own
    db_session.expire_all()
    kept = db_session.get(PurchaseItem, line.id)
    assert kept.request_id == locked.id and kept.name == "原物品" and kept.quantity == 1
    own = db_session.get(PurchaseRequest, draft.id).items
    assert [(item.name, item.id != line.id) for item in own] == [("被挪走的物品", True)]


def test_plans_of_an_archived_opportunity_are_locked_in_their_own_view(en_client, db_session):
    """``locked_with = "opportunity"``: its plans are read-only and none can be added to it."""
    opportunity, _, _, _ = _opportunity(db_session)
    db_session.commit()
    plan = opportunity.plans[0]
    am = en_client("account_manager")
    response = am.post(
        f"/admin/dev_plan/edit/?id={plan.id}",
        data={"opportunity": str(opportunity.id), "planned_on": "2026-11-03", "todo": "改计划"},
    )
    assert response.status_code == 302 and "/details/" in response.headers["Location"]
    refused = am.post(
        "/admin/dev_plan/new/",
        data={"opportunity": str(opportunity.id), "planned_on": "2026-11-03", "todo": "新计划"},
    )
    assert refused.status_code == 200 and "which can no longer be changed" in flashes(refused)
    deleted = en_client("sales_director").post(
        "/admin/dev_plan/delete/", data={"id": str(plan.id)}, follow_redirects=True
    )
    assert "which can no longer be changed" in flashes(deleted)
    db_session.expire_all()
    assert [p.todo for p in db_session.execute(select(DevelopmentPlan)).scalars()] == ["原计划"]


# ------------------------------------------------------------------- scope narrowing
def test_an_own_scope_user_cannot_give_a_record_away_by_a_forged_owner(client_as, db_session):
    mine = make_client(db_session, "account_manager", name="我的客户有限公司")
    db_session.commit()
    other = user(db_session, "am_other")
    manager = client_as("account_manager")
    page = manager.get(f"/admin/client/edit/?id={mine.id}").get_data(as_text=True)
    assert 'name="owner"' not in page
    data = {
        "name": "我的客户有限公司",
        "area": str(mine.area_id),
        "address": "北京市海淀区中关村大街2号",
        "phone": mine.phone,
        "contact_name": mine.contact_name,
        "contact_mobile": mine.contact_mobile,
        "owner": str(other.id),  # forged: the form has no owner field
        "owner_id": str(other.id),
        "loaded_version": str(mine.version),
    }
    saved = manager.post(f"/admin/client/edit/?id={mine.id}", data=data)
    assert saved.status_code == 302, flashes(saved)
    db_session.expire_all()
    saved = db_session.get(Client, mine.id)
    assert saved.address == "北京市海淀区中关村大街2号" and saved.owner.username == "account_manager"
    # an opportunity: the assignee and creator are never someone else's
    response = manager.post(
        "/admin/opportunity/new/",
        data={
            "customer_name": "伪造负责人公司",
            "title": "伪造负责人机会",
            "description": "需求",
            "stage": str(lookup(db_session, Opportunity.stage.property.mapper.class_).id),
            "assigned_to": str(other.id),
            "created_by": str(other.id),
        },
    )
    assert response.status_code == 302, flashes(response)
    created = db_session.execute(select(Opportunity).where(Opportunity.title == "伪造负责人机会")).scalar_one()
    assert created.created_by.username == "account_manager" and created.assigned_to_id is None


def test_an_own_scope_user_with_reassign_may_pick_only_themselves(client_as, db_session):
    name = person(db_session, "client.view", "client.create", "client.edit", "client.reassign", scope="own")
    me = user(db_session, name)
    client = make_client(db_session, me, name="自有客户有限公司")
    db_session.commit()
    other = user(db_session, "am_other")
    browser = client_as(name)
    form = browser.get("/admin/client/new/").get_data(as_text=True)
    offered = re.findall(r'<option[^>]*value="(\d+)"', input_tag(form, "owner"))
    assert offered == [str(me.id)]
    page = browser.get(f"/admin/client/reassign/?ids={client.id}").get_data(as_text=True)
    assert other.name not in page
    browser.post("/admin/client/reassign/", data={"ids": str(client.id), "owner_id": str(other.id)})
    db_session.expire_all()
    assert db_session.get(Client, client.id).owner_id == me.id


def test_a_department_scope_user_without_a_department_sees_only_their_own(client_as, db_session):
    """SPEC §6 and models/scope.py: `department` with no department is `own`."""
    name = person(db_session, "client.view", "client.create", "client.edit", scope="department")
    me = user(db_session, name)
    mine = make_client(db_session, me, name="无部门用户的客户")
    theirs = make_client(db_session, "account_manager", name="一部经理的客户")
    db_session.commit()
    browser = client_as(name)
    listed = browser.get("/admin/client/").get_data(as_text=True)
    assert mine.name in listed and theirs.name not in listed
    assert browser.get(f"/admin/client/details/?id={theirs.id}").status_code == 404
    form = browser.get("/admin/client/new/").get_data(as_text=True)
    assert re.findall(r'<option[^>]*value="(\d+)"', input_tag(form, "owner")) == [str(me.id)]


def test_a_director_reassigns_clients_only_to_people_in_scope(client_as, db_session):
    client = make_client(db_session, "account_manager", name="待转交客户")
    db_session.commit()
    outside, inside = user(db_session, "am_other"), user(db_session, "am_team")
    director = client_as("sales_director")
    page = director.get(f"/admin/client/reassign/?ids={client.id}").get_data(as_text=True)
    assert inside.name in page and outside.name not in page
    refused = director.post(
        "/admin/client/reassign/", data={"ids": str(client.id), "owner_id": str(outside.id)}, follow_redirects=True
    )
    assert refused.status_code == 200
    db_session.expire_all()
    assert db_session.get(Client, client.id).owner.username == "account_manager"
    director.post("/admin/client/reassign/", data={"ids": str(client.id), "owner_id": str(inside.id)})
    db_session.expire_all()
    assert db_session.get(Client, client.id).owner_id == inside.id


def test_a_director_assigns_opportunities_only_to_people_in_scope(client_as, db_session):
    opportunity = make_opportunity(db_session, created_by="account_manager", title="待分配机会")
    outside = user(db_session, "am_other")
    director = client_as("sales_director")
    director.post(
        "/admin/opportunity/transition/",
        data={"action": "assign", "ids": str(opportunity.id), "assignee": str(outside.id), "url": "/admin/"},
    )
    db_session.expire_all()
    assert db_session.get(Opportunity, opportunity.id).assigned_to_id is None


def test_a_department_scope_director_sees_the_subtree_in_owner_choices(client_as, db_session):
    top = db_session.execute(select(Department).where(Department.name == "销售部")).scalar_one()
    name = person(db_session, "client.view", "client.create", scope="department", department=top)
    form = client_as(name).get("/admin/client/new/").get_data(as_text=True)
    offered = set(re.findall(r'<option[^>]*value="(\d+)"', input_tag(form, "owner")))
    assert {str(user(db_session, u).id) for u in ("am_other", "am_team", "account_manager")} <= offered
    assert str(user(db_session, "admin").id) in offered  # 测试admin is in 销售一部 too
