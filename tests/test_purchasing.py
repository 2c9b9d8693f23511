"""Purchasing (SPEC §4.5, §5.1, §5.6, §6): suppliers, purchase requests with inline items
and their approval, expense contracts (finance approves), payments requested → approved →
paid (four-eyes, Σ ≤ contract amount, recorded user/IP/time), purchase invoices with the tax
rules, data scope, rights and SQL per list page."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from models.base import FieldError, utcnow
from models.purchase_payments import PurchasePayment, request_payment
from models.purchasing import ExpenseContract, PurchaseInvoice, PurchaseItem, PurchaseRequest, Supplier
from models.workflow import WorkflowError, perform
from tests.conftest import flashes, list_pages, transition
from tests.factories import user

_seq = itertools.count(1)
ENDPOINTS = ("supplier", "purchase_request", "expense_contract", "payment", "purchase_invoice")


# ------------------------------------------------------------------------------ builders
def make_supplier(session, name=None, **fields) -> Supplier:
    n = next(_seq)
    supplier = Supplier(name=name or f"杭州测试供应商{n}有限公司", contact="陈经理", phone="0571-88886666", **fields)
    session.add(supplier)
    session.flush()
    return supplier


def make_request(session, requester="account_manager", items=((2, "100.00"),), **fields) -> PurchaseRequest:
    n = next(_seq)
    fields.setdefault("name", f"采购办公用品{n}")
    req = PurchaseRequest(number=f"CG-T-{n:05d}", requester=user(session, requester), **fields)
    req.items = [PurchaseItem(name=f"物品{i}", quantity=q, unit_price=Decimal(p)) for i, (q, p) in enumerate(items)]
    session.add(req)
    session.flush()
    return req


def make_expense_contract(
    session, handler="account_manager", amount="1000.00", state="approved", supplier=None, **fields
) -> ExpenseContract:
    """An expense contract moved to ``state`` (submitted by its handler, approved by finance)."""
    n = next(_seq)
    contract = ExpenseContract(
        number=f"ZC-T-{n:05d}",
        name=f"设备采购合同{n}",
        supplier=supplier or make_supplier(session),
        handler=user(session, handler),
        amount=Decimal(amount),
        **fields,
    )
    session.add(contract)
    session.flush()
    route = {
        "draft": (),
        "submitted": ("submit",),
        "approved": ("submit", "approve"),
        "rejected": ("submit", "reject"),
    }[state]
    for step in route:
        perform(contract, step, user(session, handler if step == "submit" else "finance"), "理由")
    session.commit()
    return contract


def make_payment(session, contract, amount, requester="account_manager", status="requested") -> PurchasePayment:
    payment = request_payment(
        PurchasePayment(expense_contract=contract, amount=Decimal(amount), reason="预付款"),
        user(session, requester),
        "10.0.0.1",
    )
    session.add(payment)
    session.flush()
    if status != "requested":
        payment.status = status  # the state only (the transitions are tested on their own)
        session.flush()
    return payment


# ------------------------------------------------------------------ purchase requests
def test_purchase_request_items_are_created_in_one_post_and_total_is_listed(client_as, db_session):
    supplier = make_supplier(db_session)
    db_session.commit()
    am = client_as("account_manager")
    response = am.post(
        "/admin/purchase_request/new/",
        data={
            "number": "",
            "name": "研发部电脑采购",
            "cost_type": "研发费用",
            "consignee": "李雷",
            "phone": "13800001111",
            "address": "杭州市西湖区文三路90号",
            "items-0-name": "笔记本电脑",
            "items-0-spec": "14寸 32G",
            "items-0-quantity": "3",
            "items-0-unit_price": "6999.50",
            "items-0-supplier": str(supplier.id),
            "items-1-name": "显示器",
            "items-1-quantity": "2",
            "items-1-unit_price": "1299.00",
        },
    )
    assert response.status_code == 302, flashes(response)
    req = db_session.execute(select(PurchaseRequest).where(PurchaseRequest.name == "研发部电脑采购")).scalar_one()
    assert req.requester.username == "account_manager"  # the requester is me
    assert req.department.name == "销售一部"  # the requester's department
    assert req.status == "draft" and re.fullmatch(r"CG\d{8}-\d{3}", req.number)
    assert sorted((i.name, i.quantity, i.unit_price, i.supplier_id) for i in req.items) == [
        ("显示器", 2, Decimal("1299.00"), None),
        ("笔记本电脑", 3, Decimal("6999.50"), supplier.id),
    ]
    assert req.total == Decimal("23596.50")  # 3 × 6999.50 + 2 × 1299.00, in SQL
    page = am.get("/admin/purchase_request/").get_data(as_text=True)
    assert "¥23,596.50" in page and req.number in page
    details = am.get(f"/admin/purchase_request/details/?id={req.id}").get_data(as_text=True)
    assert "笔记本电脑" in details and "¥20,998.50" in details and 'id="wf-submit"' in details


@pytest.mark.parametrize("quantity, price", [("0", "10.00"), ("-1", "10.00"), ("1", "10.001"), ("1", "-5.00")])
def test_bad_item_is_refused_and_nothing_saved(client_as, db_session, quantity, price):
    response = client_as("account_manager").post(
        "/admin/purchase_request/new/",
        data={"name": "坏明细", "items-0-name": "纸", "items-0-quantity": quantity, "items-0-unit_price": price},
    )
    assert response.status_code == 200
    assert db_session.execute(select(func.count()).select_from(PurchaseRequest)).scalar() == 0
    assert db_session.execute(select(func.count()).select_from(PurchaseItem)).scalar() == 0


def test_item_rules_hold_outside_forms(db_session):
    with pytest.raises(FieldError) as error:
        make_request(db_session, items=((0, "1.00"),))
    assert "Quantity" in str(error.value) or "数量" in str(error.value)


def test_purchase_request_workflow(db_session):
    s = db_session
    req = make_request(s, "account_manager")
    s.commit()
    director, am = user(s, "sales_director"), user(s, "account_manager")
    with pytest.raises(WorkflowError, match="cannot"):
        perform(req, "approve", director)  # a draft is not approved
    assert perform(req, "submit", am) == "submitted"
    assert req.submitted_by_id == am.id and req.submitted_at is not None
    s.commit()
    with pytest.raises(WorkflowError, match="right"):
        perform(req, "approve", am)  # account managers do not approve
    with pytest.raises(WorkflowError, match="comment"):
        perform(req, "reject", director)
    assert perform(req, "reject", director, "预算不足") == "rejected"
    assert perform(req, "redraft", am) == "draft"
    perform(req, "submit", am)
    assert perform(req, "approve", director, "同意") == "approved"
    assert (req.approved_by_id, req.approval_comment) == (director.id, "同意")
    s.commit()
    with pytest.raises(WorkflowError):
        perform(req, "submit", am)
    # four-eyes: a director's own request needs another approver
    own = make_request(s, "sales_director")
    perform(own, "submit", director)
    with pytest.raises(WorkflowError, match="four-eyes"):
        perform(own, "approve", director)
    assert perform(own, "approve", user(s, "director_top")) == "approved"


def test_purchase_request_transitions_through_the_view(client_as, db_session):
    req = make_request(db_session, "account_manager")
    db_session.commit()
    am, director = client_as("account_manager"), client_as("sales_director")
    assert transition(am, "purchase_request", "submit", req, follow_redirects=False).status_code == 302
    refused = am.post(
        "/admin/purchase_request/transition/", data={"action": "approve", "ids": str(req.id)}, follow_redirects=True
    )
    assert "right" in flashes(refused) or "权" in flashes(refused)
    transition(director, "purchase_request", "approve", req, follow_redirects=False)
    db_session.expire_all()
    assert req.status == "approved" and req.approved_by.username == "sales_director"
    locked = client_as("finance").get(f"/admin/purchase_request/edit/?id={req.id}")
    assert locked.status_code == 302 and "details" in locked.headers["Location"]


def test_own_scope_user_cannot_pick_another_requester(client_as, db_session):
    am = client_as("account_manager")
    form = am.get("/admin/purchase_request/new/").get_data(as_text=True)
    assert 'name="requester"' not in form
    other = user(db_session, "am_other")
    db_session.commit()
    response = am.post("/admin/purchase_request/new/", data={"name": "试图代他人申请", "requester": str(other.id)})
    assert response.status_code == 302
    assert db_session.execute(select(PurchaseRequest)).scalar_one().requester.username == "account_manager"
    director_form = client_as("sales_director").get("/admin/purchase_request/new/").get_data(as_text=True)
    assert 'name="requester"' in director_form


def test_purchase_request_list_sql_statements_constant_as_page_size_grows(app, client_as, db_session):
    supplier = make_supplier(db_session)
    requesters = [user(db_session, name).id for name in ("account_manager", "am_team", "sales_director")]
    now = utcnow()
    ids = (
        db_session.execute(
            insert(PurchaseRequest).returning(PurchaseRequest.id),
            [
                {
                    "number": f"CG-BULK-{i:04d}",
                    "name": f"批量采购{i}",
                    "requester_id": requesters[i % 3],
                    "status": "draft",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(120)
            ],
        )
        .scalars()
        .all()
    )
    db_session.execute(
        insert(PurchaseItem),
        [
            {
                "request_id": rid,
                "name": f"物品{k}",
                "quantity": k + 1,
                "unit_price": Decimal("10.50"),
                "supplier_id": supplier.id,
            }
            for rid in ids
            for k in range(2)
        ],
    )
    db_session.commit()
    for username in ("admin", "account_manager"):
        client = client_as(username)
        counts, pages = list_pages(app, client, "/admin/purchase_request/")
        assert all(page.status_code == 200 for page in pages.values())
        assert counts[20] == counts[100], (username, counts)
    page = pages[100]
    assert "¥31.50" in page.get_data(as_text=True)  # 1 × 10.50 + 2 × 10.50


def test_search_and_filters(client_as, db_session):
    a = make_request(db_session, "account_manager", name="打印纸采购")
    a.items[0].name = "A4复印纸"
    b = make_request(db_session, "sales_director", name="服务器采购")
    perform(b, "submit", user(db_session, "sales_director"))
    db_session.commit()
    admin = client_as("admin")
    found = admin.get("/admin/purchase_request/?search=复印纸").get_data(as_text=True)
    assert a.number in found and b.number not in found
    submitted = admin.get("/admin/purchase_request/?flt0_status_equals=submitted").get_data(as_text=True)
    assert b.number in submitted and a.number not in submitted
    director_id = user(db_session, "sales_director").id
    theirs = admin.get(f"/admin/purchase_request/?flt0_requester_equals={director_id}").get_data(as_text=True)
    assert b.number in theirs and a.number not in theirs
    groups = re.search(
        r'id="filter-groups-data"[^>]*>(.*?)</', admin.get("/admin/purchase_request/").get_data(as_text=True), re.S
    ).group(1)
    assert '"status_equals"' in groups and '["submitted", ' in groups  # the workflow states to choose from


# ------------------------------------------------------------------- expense contracts
def test_expense_contract_workflow_is_approved_by_finance(db_session):
    s = db_session
    contract = make_expense_contract(s, state="draft")
    am, director, finance = user(s, "account_manager"), user(s, "sales_director"), user(s, "finance")
    perform(contract, "submit", am)
    s.commit()
    with pytest.raises(WorkflowError, match="right"):
        perform(contract, "approve", director)  # the sales director does not approve expense contracts
    assert perform(contract, "approve", finance) == "approved"
    s.commit()
    own = make_expense_contract(s, handler="finance", state="draft")
    perform(own, "submit", finance)
    with pytest.raises(WorkflowError, match="four-eyes"):
        perform(own, "approve", finance)
    assert perform(own, "approve", user(s, "admin")) == "approved"


def test_expense_contract_rules(db_session):
    with pytest.raises(FieldError, match="0"):
        make_expense_contract(db_session, amount="0.00", state="draft")
    db_session.rollback()
    contract = make_expense_contract(db_session, amount="1000.00")
    make_payment(db_session, contract, "800.00")
    db_session.commit()
    contract.amount = Decimal("799.99")
    with pytest.raises(FieldError, match="800.00"):
        db_session.flush()
    db_session.rollback()
    contract.amount = Decimal("800.00")
    db_session.flush()


# ---------------------------------------------------------------------------- payments
def test_payment_request_records_user_ip_time_and_supplier(client_as, db_session):
    contract = make_expense_contract(db_session, handler="account_manager")
    db_session.commit()
    before = utcnow()
    am = client_as("account_manager")
    form = am.get(f"/admin/payment/new/?expense_contract_id={contract.id}").get_data(as_text=True)
    assert f'<option selected value="{contract.id}">' in form  # the contract of the button
    assert f'<option selected value="{contract.supplier_id}">' in form  # and its supplier
    response = am.post(
        "/admin/payment/new/",
        data={"expense_contract": str(contract.id), "supplier": "", "amount": "300.00", "reason": "首付款"},
        environ_base={"REMOTE_ADDR": "192.168.10.25"},
    )
    assert response.status_code == 302, flashes(response)
    payment = db_session.execute(select(PurchasePayment)).scalar_one()
    assert payment.supplier_id == contract.supplier_id  # taken from the contract
    assert payment.status == "requested"
    assert payment.recorded_by.username == "account_manager" and payment.submitted_by.username == "account_manager"
    assert payment.recorded_ip == "192.168.10.25"
    assert before - timedelta(seconds=1) <= payment.recorded_at <= utcnow()
    details = client_as("finance").get(f"/admin/payment/details/?id={payment.id}").get_data(as_text=True)
    assert "192.168.10.25" in details and 'id="wf-approve"' in details


def test_payment_supplier_must_be_the_contracts(client_as, db_session):
    contract = make_expense_contract(db_session)
    other = make_supplier(db_session)
    db_session.commit()
    response = client_as("finance").post(
        "/admin/payment/new/",
        data={"expense_contract": str(contract.id), "supplier": str(other.id), "amount": "1.00", "reason": "错供应商"},
    )
    assert response.status_code == 200 and contract.number in flashes(response)
    assert db_session.execute(select(func.count()).select_from(PurchasePayment)).scalar() == 0


def test_payment_workflow_four_eyes_and_paid_only_after_approved(client_as, db_session):
    s = db_session
    contract = make_expense_contract(s)
    payment = make_payment(s, contract, "500.00", requester="account_manager")
    s.commit()
    am, finance = user(s, "account_manager"), user(s, "finance")
    with pytest.raises(WorkflowError, match="cannot"):
        perform(payment, "pay", finance)  # not approved yet
    with pytest.raises(WorkflowError, match="right"):
        perform(payment, "approve", am)
    assert perform(payment, "approve", finance) == "approved"
    assert payment.approved_by_id == finance.id and payment.approved_at is not None
    assert perform(payment, "pay", finance) == "paid" and payment.paid_on is not None
    s.commit()
    # four-eyes: finance requesting a payment cannot approve it; another approver can
    own = make_payment(s, contract, "100.00", requester="finance")
    s.commit()
    with pytest.raises(WorkflowError, match="four-eyes"):
        perform(own, "approve", finance)
    s.rollback()
    finance_client = client_as("finance")
    result = transition(finance_client, "payment", "approve", own, follow_redirects=False)
    assert result.status_code == 302
    s.expire_all()
    assert own.status == "requested"
    transition(client_as("admin"), "payment", "approve", own, follow_redirects=False)
    transition(finance_client, "payment", "pay", own, follow_redirects=False)
    s.expire_all()
    assert own.status == "paid" and own.approved_by.username == "admin"
    # reject needs a reason; a rejected payment is final and read-only
    third = make_payment(s, contract, "10.00")
    s.commit()
    with pytest.raises(WorkflowError, match="comment"):
        perform(third, "reject", finance)
    assert perform(third, "reject", finance, "重复申请") == "rejected"
    with pytest.raises(WorkflowError):
        perform(third, "approve", finance)


def test_payments_total_boundary(db_session):
    s = db_session
    contract = make_expense_contract(s, amount="1000.00")
    make_payment(s, contract, "600.00", status="paid")
    make_payment(s, contract, "300.00", status="rejected")  # rejected payments do not count
    s.commit()
    make_payment(s, contract, "400.00")  # exactly the contract amount in total: allowed
    s.commit()
    with pytest.raises(FieldError) as error:
        make_payment(s, contract, "0.01")
    message = str(error.value)
    assert contract.number in message and "¥0.01" in message and "¥1,000.01" in message
    s.rollback()
    # two requests in one flush count together
    s.add_all(
        [
            request_payment(
                PurchasePayment(expense_contract=contract, amount=Decimal(a), reason="x"),
                user(s, "account_manager"),
                None,
            )
            for a in ("0.01", "0.01")
        ]
    )
    with pytest.raises(FieldError):
        s.flush()
    s.rollback()
    assert s.execute(
        select(func.sum(PurchasePayment.amount)).where(PurchasePayment.status != "rejected")
    ).scalar() == Decimal("1000.00")


def test_payment_over_the_contract_amount_is_refused_in_the_form(client_as, db_session):
    contract = make_expense_contract(db_session, amount="1000.00")
    make_payment(db_session, contract, "999.99", requester="finance")
    db_session.commit()
    am = client_as("account_manager")
    over = am.post(
        "/admin/payment/new/", data={"expense_contract": str(contract.id), "amount": "0.02", "reason": "尾款"}
    )
    assert over.status_code == 200
    assert contract.number in flashes(over) and "¥0.01" in flashes(over)
    ok = am.post("/admin/payment/new/", data={"expense_contract": str(contract.id), "amount": "0.01", "reason": "尾款"})
    assert ok.status_code == 302
    assert db_session.execute(select(func.count()).select_from(PurchasePayment)).scalar() == 2


@pytest.mark.parametrize("state", ["draft", "submitted", "rejected"])
def test_payment_on_an_unapproved_expense_contract_is_refused(client_as, db_session, state):
    contract = make_expense_contract(db_session, state=state)
    with pytest.raises(FieldError, match="approved"):
        make_payment(db_session, contract, "1.00")
    db_session.rollback()
    response = client_as("finance").post(
        "/admin/payment/new/", data={"expense_contract": str(contract.id), "amount": "1.00", "reason": "预付"}
    )
    assert response.status_code == 200  # not even offered
    assert db_session.execute(select(func.count()).select_from(PurchasePayment)).scalar() == 0


# -------------------------------------------------------------------- purchase invoices
def invoice_form(contract, **overrides):
    data = {
        "number": "33001234",
        "supplier": "",
        "expense_contract": str(contract.id),
        "issued_on": "2026-03-01",
        "quantity": "",
        "amount": "1000.00",
        "tax_rate": "13",
        "tax": "",
        "total": "",
        "handler": "王芳",
        "receiver": "李雷",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_purchase_invoice_tax_is_filled_in_when_left_empty(client_as, db_session):
    contract = make_expense_contract(db_session)
    db_session.commit()
    finance = client_as("finance")
    response = finance.post("/admin/purchase_invoice/new/", data=invoice_form(contract, amount="1234.57", tax_rate="6"))
    assert response.status_code == 302, flashes(response)
    invoice = db_session.execute(select(PurchaseInvoice)).scalar_one()
    assert (invoice.tax, invoice.total, invoice.tax_rate) == (Decimal("74.07"), Decimal("1308.64"), 6)
    assert invoice.supplier_id == contract.supplier_id
    page = finance.get("/admin/purchase_invoice/").get_data(as_text=True)
    assert "¥1,308.64" in page and "6%" in page


@pytest.mark.parametrize(
    "overrides, labels, expected",
    [
        ({"tax": "130.01"}, ("Tax:", "Tax：", "税额:", "税额："), "¥130.00"),
        (
            {"tax": "130.00", "total": "1130.01"},
            ("Total with tax:", "Total with tax：", "价税合计:", "价税合计："),
            "¥1,130.00",
        ),
    ],
)
def test_inconsistent_purchase_invoice_is_refused_naming_the_field(client_as, db_session, overrides, labels, expected):
    contract = make_expense_contract(db_session)
    db_session.commit()
    response = client_as("finance").post("/admin/purchase_invoice/new/", data=invoice_form(contract, **overrides))
    assert response.status_code == 200
    message = flashes(response)
    assert any(label in message for label in labels) and expected in message, message
    assert db_session.execute(select(func.count()).select_from(PurchaseInvoice)).scalar() == 0


def test_purchase_invoice_rate_must_be_a_legal_rate(client_as, db_session):
    contract = make_expense_contract(db_session)
    db_session.commit()
    response = client_as("finance").post("/admin/purchase_invoice/new/", data=invoice_form(contract, tax_rate="5"))
    assert response.status_code == 200  # not one of the choices
    assert db_session.execute(select(func.count()).select_from(PurchaseInvoice)).scalar() == 0
    db_session.add(PurchaseInvoice(number="9", expense_contract=contract, amount=Decimal("100.00"), tax_rate=5))
    with pytest.raises(FieldError, match="13%, 9%, 6%, 3%, 1%, 0%"):
        db_session.flush()


def test_purchase_invoice_rules_hold_outside_forms(db_session):
    contract = make_expense_contract(db_session)
    good = PurchaseInvoice(
        number="1",
        expense_contract=contract,
        amount=Decimal("100.00"),
        tax_rate=13,
        tax=Decimal("13.00"),
        total=Decimal("113.00"),
    )
    db_session.add(good)
    db_session.flush()
    assert good.supplier_id == contract.supplier_id
    bad = PurchaseInvoice(
        number="2",
        supplier=contract.supplier,
        amount=Decimal("100.00"),
        tax_rate=13,
        tax=Decimal("13.00"),
        total=Decimal("112.99"),
    )
    db_session.add(bad)
    with pytest.raises(FieldError, match="113.00"):
        db_session.flush()
    db_session.rollback()
    number = contract.number
    other = PurchaseInvoice(
        number="3", supplier=make_supplier(db_session), expense_contract=contract, amount=Decimal("1.00"), tax_rate=0
    )
    db_session.add(other)
    with pytest.raises(FieldError, match=number):
        db_session.flush()


# ------------------------------------------------------------------ scope and rights
def test_scope_account_manager_sees_own_requests_and_contracts_finance_sees_all(client_as, db_session):
    mine = make_request(db_session, "account_manager")
    theirs = make_request(db_session, "am_team")
    my_contract = make_expense_contract(db_session, handler="account_manager")
    their_contract = make_expense_contract(db_session, handler="am_team")
    their_payment = make_payment(db_session, their_contract, "5.00", requester="am_team")
    db_session.commit()
    am, finance = client_as("account_manager"), client_as("finance")
    requests = am.get("/admin/purchase_request/").get_data(as_text=True)
    assert mine.number in requests and theirs.number not in requests
    contracts = am.get("/admin/expense_contract/").get_data(as_text=True)
    assert my_contract.number in contracts and their_contract.number not in contracts
    assert am.get(f"/admin/purchase_request/details/?id={theirs.id}").status_code == 404
    assert am.get(f"/admin/expense_contract/details/?id={their_contract.id}").status_code == 404
    assert am.get(f"/admin/payment/details/?id={their_payment.id}").status_code == 404
    form = am.get("/admin/payment/new/").get_data(as_text=True)
    offered = re.search(r'<select[^>]*name="expense_contract".*?</select>', form, re.S).group(0)
    assert f'value="{my_contract.id}"' in offered and f'value="{their_contract.id}"' not in offered
    for page, numbers in (
        ("purchase_request", (mine.number, theirs.number)),
        ("expense_contract", (my_contract.number, their_contract.number)),
    ):
        text = finance.get(f"/admin/{page}/").get_data(as_text=True)
        assert all(n in text for n in numbers)
    assert finance.get(f"/admin/payment/details/?id={their_payment.id}").status_code == 200


@pytest.mark.parametrize("role", ["clerk", "service", "marketing"])
def test_roles_without_purchasing_rights_get_403(client_as, role):
    client = client_as(role)
    for endpoint in ENDPOINTS:
        assert client.get(f"/admin/{endpoint}/").status_code == 403, endpoint
        assert client.get(f"/admin/{endpoint}/new/").status_code == 403, endpoint
    nav = client.get("/admin/").get_data(as_text=True)
    assert "/admin/supplier/" not in nav


def test_menu_and_rights_of_purchasing_roles(client_as):
    nav = client_as("account_manager").get("/admin/").get_data(as_text=True)
    assert all(f'href="/admin/{endpoint}/"' in nav for endpoint in ENDPOINTS)
    executive = client_as("executive")
    assert executive.get("/admin/payment/").status_code == 200
    assert executive.get("/admin/payment/new/").status_code == 403
    assert client_as("account_manager").get("/admin/supplier/export/csv/").status_code == 403


def test_supplier_crud_and_checks(client_as, db_session):
    admin = client_as("finance")
    bad = admin.post("/admin/supplier/new/", data={"name": "杭州坏代码供应商有限公司", "uscc": "91330100ABCDEFGHJK"})
    assert bad.status_code == 200
    ok = admin.post(
        "/admin/supplier/new/",
        data={
            "name": "杭州好供应商有限公司",
            "bank": "中国工商银行杭州分行",
            "bank_account": "1202 0212 0900 0012 345",
        },
    )
    assert ok.status_code == 302, flashes(ok)
    supplier = db_session.execute(select(Supplier)).scalar_one()
    assert supplier.bank_account == "1202021209000012345"
    assert "杭州好供应商" in admin.get("/admin/supplier/?search=好供应商").get_data(as_text=True)


def test_every_purchasing_page_renders(client_as, db_session):
    contract = make_expense_contract(db_session)
    req = make_request(db_session, items=((1, "5.00"), (2, "7.50")))
    contract.purchase_request = req
    payment = make_payment(db_session, contract, "12.00")
    invoice = PurchaseInvoice(number="44001234", expense_contract=contract, amount=Decimal("10.00"), tax_rate=13)
    db_session.add(invoice)
    db_session.commit()
    rows = {
        "supplier": contract.supplier_id,
        "purchase_request": req.id,
        "expense_contract": contract.id,
        "payment": payment.id,
        "purchase_invoice": invoice.id,
    }
    admin = client_as("admin")
    for endpoint, row_id in rows.items():
        for url in (
            f"/admin/{endpoint}/",
            f"/admin/{endpoint}/new/",
            f"/admin/{endpoint}/details/?id={row_id}",
            f"/admin/{endpoint}/export/csv/",
            f"/admin/{endpoint}/?lang=en",
        ):
            response = admin.get(url)
            assert response.status_code == 200, url
        for column in range(10):  # every sortable column sorts (computed sums included)
            assert admin.get(f"/admin/{endpoint}/?sort={column}&desc=1").status_code == 200, (endpoint, column)
    edit = admin.get(f"/admin/payment/edit/?id={payment.id}").get_data(as_text=True)
    assert 'name="amount"' in edit and 'name="recorded_ip"' not in edit
    contract_page = admin.get(f"/admin/expense_contract/details/?id={contract.id}").get_data(as_text=True)
    assert 'id="request-payment"' in contract_page and "预付款" in contract_page
    assert "¥12.00" in admin.get("/admin/expense_contract/").get_data(as_text=True)  # payments requested


# ------------------------------------------------------------------------- seed-demo
def _snapshot(session):
    return {
        "suppliers": session.execute(
            select(Supplier.name, Supplier.uscc, Supplier.bank_account).order_by(Supplier.id)
        ).all(),
        "requests": session.execute(
            select(
                PurchaseRequest.number, PurchaseRequest.name, PurchaseRequest.status, PurchaseRequest.requester_id
            ).order_by(PurchaseRequest.id)
        ).all(),
        "items": session.execute(
            select(PurchaseItem.name, PurchaseItem.quantity, PurchaseItem.unit_price).order_by(PurchaseItem.id)
        ).all(),
        "contracts": session.execute(
            select(ExpenseContract.number, ExpenseContract.amount, ExpenseContract.status).order_by(ExpenseContract.id)
        ).all(),
        "payments": session.execute(
            select(PurchasePayment.amount, PurchasePayment.status).order_by(PurchasePayment.id)
        ).all(),
        "invoices": session.execute(
            select(PurchaseInvoice.number, PurchaseInvoice.total).order_by(PurchaseInvoice.id)
        ).all(),
    }


def test_seed_purchasing_is_valid_complete_and_deterministic(db_session):
    from models.base import check_row
    from models.validators import uscc
    from seed.purchasing_demo import seed_purchasing

    s = db_session
    counts = seed_purchasing(5)
    assert counts["suppliers"] == 15 and counts["purchase requests"] == 30
    assert counts["expense contracts"] >= 10 and counts["payments"] >= 10 and counts["purchase invoices"] >= 5
    first = _snapshot(s)
    s.rollback()
    assert seed_purchasing(5) == counts and _snapshot(s) == first  # same seed, same rows
    s.commit()

    rows = [
        row
        for model in (Supplier, PurchaseRequest, PurchaseItem, ExpenseContract, PurchasePayment, PurchaseInvoice)
        for row in s.execute(select(model)).scalars()
    ]
    for row in rows:  # every value passes the checks the forms and the flush run
        check_row(row)
        assert not s.is_modified(row), row
    for supplier in s.execute(select(Supplier)).scalars():
        assert uscc(supplier.uscc) == supplier.uscc and supplier.bank_account.isdigit()
    assert {r.status for r in s.execute(select(PurchaseRequest)).scalars()} == {
        "draft",
        "submitted",
        "approved",
        "rejected",
    }
    assert {p.status for p in s.execute(select(PurchasePayment)).scalars()} == {
        "requested",
        "approved",
        "paid",
        "rejected",
    }
    assert all(r.items for r in s.execute(select(PurchaseRequest)).scalars())
    for payment in s.execute(select(PurchasePayment)).scalars():
        assert payment.expense_contract.status == "approved"
        assert payment.supplier_id == payment.expense_contract.supplier_id
        assert payment.recorded_by_id and payment.recorded_ip and payment.recorded_at
        if payment.status != "requested":
            assert payment.approved_by_id not in (None, payment.submitted_by_id)  # four-eyes
        assert (payment.status == "paid") == (payment.paid_on is not None)
    for contract in s.execute(select(ExpenseContract)).scalars():
        assert contract.payments_total <= contract.amount
        if contract.status in ("approved", "rejected"):
            assert contract.approved_by_id != contract.submitted_by_id
    for req in s.execute(select(PurchaseRequest).where(PurchaseRequest.status.in_(("approved", "rejected")))).scalars():
        assert req.approved_by_id != req.submitted_by_id

    again = seed_purchasing(6)  # a second run reuses the suppliers and finds free numbers
    s.commit()
    assert again["suppliers"] == 0 and again["purchase requests"] == 30
    assert s.execute(select(func.count()).select_from(Supplier)).scalar() == 15


def test_whoever_rewrites_a_payment_request_cannot_approve_it(client_as, db_session):
    contract = make_expense_contract(db_session)
    payment = make_payment(db_session, contract, "100.00", requester="account_manager")
    db_session.commit()
    finance = client_as("finance")

    def save_with(amount):  # the edit form as loaded now, with this amount
        fields = {"expense_contract": str(contract.id), "supplier": str(contract.supplier_id), "reason": "预付款"}
        data = {**fields, "amount": amount, "loaded_version": str(payment.version)}
        return finance.post(f"/admin/payment/edit/?id={payment.id}", data=data)

    unchanged = save_with("100.00")
    assert unchanged.status_code == 302
    db_session.expire_all()
    assert payment.submitted_by.username == "account_manager"
    edited = save_with("900.00")
    assert edited.status_code == 302, flashes(edited)
    db_session.expire_all()
    assert payment.amount == Decimal("900.00") and payment.submitted_by.username == "finance"
    assert payment.recorded_by.username == "account_manager"  # who recorded it first stays
    with pytest.raises(WorkflowError, match="four-eyes"):
        perform(payment, "approve", user(db_session, "finance"))
