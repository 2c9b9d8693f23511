"""Once-only steps and document numbers under concurrency (issue 8, items 1, 2, 4, 13):
parallel requests over real HTTP (``live_server`` + ``http_user`` + ``run_parallel``),
several trials each, on SQLite and on PostgreSQL (``TEST_DATABASE_URL``).

* a quote converts into one order; the losers are told which order it became;
* every once-only workflow step (contract approve/sign, quote submit, purchase request
  approve, receipt confirm, invoice void) takes effect once; the losers get a message
  naming the record — "changed by X meanwhile" when they confirmed an older version;
* parallel allocations never overfill a contract;
* parallel creates with the number left empty are all saved, with distinct numbers.

No answer is a 500. HTTP users speak English so that messages are asserted literally.
"""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.audit import AuditLog
from models.customers import Contract
from models.finance import ContractReceipt, Invoice, Receipt
from models.lookups import ContractType, InvoiceType, PaymentMethod
from models.orders import Order, Quote
from models.purchasing import PurchaseRequest
from models.workflow import perform
from tests.conftest import run_parallel
from tests.factories import lookup, make_client, make_product, make_quote, to_state, user

TRIALS = 4


def messages(body: str) -> str:
    """The flashed messages of a page, as text."""
    boxes = re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', body, re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", box) for box in boxes))


def no_server_error(results) -> None:
    for result in results:
        assert not isinstance(result, Exception), repr(result)
        status, body, _ = result
        assert status < 500, body[:2000]


def entries(session, record, action) -> int:
    """How many times ``action`` was recorded on ``record`` (one per step taken)."""
    return session.execute(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.table_name == record.__tablename__, AuditLog.record_id == record.id, AuditLog.action == action)
    ).scalar()


# ---------------------------------------------------------------- quote → order once
def test_parallel_conversions_of_one_quote_make_one_order(http_user, db_session):
    s = db_session
    people = [http_user("account_manager") for _ in range(3)]  # log in before holding a write transaction
    product = make_product(s, price="99.99", unit="台")
    for _ in range(TRIALS):
        quote = to_state(s, make_quote(s, lines=[(product, 7)], discount="12.50"), "accepted")
        results = run_parallel(
            [
                lambda u=u, quote=quote: u.post("/admin/quote/convert/", {"id": str(quote.id)}, follow=True)
                for u in people
            ]
        )
        no_server_error(results)
        s.expire_all()
        orders = s.execute(select(Order).where(Order.quote_id == quote.id)).scalars().all()
        assert len(orders) == 1, [o.number for o in orders]
        texts = [messages(body) for _, body, _ in results]
        assert sum(f"Orders created: {orders[0].number}." in text for text in texts) == 1, texts
        assert sum(f"{quote.number} already became order {orders[0].number}." in text for text in texts) == 2, texts
        assert orders[0].total == quote.total == Decimal("612.44")


# ------------------------------------------------------------------ once-only steps
def _contract(s, status, submitter="account_manager"):
    client = make_client(s, "account_manager")
    contract = Contract(
        client=client,
        type=lookup(s, ContractType),
        number=f"HT-R-{client.id:05d}",
        name="并发合同",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        amount=Decimal("1000.00"),
        owner=client.owner,
    )
    s.add(contract)
    s.commit()
    steps = {"submitted": ["submit"], "approved": ["submit", "approve"]}[status]
    for step in steps:
        perform(contract, step, user(s, submitter if step == "submit" else "sales_director"))
        s.commit()
    return contract


def _receipt(s):
    client = make_client(s, "account_manager")
    receipt = Receipt(
        number=f"HK-R-{client.id:05d}",
        client=client,
        amount=Decimal("10.00"),
        received_on=date(2026, 3, 1),
        method=lookup(s, PaymentMethod),
        recorded_by=user(s, "finance"),
    )
    s.add(receipt)
    s.commit()
    return receipt


def _invoice(s):
    contract = _contract(s, "approved")
    invoice = Invoice(
        contract=contract,
        type=lookup(s, InvoiceType),
        number=f"FP{contract.id:08d}",
        amount=Decimal("100.00"),
        tax_rate=13,
        issued_on=date(2026, 3, 2),
    )
    s.add(invoice)
    s.commit()
    return invoice


def _quote(s):
    quote = make_quote(s, lines=[(make_product(s), 2)], discount="5")
    s.commit()
    return quote


def _purchase_request(s):
    request = PurchaseRequest(name="并发采购", requester=user(s, "account_manager"))
    s.add(request)
    s.commit()
    perform(request, "submit", user(s, "account_manager"))
    s.commit()
    return request


#: step → (endpoint, make the record, the two people taking the step, comment, state after)
STEPS = {
    "contract approve": (
        "contract",
        lambda s: _contract(s, "submitted"),
        ("sales_director", "director_top"),
        "",
        "approved",
    ),
    "contract sign": ("contract", lambda s: _contract(s, "approved"), ("sales_director", "director_top"), "", "signed"),
    "quote submit": ("quote", _quote, ("account_manager", "account_manager"), "", "approved"),
    "purchase_request approve": (
        "purchase_request",
        _purchase_request,
        ("sales_director", "director_top"),
        "",
        "approved",
    ),
    "receipt confirm": ("receipt", _receipt, ("finance", "finance"), "", "confirmed"),
    "invoice void": ("invoice", _invoice, ("finance", "finance"), "开错了", "voided"),
}


