"""Quotes (SPEC §4.4, §5.2): inline lines (the unit price defaults from the product),
totals computed in SQL equal to ``quote_totals()`` and to an independent Decimal
computation (discount rounded half-up to the fen); submitting at or below
``quote_discount_approval_pct`` approves directly, above it a sales director approves
(four-eyes; account managers lack quote.approve), reject needs a comment, redraft,
accept; *convert to order* copies the lines once, only from accepted quotes; locked
quotes are read-only; data scope (lines included); the create page prefilled from an
opportunity.

Organisation (tests/conftest.py): account_manager, am_team, sales_director in 销售一部,
am_other in 销售二部, director_top in 销售部. HTTP clients speak English.
"""

from __future__ import annotations

import html
import random
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from models.auth import SystemConfig
from models.lookups import SalesStage
from models.opportunities import Opportunity
from models.orders import Order, Quote, QuoteLine, convert_quote, quote_totals
from models.scope import scope_clause
from models.workflow import WorkflowError, perform
from tests.conftest import cells, flashes, list_pages, money, transition
from tests.factories import lookup, make_client, make_product, make_quote, to_state, user

CENT = Decimal("0.01")


def expected_totals(lines, discount) -> tuple[Decimal, Decimal]:
    """Independent arithmetic: Σ quantity × price, minus the discount rounded half-up."""
    subtotal = sum((Decimal(price) * quantity for quantity, price in lines), Decimal("0"))
    cut = (subtotal * Decimal(discount) / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)
    return subtotal, subtotal - cut


# ------------------------------------------------------------------------------ totals
def test_totals_in_sql_equal_quote_totals_and_an_independent_computation(en_client, db_session):
    rng = random.Random(7)
    product = make_product(db_session)
    cases = [  # (lines [(quantity, price)], discount %) — the last ones end on half a fen
        ([(1, "0.10")], "5"),  # 0.005 → 0.01
        ([(3, "33.33")], "12.50"),  # 99.99 × 12.5% = 12.49875 → 12.50
        ([(1, "1.00")], "12.50"),  # 0.125 → 0.13
        ([(7, "0.07")], "50.50"),  # 0.49 × 50.5% = 0.24745 → 0.25
        ([(2, "10.10")], "0.25"),  # 20.20 × 0.25% = 0.0505 → 0.05
        ([(1, "0.02")], "25"),  # 0.005 → 0.01
        ([], "10"),
    ] + [
        (
            [
                (rng.randint(1, 999), f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}")
                for _ in range(rng.randint(1, 12))
            ],
            f"{rng.randint(0, 100)}.{rng.randint(0, 99):02d}" if rng.random() < 0.9 else "100",
        )
        for _ in range(10)
    ]
    quotes = []
    for lines, discount in cases:
        discount = min(Decimal(discount), Decimal(100))
        quotes.append(
            (make_quote(db_session, lines=[(product, q, p) for q, p in lines], discount=discount), lines, discount)
        )
    db_session.commit()
    db_session.expire_all()
    admin = en_client("admin")
    admin.post("/admin/quote/columns/", data={"columns": ["number", "subtotal", "total"]})  # subtotal: optional
    page = admin.get("/admin/quote/?page_size=50").get_data(as_text=True)
    listed = dict(
        zip(cells(page, "number"), zip(cells(page, "subtotal"), cells(page, "total"), strict=False), strict=False)
    )
    for quote, lines, discount in quotes:
        subtotal, total = expected_totals(lines, discount)
        assert (quote.subtotal, quote.total) == (subtotal, total), (lines, discount)
        python_subtotal, python_discount, python_total = quote_totals(quote)
        assert (python_subtotal, python_total) == (subtotal, total)
        assert python_discount == subtotal - total
        assert tuple(money(v) if v else Decimal("0") for v in listed[quote.number]) == (subtotal, total)
    assert quotes[1][0].total == Decimal("87.49") and quotes[2][0].total == Decimal("0.87")


