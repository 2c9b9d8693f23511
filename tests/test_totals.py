"""Totals kept beside their rows (issue 10, part 7; models/totals.py): after every kind of
change the stored ``orders.total``, ``quote.subtotal``/``total`` and ``contract.received``/
``invoiced`` (with the last days they reach) equal the aggregate of their rows, computed
here independently in Decimal — also after statements run through the session, and when
two transactions change the same order or contract at once (no lost update), on SQLite and
on PostgreSQL. The receivables report reads the stored figures and still answers as of
an earlier day."""

from __future__ import annotations

import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, insert, select, update

from models import db
from models.customers import Contract
from models.finance import ContractReceipt, Invoice, Receipt
from models.lookups import InvoiceType, PaymentMethod
from models.orders import Order, OrderLine, Quote, QuoteLine
from models.workflow import perform
from reports.receivables import ReceivablesFilters, receivables_report
from tests.conftest import cells, money, run_parallel
from tests.factories import lookup, make_client, make_contract, make_order, make_product, make_quote, user

ZERO = Decimal("0.00")


def _lines_sum(lines) -> Decimal:
    return sum((Decimal(line.unit_price) * line.quantity for line in lines), ZERO)


def mismatches(s) -> list:
    """Every stored figure that differs from its aggregate: (record, figure, stored, summed)."""
    s.expire_all()
    wrong = []

    def check(record, name, stored, summed):
        if stored != summed:
            wrong.append((str(record), name, stored, summed))

    for order in s.execute(select(Order)).scalars():
        check(order, "total", order.total, _lines_sum(order.lines))
    for quote in s.execute(select(Quote)).scalars():
        subtotal = _lines_sum(quote.lines)
        discount = (subtotal * Decimal(quote.discount_pct) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        check(quote, "subtotal", quote.subtotal, subtotal)
        check(quote, "total", quote.total, subtotal - discount)
    for contract in s.execute(select(Contract)).scalars():
        live = s.execute(
            select(ContractReceipt.amount, Receipt.received_on)
            .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
            .where(ContractReceipt.contract_id == contract.id, Receipt.is_deleted.is_(False))
        ).all()
        issued = s.execute(
            select(Invoice.total, Invoice.issued_on).where(
                Invoice.contract_id == contract.id, Invoice.status != "voided"
            )
        ).all()
        check(contract, "received", contract.received, sum((a for a, _ in live), ZERO))
        check(contract, "received_last_on", contract.received_last_on, max((d for _, d in live), default=None))
        check(contract, "invoiced", contract.invoiced, sum((t for t, _ in issued), ZERO))
        check(contract, "invoiced_last_on", contract.invoiced_last_on, max((d for _, d in issued), default=None))
        check(contract, "balance", contract.balance, Decimal(contract.amount) - contract.received)
    return wrong


def _receipt(s, contract, *amounts, received_on=date(2026, 3, 1), unallocated="0") -> Receipt:
    receipt = Receipt(
        number=f"HK-T-{time.monotonic_ns()}",
        client_id=contract.client_id,
        amount=sum((Decimal(a) for a in amounts), Decimal(unallocated)),
        received_on=received_on,
        method=lookup(s, PaymentMethod),
        recorded_by=user(s, "finance"),
        allocations=[ContractReceipt(contract=contract, amount=Decimal(a)) for a in amounts],
    )
    s.add(receipt)
    return receipt


def _invoice(s, contract, amount, issued_on=date(2026, 3, 2)) -> Invoice:
    invoice = Invoice(
        contract=contract,
        type=lookup(s, InvoiceType),
        number=f"FP-T-{time.monotonic_ns()}",
        amount=Decimal(amount),
        tax_rate=13,
        issued_on=issued_on,
    )
    s.add(invoice)
    return invoice


# ------------------------------------------------------------------------------ orders
def test_an_order_total_follows_every_change_of_its_lines(db_session):
    s = db_session
    product = make_product(s, price="10.00")
    order = make_order(s, lines=[(product, 3, "99.99"), (product, 1)])
    other = make_order(s, lines=[(product, 2, "0.01")])
    s.commit()
    assert order.total == Decimal("309.97") and other.total == Decimal("0.02")  # read back in the session
    assert mismatches(s) == []
    steps = [
        lambda: setattr(order.lines[0], "quantity", 7),  # edit a quantity
        lambda: setattr(order.lines[1], "unit_price", Decimal("12.34")),  # edit a price
        lambda: order.lines.append(OrderLine(product=product, quantity=5, unit="个", unit_price=Decimal("1.01"))),
        lambda: order.lines.remove(order.lines[1]),  # an inline line removed: deleted as an orphan
        lambda: s.delete(order.lines[-1]),  # deleted directly
        lambda: setattr(order.lines[0], "order", other),  # moved to another order
        lambda: perform(other, "cancel", user(s, "account_manager"), "客户取消"),  # status: the total stays
        lambda: other.soft_delete(user(s, "admin").id),
        lambda: other.restore(),
        lambda: s.delete(order),  # the whole order and its lines
    ]
    for number, step in enumerate(steps):
        step()
        s.commit()
        assert mismatches(s) == [], number
    assert other.total == Decimal("699.95")  # 7 × 99.99 + 2 × 0.01, after the move


def test_statements_run_through_the_session_keep_the_totals(db_session):
    """Bulk inserts (the demo seed, tests), updates and deletes of lines by statement."""
    s = db_session
    product = make_product(s)
    orders = [make_order(s) for _ in range(3)]
    s.commit()
    rows = [
        {"order_id": o.id, "product_id": product.id, "quantity": k + 1, "unit": "个", "unit_price": Decimal("12.34")}
        for o in orders
        for k in range(3)
    ]
    s.execute(insert(OrderLine.__table__), rows)
    s.commit()
    assert [o.total for o in orders] == [Decimal("74.04")] * 3 and mismatches(s) == []
    s.execute(update(OrderLine).where(OrderLine.order_id == orders[0].id).values(quantity=10))
    s.execute(delete(OrderLine).where(OrderLine.order_id == orders[1].id, OrderLine.quantity > 1))
    s.execute(update(OrderLine).where(OrderLine.order_id == orders[2].id).values(order_id=orders[1].id))
    s.commit()
    assert [o.total for o in orders] == [Decimal("370.20"), Decimal("86.38"), ZERO]
    assert mismatches(s) == []


# ------------------------------------------------------------------------------ quotes
def test_a_quote_keeps_its_subtotal_and_its_discounted_total(db_session):
    s = db_session
    product = make_product(s)
    quote = make_quote(s, lines=[(product, 7, "99.99")], discount="12.50")
    s.commit()
    assert (quote.subtotal, quote.total) == (Decimal("699.93"), Decimal("612.44"))  # discount 87.49125 → 87.49
    for step in (
        lambda: setattr(quote, "discount_pct", Decimal("33.33")),
        lambda: quote.lines.append(QuoteLine(product=product, quantity=3, unit_price=Decimal("0.10"))),
        lambda: setattr(quote.lines[0], "quantity", 1),
        lambda: quote.lines.remove(quote.lines[0]),
        lambda: setattr(quote, "discount_pct", Decimal("15")),  # 0.30 − 0.045 rounded half-up: 0.25
    ):
        step()
        s.commit()
        assert mismatches(s) == []
    assert (quote.subtotal, quote.total) == (Decimal("0.30"), Decimal("0.25"))


# --------------------------------------------------------------------------- contracts
def test_contract_money_follows_receipts_and_invoices(db_session):
    s = db_session
    client = make_client(s, "account_manager")
    contract = make_contract(s, client, amount="1000.00")
    other = make_contract(s, client, amount="1000.00")
    s.commit()
    assert (contract.received, contract.invoiced, contract.balance) == (ZERO, ZERO, Decimal("1000.00"))
    receipt = _receipt(s, contract, "100.00", "50.00", unallocated="500.00")
    finance = user(s, "finance")
    steps = [
        lambda: None,  # the receipt recorded
        lambda: setattr(receipt.allocations[0], "amount", Decimal("120.00")),
        lambda: setattr(receipt.allocations[1], "contract", other),  # allocated elsewhere
        lambda: receipt.allocations.append(ContractReceipt(contract=contract, amount=Decimal("30.00"))),
        lambda: setattr(receipt, "received_on", date(2026, 5, 5)),  # the last day received moves
        lambda: perform(receipt, "confirm", finance),  # confirming changes no sum
        lambda: receipt.soft_delete(finance.id),  # a deleted receipt stops counting …
        lambda: receipt.restore(),  # … and counts again when restored
        lambda: _invoice(s, contract, "100.00"),
        lambda: _invoice(s, contract, "200.00", issued_on=date(2026, 4, 1)),
        lambda: perform(contract_invoices(s, contract)[-1], "void", finance, "开票信息有误"),  # voided: not counted
        lambda: receipt.allocations.remove(receipt.allocations[0]),
        lambda: s.delete(receipt),  # purged with its allocations
    ]
    for number, step in enumerate(steps):
        step()
        s.commit()
        assert mismatches(s) == [], number
        if number == 4:
            assert (contract.received, contract.received_last_on) == (Decimal("150.00"), date(2026, 5, 5))
        if number == 6:
            assert contract.received == ZERO and contract.received_last_on is None
    assert (contract.received, contract.invoiced) == (ZERO, Decimal("113.00"))


def contract_invoices(s, contract) -> list[Invoice]:
    return s.execute(select(Invoice).where(Invoice.contract_id == contract.id).order_by(Invoice.id)).scalars().all()


# ------------------------------------------------------------------------- concurrency
def _in_a_request(app, change, pause=0.3):
    """Run ``change(session)`` as a writing request would (its own session; SQLite takes the
    write lock at BEGIN), holding the transaction open a moment after the flush so that a
    parallel writer of the same rows has to wait for it."""

    def call():
        with app.test_request_context("/", method="POST"):
            try:
                change(db.session)
                db.session.flush()
                time.sleep(pause)
                db.session.commit()
            finally:
                db.session.remove()
        return "ok"

    return call


def test_parallel_changes_of_one_order_and_one_contract_lose_nothing(app, db_session):
    s = db_session
    product = make_product(s)
    order = make_order(s, lines=[(product, 1, "1.00")])
    quote = make_quote(s, lines=[(product, 1, "1.00")], discount="10")
    client = make_client(s, "account_manager")
    contract = make_contract(s, client, amount="10000.00")
    s.commit()
    ids = {"order": order.id, "quote": quote.id, "contract": contract.id, "product": product.id}  # no shared objects

    def add_lines(quantity):
        def change(session):
            session.add(OrderLine(order_id=ids["order"], product_id=ids["product"], quantity=quantity, unit="个",
                                  unit_price=Decimal("1.00")))  # fmt: skip
            session.add(QuoteLine(quote_id=ids["quote"], product_id=ids["product"], quantity=quantity,
                                  unit_price=Decimal("1.00")))  # fmt: skip

        return change

    def add_money(amount):
        def change(session):
            target = session.get(Contract, ids["contract"])
            _receipt(session, target, amount)
            _invoice(session, target, amount)

        return change

    calls = [_in_a_request(app, add_lines(q)) for q in (2, 3, 4)]
    calls += [_in_a_request(app, add_money(a)) for a in ("10.00", "20.00", "30.00")]
    assert run_parallel(calls) == ["ok"] * 6
    assert mismatches(s) == []
    assert order.total == Decimal("10.00") and quote.total == Decimal("9.00")
    assert contract.received == Decimal("60.00") and contract.invoiced == Decimal("67.80")


# ------------------------------------------------------------------------- receivables
def test_the_receivables_report_reads_stored_money_and_answers_for_an_earlier_day(db_session):
    s = db_session
    client = make_client(s, "account_manager")
    contract = make_contract(s, client, amount="1000.00", starts_on=date(2026, 1, 1))
    _receipt(s, contract, "100.00", received_on=date(2026, 2, 1))
    _receipt(s, contract, "200.00", received_on=date(2026, 6, 1))
    _invoice(s, contract, "100.00", issued_on=date(2026, 2, 2))
    _invoice(s, contract, "200.00", issued_on=date(2026, 7, 1))
    s.commit()
    admin = user(s, "admin")

    def row(as_of):
        report = receivables_report(s, ReceivablesFilters(as_of=as_of, contract_ids=(contract.id,)), admin)
        (only,) = report.rows
        return only["received"], only["invoiced"], only["balance"], report.totals["balance"]

    assert row(date(2026, 12, 1)) == (Decimal("300.00"), Decimal("339.00"), Decimal("700.00"), Decimal("700.00"))
    assert row(date(2026, 6, 1)) == (Decimal("300.00"), Decimal("113.00"), Decimal("700.00"), Decimal("700.00"))
    assert row(date(2026, 3, 1)) == (Decimal("100.00"), Decimal("113.00"), Decimal("900.00"), Decimal("900.00"))
    assert row(date(2026, 1, 15)) == (ZERO, ZERO, Decimal("1000.00"), Decimal("1000.00"))


def test_the_receivables_report_as_of_any_day_equals_a_sum_of_the_records_up_to_it(db_session):
    """Early days are summed up to the day, late ones subtracted from the stored figures: every
    as-of day from before the first record to after the last gives the sums of the records
    dated up to it (deleted receipts and voided invoices left out), row by row and in total."""
    s = db_session
    finance = user(s, "finance")
    contracts = [make_contract(s, make_client(s, "account_manager"), amount="5000.00") for _ in range(3)]
    receipts, invoices = [], []  # (contract index, day, amount, counts)
    for n, (month, day) in enumerate([(1, 5), (2, 1), (3, 3), (3, 3), (5, 20), (8, 8), (11, 30), (12, 1)]):
        target, amount = n % 3, Decimal(f"{(n + 1) * 37}.{n:02d}")
        receipt = _receipt(s, contracts[target], str(amount), received_on=date(2026, month, day))
        invoice = _invoice(s, contracts[(n + 1) % 3], str(amount), issued_on=date(2026, month, day))
        s.commit()
        deleted, voided = n == 4, n == 5
        if deleted:
            receipt.soft_delete(finance.id)
        if voided:
            perform(invoice, "void", finance, "开票信息有误")
        s.commit()
        receipts.append((target, receipt.received_on, amount, not deleted))
        invoices.append(((n + 1) % 3, invoice.issued_on, invoice.total, not voided))
    admin = user(s, "admin")
    ids = tuple(c.id for c in contracts)

    def expected(records, target, as_of):
        return sum((a for t, day, a, counts in records if t == target and counts and day <= as_of), ZERO)

    days = [date(2025, 12, 31), date(2026, 1, 5), date(2026, 2, 28), date(2026, 3, 3), date(2026, 6, 1)]
    days += [date(2026, 8, 7), date(2026, 8, 8), date(2026, 11, 30), date(2026, 12, 1), date(2027, 6, 1)]
    for as_of in days:
        report = receivables_report(s, ReceivablesFilters(as_of=as_of, contract_ids=ids, statuses=None), admin)
        rows = {row["contract_id"]: row for row in report.rows}
        for target, contract in enumerate(contracts):
            received, invoiced = expected(receipts, target, as_of), expected(invoices, target, as_of)
            row = rows[contract.id]
            assert (row["received"], row["invoiced"], row["balance"]) == (
                received,
                invoiced,
                Decimal("5000.00") - received,
            ), (as_of, target)
        total = sum((expected(receipts, t, as_of) for t in range(3)), ZERO)
        assert report.totals["received"] == total and report.totals["balance"] == Decimal("15000.00") - total, as_of


# ------------------------------------------------------------------------------ lists
def test_the_order_and_quote_lists_sort_and_filter_on_the_stored_totals(client_as, db_session):
    s = db_session
    product = make_product(s)
    for price in ("5.00", "300.00", "42.10"):
        make_order(s, owner="admin", lines=[(product, 2, price)])
        make_quote(s, owner="admin", lines=[(product, 2, price)], discount="10")
    s.commit()
    admin = client_as("admin")
    page = admin.get("/admin/order/?sort=3&desc=1").get_data(as_text=True)  # column 3: total
    assert [money(c) for c in cells(page, "total")][:3] == [Decimal("600.00"), Decimal("84.20"), Decimal("10.00")]
    page = admin.get("/admin/order/?sort=3").get_data(as_text=True)
    assert [money(c) for c in cells(page, "total")] == [Decimal("10.00"), Decimal("84.20"), Decimal("600.00")]
    page = admin.get("/admin/quote/?sort=3&desc=1").get_data(as_text=True)  # column 3: total after discount
    assert [money(c) for c in cells(page, "total")][:3] == [Decimal("540.00"), Decimal("75.78"), Decimal("9.00")]