@pytest.mark.parametrize("case", list(STEPS))
def test_a_once_only_step_taken_in_parallel_takes_effect_once(http_user, db_session, case):
    s = db_session
    endpoint, make, actors, comment, after = STEPS[case]
    action = case.split()[1]
    people = [http_user(name) for name in actors]
    for _ in range(TRIALS):
        record = make(s)
        form = {"action": action, "ids": str(record.id), "comment": comment}
        results = run_parallel(
            [lambda u=u, form=form: u.post(f"/admin/{endpoint}/transition/", form, follow=True) for u in people]
        )
        no_server_error(results)
        s.expire_all()
        assert record.status == after
        assert entries(s, record, action) == 1
        texts = [messages(body) for _, body, _ in results]
        assert sum("1 done." in text for text in texts) == 1, texts
        loser = next(text for text in texts if "1 done." not in text)
        assert str(record) in loser and "0 done, 1 refused." in loser, loser


def test_the_loser_of_two_approvals_is_told_who_changed_the_contract(http_user, db_session):
    """Both directors opened the confirmation page (it carries the version they saw);
    whoever confirms second is told who changed the contract meanwhile."""
    s = db_session
    people = [http_user(name) for name in ("sales_director", "director_top")]
    for _ in range(TRIALS):
        contract = _contract(s, "submitted")
        path = f"/admin/contract/transition/?action=approve&ids={contract.id}"
        forms = []
        for person in people:
            status, page, _ = person.get(path)
            assert status == 200
            fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
            forms.append({**{k: html.unescape(v) for k, v in fields.items()}, "comment": ""})
        assert forms[0]["versions"] == f"{contract.id}:{contract.version}"
        results = run_parallel(
            [
                lambda u=u, f=f: u.post("/admin/contract/transition/", f, follow=True)
                for u, f in zip(people, forms, strict=False)
            ]
        )
        no_server_error(results)
        s.expire_all()
        assert contract.status == "approved" and entries(s, contract, "approve") == 1
        winner = contract.approved_by.name
        texts = [messages(body) for _, body, _ in results]
        loser = next(text for text in texts if "1 done." not in text)
        assert f"{contract} was changed by {winner} meanwhile — reload and try again." in loser, texts


def test_a_step_on_a_record_changed_since_the_page_was_opened_is_refused(http_user, db_session):
    """Not only races: a confirmation page left open while someone else acted."""
    s = db_session
    contract = _contract(s, "approved")
    director = http_user("sales_director")
    page = director.get(f"/admin/contract/transition/?action=terminate&ids={contract.id}")[1]
    versions = re.search(r'name="versions" value="([^"]*)"', page).group(1)
    other = http_user("director_top")
    assert other.post("/admin/contract/transition/", {"action": "sign", "ids": str(contract.id)})[0] == 302
    status, body, _ = director.post(
        "/admin/contract/transition/",
        {"action": "terminate", "ids": str(contract.id), "versions": versions, "comment": "客户取消"},
        follow=True,
    )
    assert status == 200
    assert f"{contract} was changed by 总监 meanwhile — reload and try again." in messages(body)
    s.expire_all()
    assert contract.status == "signed"


# ------------------------------------------------------------ allocation sum rule
def test_parallel_allocations_never_overfill_a_contract(http_user, db_session):
    s = db_session
    people = [http_user("finance") for _ in range(3)]
    method = lookup(s, PaymentMethod)
    for trial in range(TRIALS):
        contract = _contract(s, "approved")
        forms = [
            {
                "client": str(contract.client_id),
                "number": f"HK-P-{contract.id}-{k}",
                "amount": "600.00",
                "received_on": "2026-03-01",
                "method": str(method.id),
                "department": "__None",
                "recorded_by": "__None",
                "allocations-0-contract": str(contract.id),
                "allocations-0-amount": "400.00",
            }
            for k in range(3)
        ]
        results = run_parallel(
            [lambda u=u, f=f: u.post("/admin/receipt/new/", f) for u, f in zip(people, forms, strict=False)]
        )
        no_server_error(results)
        s.expire_all()
        allocated = s.execute(
            select(func.sum(ContractReceipt.amount)).where(ContractReceipt.contract_id == contract.id)
        ).scalar()
        assert allocated == Decimal("800.00"), (trial, allocated)
        saved = [status for status, _, _ in results if status == 302]
        assert len(saved) == 2
        refused = next(body for status, body, _ in results if status == 200)
        assert (
            f"contract {contract.number}: the receipts allocated to it would total ¥1,200.00, ¥200.00 more "
            f"than the contract amount ¥1,000.00."
        ) in messages(refused)