def test_list_sql_statements_constant_and_discount_shown_as_percent(app, en_client, db_session):
    products = [make_product(db_session, price="9.99") for _ in range(3)]
    for k in range(60):
        make_quote(
            db_session,
            ("account_manager", "am_team", "am_other")[k % 3],
            lines=[(p, k % 5 + 1) for p in products],
            discount=f"{k % 20}.5",
        )
    db_session.commit()
    for username in ("admin", "account_manager"):
        client = en_client(username)
        counts, pages = list_pages(app, client, "/admin/quote/", sizes=(20, 50))
        assert counts[20] == counts[50], (username, counts)
    page = pages[50]
    listed = page.get_data(as_text=True)
    assert "19.50%" in cells(listed, "discount_pct")


# ---------------------------------------------------------------------- the workflow §5.2
@pytest.mark.parametrize(
    "discount, state",
    [("0", "approved"), ("9.99", "approved"), ("10.00", "approved"), ("10.01", "submitted"), ("35", "submitted")],
)
def test_submit_approves_directly_at_or_below_the_threshold(db_session, discount, state):
    quote = make_quote(db_session, lines=[(make_product(db_session), 1)], discount=discount)
    db_session.commit()
    am = user(db_session, "account_manager")
    assert perform(quote, "submit", am) == state
    assert quote.submitted_by_id == am.id and quote.submitted_at is not None
    assert (quote.approved_at is not None) == (state == "approved") and quote.approved_by_id is None


def test_threshold_comes_from_the_configuration(db_session):
    db_session.execute(
        SystemConfig.__table__.update().where(SystemConfig.name == "quote_discount_approval_pct").values(value="20")
    )
    db_session.commit()
    quote = make_quote(db_session, lines=[(make_product(db_session), 1)], discount="15")
    assert perform(quote, "submit", user(db_session, "account_manager")) == "approved"


def test_a_quote_without_lines_is_not_submitted(db_session):
    quote = make_quote(db_session)
    with pytest.raises(WorkflowError, match="no lines"):
        perform(quote, "submit", user(db_session, "account_manager"))


def test_approval_four_eyes_reject_redraft_accept(db_session):
    s = db_session
    am, director, top = user(s, "account_manager"), user(s, "sales_director"), user(s, "director_top")
    quote = make_quote(s, lines=[(make_product(s), 2)], discount="15")
    perform(quote, "submit", am)
    s.commit()
    with pytest.raises(WorkflowError, match="right"):
        perform(quote, "approve", am)  # account managers lack quote.approve
    with pytest.raises(WorkflowError, match="comment"):
        perform(quote, "reject", director)
    assert perform(quote, "reject", director, "折扣过高") == "rejected"
    assert quote.approval_comment == "折扣过高"
    with pytest.raises(WorkflowError, match="cannot"):
        perform(quote, "accept", am)
    assert perform(quote, "redraft", am) == "draft"
    quote.discount_pct = Decimal("12.00")
    perform(quote, "submit", am)
    assert perform(quote, "approve", director, "同意") == "approved"
    assert quote.approved_by_id == director.id and quote.approval_comment == "同意"
    with pytest.raises(WorkflowError, match="cannot"):
        perform(quote, "approve", top)
    assert perform(quote, "accept", am) == "accepted"
    s.commit()
    # the submitter never approves their own quote, not even as a sales director
    own = make_quote(s, "sales_director", lines=[(make_product(s), 1)], discount="30")
    perform(own, "submit", director)
    with pytest.raises(WorkflowError, match="four-eyes"):
        perform(own, "approve", director)
    with pytest.raises(WorkflowError, match="four-eyes"):
        perform(own, "reject", director, "自己驳回")
    assert perform(own, "approve", top) == "approved"