# ------------------------------------------------------------------- numbers
def _order_form(s):
    client = make_client(s, "account_manager")
    product = make_product(s)
    s.commit()
    return {
        "client": str(client.id),
        "number": "",
        "ordered_on": "",
        "lines-0-product": str(product.id),
        "lines-0-quantity": "1",
        "lines-0-unit": "",
        "lines-0-unit_price": "",
    }


def _quote_form(s):
    form = _order_form(s)
    return {
        "client": form["client"],
        "number": "",
        "discount_pct": "0",
        "lines-0-product": form["lines-0-product"],
        "lines-0-quantity": "2",
        "lines-0-unit_price": "",
    }


NUMBERED = {
    "order": (Order, _order_form, r"DD\d{8}-\d{3}"),
    "quote": (Quote, _quote_form, r"BJ\d{8}-\d{3}"),
    "purchase_request": (PurchaseRequest, lambda s: {"number": "", "name": "并发采购申请"}, r"CG\d{8}-\d{3}"),
}


def _create_in_parallel(http_user, s, endpoint, model, make_form, pattern, role):
    """Three users of ``role`` create ``endpoint`` records at once, TRIALS times, the number
    left empty: every one is saved, numbers never repeat and follow ``pattern``."""
    people = [http_user(role) for _ in range(3)]
    for trial in range(TRIALS):
        forms = [make_form(s) for _ in people]
        results = run_parallel(
            [lambda u=u, f=f: u.post(f"/admin/{endpoint}/new/", f) for u, f in zip(people, forms, strict=False)]
        )
        no_server_error(results)
        assert [status for status, _, _ in results] == [302] * len(people), [messages(b) for _, b, _ in results]
        s.expire_all()
        numbers = s.execute(select(model.number)).scalars().all()
        assert len(numbers) == len(set(numbers)) == len(people) * (trial + 1)
        assert all(re.fullmatch(pattern, number) for number in numbers), numbers


@pytest.mark.parametrize("endpoint", list(NUMBERED))
def test_parallel_creates_with_the_number_left_empty_are_all_saved(http_user, db_session, endpoint):
    model, make_form, pattern = NUMBERED[endpoint]
    _create_in_parallel(http_user, db_session, endpoint, model, make_form, pattern, "account_manager")


def test_a_typed_number_stays_accepted_and_the_sequence_skips_it(en_client, db_session):
    from models.clock import today as _local_today

    s = db_session
    form = _order_form(s)
    am = en_client("account_manager")
    stem = f"DD{_local_today():%Y%m%d}-"
    assert am.post("/admin/order/new/", data=form).status_code == 302
    assert am.post("/admin/order/new/", data={**form, "number": f"{stem}003"}).status_code == 302
    for _ in range(2):
        assert am.post("/admin/order/new/", data=form).status_code == 302
    s.expire_all()
    assert sorted(s.execute(select(Order.number)).scalars()) == [f"{stem}00{n}" for n in (1, 2, 3, 4)]
    # the same number typed again: refused on the field (the form), never in the database's words
    again = am.post("/admin/order/new/", data={**form, "number": f"{stem}003"}).get_data(as_text=True)
    assert number_refused(again)
    # outside forms (CLI, imports) the domain refuses it naming the field
    from models.base import FieldError

    s.add(Order(number=f"{stem}003", client_id=int(form["client"]), owner=user(s, "account_manager")))
    with pytest.raises(FieldError, match=f"Order number: {stem}003 is already taken — type another number"):
        s.flush()
    s.rollback()


def number_refused(page: str) -> bool:
    """The create page refused the typed order number on its field, or (a collision in the
    same instant) in a message naming the field — never with the database's own words."""
    text = html.unescape(page)
    assert "UNIQUE" not in text and "duplicate key" not in text
    on_field = re.search(
        r'name="number" type="text" value="[^"]*">\s*<div class="invalid-feedback">'
        r".*?<li>Already exists.</li>",
        page,
        re.S,
    )
    return bool(on_field) or "Order number: another record took this number a moment ago" in messages(page)


def _contract_form(s):
    from tests.factories import contract_form

    client = make_client(s, "account_manager")
    s.commit()
    return contract_form(s, client, number="")


def _receipt_form(s):
    client = make_client(s, "account_manager")
    s.commit()
    return {
        "client": str(client.id),
        "number": "",
        "amount": "10.00",
        "received_on": "2026-04-05",
        "method": str(lookup(s, PaymentMethod).id),
    }


#: documents numbered by their pattern in the settings (issue 14): endpoint → (model, form, number, role)
NUMBERED_BY_PATTERN = {
    "contract": (Contract, _contract_form, r"HT\d{4}\d{5}", "account_manager"),
    "receipt": (Receipt, _receipt_form, r"HK20260405-\d{3}", "finance"),
}


@pytest.mark.parametrize("endpoint", list(NUMBERED_BY_PATTERN))
def test_parallel_creates_numbered_by_their_pattern_never_repeat(http_user, db_session, endpoint):
    model, make_form, pattern, role = NUMBERED_BY_PATTERN[endpoint]
    _create_in_parallel(http_user, db_session, endpoint, model, make_form, pattern, role)