def test_workflow_through_the_view_and_locked_quotes(en_client, db_session):
    quote = make_quote(db_session, lines=[(make_product(db_session), 3, "100.00")], discount="20", notes="原始备注")
    db_session.commit()
    am, director = en_client("account_manager"), en_client("sales_director")
    assert "Submit: 1 done" in flashes(transition(am, "quote", "submit", quote))
    db_session.expire_all()
    assert quote.status == "submitted"
    details = am.get(f"/admin/quote/details/?id={quote.id}").get_data(as_text=True)
    assert 'id="wf-approve"' not in details  # the submitter is not offered the approval
    assert "right" in flashes(transition(am, "quote", "approve", quote))
    # locked: no edit page, an edit POST changes nothing, no delete
    edit = am.get(f"/admin/quote/edit/?id={quote.id}")
    assert edit.status_code == 302 and "details" in edit.headers["Location"]
    posted = am.post(
        f"/admin/quote/edit/?id={quote.id}",
        data={"client": str(quote.client_id), "discount_pct": "1", "notes": "改了"},
        follow_redirects=True,
    )
    assert "can no longer be changed" in flashes(posted)
    assert 'id="wf-approve"' in director.get(f"/admin/quote/details/?id={quote.id}").get_data(as_text=True)
    assert "Approve: 1 done" in flashes(transition(director, "quote", "approve", quote))
    db_session.expire_all()
    assert (quote.status, quote.discount_pct, quote.notes) == ("approved", Decimal("20.00"), "原始备注")
    assert len(quote.lines) == 1


# ---------------------------------------------------------------------- convert to order
def test_convert_copies_lines_with_discounted_prices_and_the_product_unit(db_session):
    s = db_session
    a = make_product(s, price="10.05", unit="箱")
    b = make_product(s, price="1.00", unit="米")
    quote = make_quote(s, lines=[(a, 4), (b, 3, "1.00"), (a, 1, "0.10")], discount="12.50")
    to_state(s, quote, "accepted")
    order = convert_quote(quote, user(s, "account_manager"))
    s.commit()
    assert (order.client_id, order.owner_id, order.quote_id, order.status) == (
        quote.client_id,
        quote.owner_id,
        quote.id,
        "pending",
    )
    # 10.05 × 0.875 = 8.79375 → 8.79; 1.00 × 0.875 = 0.875 → 0.88; 0.10 × 0.875 = 0.0875 → 0.09
    assert [(line.product_id, line.quantity, line.unit, line.unit_price) for line in order.lines] == [
        (a.id, 4, "箱", Decimal("8.79")),
        (b.id, 3, "米", Decimal("0.88")),
        (a.id, 1, "箱", Decimal("0.09")),
    ]
    s.expire_all()
    assert order.total == Decimal("37.89")
    with pytest.raises(WorkflowError, match="already became order"):
        convert_quote(quote, user(s, "account_manager"))
    s.rollback()
    draft = make_quote(s, lines=[(a, 1)])
    with pytest.raises(WorkflowError, match="only accepted quotes"):
        convert_quote(draft, user(s, "account_manager"))


def test_convert_through_the_view(en_client, db_session):
    s = db_session
    product = make_product(s, price="50.00", unit="台")
    accepted = to_state(s, make_quote(s, lines=[(product, 2)], discount="5"), "accepted")
    approved = to_state(s, make_quote(s, lines=[(product, 1)]), "approved")
    am = en_client("account_manager")
    details = am.get(f"/admin/quote/details/?id={accepted.id}").get_data(as_text=True)
    assert 'id="convert-to-order"' in details
    assert 'id="convert-to-order"' not in am.get(f"/admin/quote/details/?id={approved.id}").get_data(as_text=True)
    response = am.post("/admin/quote/convert/", data={"id": str(accepted.id)})
    assert response.status_code == 302
    order = s.execute(select(Order).where(Order.quote_id == accepted.id)).scalar_one()
    assert response.headers["Location"].endswith(f"/admin/order/details/?id={order.id}")
    assert [(line.quantity, line.unit, line.unit_price) for line in order.lines] == [(2, "台", Decimal("47.50"))]
    details = am.get(f"/admin/quote/details/?id={accepted.id}").get_data(as_text=True)
    assert 'id="convert-to-order"' not in details
    assert re.search(rf'id="converted-order">.*?/admin/order/details/\?id={order.id}">{order.number}<', details, re.S)
    # twice: refused with a clear message, no second order
    again = am.post("/admin/quote/convert/", data={"id": str(accepted.id)}, follow_redirects=True)
    assert f"{accepted.number} already became order {order.number}." in flashes(again)
    # not accepted: refused (list action too)
    refused = am.post(
        "/admin/quote/action/", data={"action": "convert", "rowid": [str(approved.id)]}, follow_redirects=True
    )
    assert f"{approved.number} is Approved: only accepted quotes become orders." in flashes(refused)
    assert s.execute(select(func.count()).select_from(Order)).scalar() == 1
    # the list action converts accepted quotes and opens the new order
    second = to_state(s, make_quote(s, lines=[(product, 1)]), "accepted")
    done = am.post("/admin/quote/action/", data={"action": "convert", "rowid": [str(second.id)]})
    new = s.execute(select(Order).where(Order.quote_id == second.id)).scalar_one()
    assert done.headers["Location"].endswith(f"/admin/order/details/?id={new.id}")
    # without order.create (clerk: view only) no conversion
    clerk = en_client("clerk")
    assert clerk.post("/admin/quote/convert/", data={"id": str(second.id)}).status_code == 403
    assert "convert" not in re.findall(
        r'name="action" value="(\w+)"', clerk.get("/admin/quote/").get_data(as_text=True)
    )


# -------------------------------------------------------------------------- create page
def test_create_with_lines_defaults_the_unit_price_and_owner(en_client, db_session):
    a = make_product(db_session, price="123.45")
    b = make_product(db_session, price="9.00")
    client = make_client(db_session, "account_manager")
    db_session.commit()
    am = en_client("account_manager")
    form = am.get("/admin/quote/new/").get_data(as_text=True)
    assert 'name="owner"' not in form  # own scope: the quote is mine
    price = re.search(r'<input[^>]*name="unit_price"[^>]*>', html.unescape(form)).group(0)
    assert " required" not in price  # left empty, the product's price (the browser must let it go)
    response = am.post(
        "/admin/quote/new/",
        data={
            "client": str(client.id),
            "number": "",
            "discount_pct": "10.00",
            "lines-0-product": str(a.id),
            "lines-0-quantity": "2",
            "lines-0-unit_price": "",
            "lines-1-product": str(b.id),
            "lines-1-quantity": "5",
            "lines-1-unit_price": "8.50",
        },
    )
    assert response.status_code == 302, flashes(response)
    quote = db_session.execute(select(Quote)).scalar_one()
    assert quote.owner.username == "account_manager" and quote.status == "draft"
    assert re.fullmatch(r"BJ\d{8}-\d{3}", quote.number)
    assert sorted((line.product_id, line.quantity, line.unit_price) for line in quote.lines) == sorted(
        [(a.id, 2, Decimal("123.45")), (b.id, 5, Decimal("8.50"))]
    )
    assert (quote.subtotal, quote.total) == (Decimal("289.40"), Decimal("260.46"))
    bad = am.post(
        "/admin/quote/new/",
        data={
            "client": str(client.id),
            "discount_pct": "100.01",
            "lines-0-product": str(a.id),
            "lines-0-quantity": "1",
        },
    )
    assert bad.status_code == 200 and db_session.execute(select(func.count()).select_from(Quote)).scalar() == 1


def test_create_page_prefilled_from_an_opportunity_in_scope(en_client, db_session):
    s = db_session
    client = make_client(s, "account_manager")
    stage = lookup(s, SalesStage)
    mine = Opportunity(
        client=client,
        customer_name=client.name,
        title="年度采购",
        description="需求",
        created_by=user(s, "account_manager"),
        stage=stage,
    )
    theirs = Opportunity(
        client=make_client(s, "am_other"),
        customer_name="别家",
        title="别家机会",
        description="需求",
        created_by=user(s, "am_other"),
        stage=stage,
    )
    s.add_all([mine, theirs])
    s.commit()
    am = en_client("account_manager")
    page = am.get(f"/admin/quote/new/?opportunity_id={mine.id}").get_data(as_text=True)
    client_input = re.search(r'<input[^>]*name="client"[^>]*>', page).group(0)
    opportunity_input = re.search(r'<input[^>]*name="opportunity"[^>]*>', page).group(0)
    assert f'value="{client.id}"' in client_input and f'value="{mine.id}"' in opportunity_input
    other = am.get(f"/admin/quote/new/?opportunity_id={theirs.id}").get_data(as_text=True)
    assert f'value="{theirs.id}"' not in re.search(r'<input[^>]*name="opportunity"[^>]*>', other).group(0)
    assert "别家" not in other


# -------------------------------------------------------------------------------- scope
def test_scope_of_quotes_and_their_lines(en_client, db_session):
    s = db_session
    product = make_product(s)
    mine = make_quote(s, "account_manager", lines=[(product, 1)])
    theirs = make_quote(s, "am_other", lines=[(product, 2)])
    s.commit()
    am, other = en_client("account_manager"), en_client("am_other")
    assert set(cells(am.get("/admin/quote/").get_data(as_text=True), "number")) == {mine.number}
    assert set(cells(other.get("/admin/quote/").get_data(as_text=True), "number")) == {theirs.number}
    for url in (f"/admin/quote/details/?id={mine.id}", f"/admin/quote/edit/?id={mine.id}"):
        assert other.get(url).status_code == 404
    posted = other.post(
        f"/admin/quote/edit/?id={mine.id}",
        data={"client": str(mine.client_id), "lines-0-product": str(product.id), "lines-0-quantity": "99"},
    )
    assert posted.status_code == 404
    assert other.post("/admin/quote/convert/", data={"id": str(mine.id)}).status_code in (403, 404)
    s.expire_all()
    assert [line.quantity for line in mine.lines] == [1]
    # lines are scoped through their quote
    for viewer, expected in (
        ("account_manager", {mine.id}),
        ("am_other", {theirs.id}),
        ("sales_director", {mine.id}),
        ("director_top", {mine.id, theirs.id}),
    ):
        query = select(QuoteLine.quote_id)
        clause = scope_clause(QuoteLine, user(s, viewer))
        seen = set(s.execute(query.where(clause) if clause is not None else query).scalars())
        assert seen == expected, viewer
    # the client look-up of the quote form offers only clients in scope
    found = {name for _, name in other.get("/admin/quote/ajax/lookup/?name=client&query=测试").get_json()}
    assert mine.client.name not in found and theirs.client.name in found


def test_convert_button_works_with_csrf_protection(csrf_app, db_session):
    """The details-page button posts the page's CSRF token (CSRF is on in production)."""
    from tests.conftest import csrf_token_from, login

    s = db_session
    quote = to_state(s, make_quote(s, lines=[(make_product(s, price="8.00"), 5)]), "accepted")
    client = csrf_app.test_client()
    assert login(client, "account_manager").status_code == 302
    assert client.post("/admin/quote/convert/", data={"id": str(quote.id)}).status_code == 400  # no token
    page = client.get(f"/admin/quote/details/?id={quote.id}").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="convert-form".*?</form>', page, re.S).group(0)
    response = client.post(
        "/admin/quote/convert/", data={"id": str(quote.id), "csrf_token": csrf_token_from(form.encode())}
    )
    assert response.status_code == 302 and "/admin/order/details/" in response.headers["Location"]
    assert s.execute(select(Order.quote_id)).scalars().all() == [quote.id]
