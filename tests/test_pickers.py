"""Product price fill (issue 14 item 4): a quote or order line's product select carries
data-product-fill, and <view>/product/?id= answers the unit and unit price that
static/pickers.js puts into the line; what the user types instead is what is saved."""

from __future__ import annotations

import html
import re
from decimal import Decimal

from sqlalchemy import select

from models.orders import Order, OrderLine
from tests.factories import make_client, make_product


def test_the_line_product_select_asks_for_the_price(client_as, db_session):
    s = db_session
    product = make_product(s, price="123.45", unit="台")
    retired = make_product(s, price="1.00", is_active=False)
    s.commit()
    am = client_as("account_manager")
    for endpoint in ("quote", "order"):
        # the line rows come from the inline template (an escaped attribute of the page)
        page = html.unescape(am.get(f"/admin/{endpoint}/new/").get_data(as_text=True))
        tag = re.search(r'<select[^>]*name="[^"]*product"[^>]*>', page)
        assert tag and "data-product-fill" in tag.group(0), endpoint
        answer = am.get(f"/admin/{endpoint}/product/?id={product.id}")
        assert answer.get_json() == {"id": product.id, "unit": "台", "unit_price": "123.45"}
        assert am.get(f"/admin/{endpoint}/product/?id={retired.id}").status_code == 404  # not offered
        assert am.get(f"/admin/{endpoint}/product/?id=x").status_code == 404


def test_a_typed_unit_price_is_kept(client_as, db_session):
    s = db_session
    product = make_product(s, price="123.45", unit="台")
    client = make_client(s, "account_manager")
    s.commit()
    am = client_as("account_manager")
    form = {
        "client": str(client.id),
        "number": "",
        "ordered_on": "",
        "lines-0-product": str(product.id),
        "lines-0-quantity": "2",
        "lines-0-unit": "箱",
        "lines-0-unit_price": "99.00",
    }
    assert am.post("/admin/order/new/", data=form).status_code == 302
    order = s.execute(select(Order).where(Order.client_id == client.id)).scalar_one()
    line = s.execute(select(OrderLine).where(OrderLine.order_id == order.id)).scalar_one()
    assert (line.unit, line.unit_price) == ("箱", Decimal("99.00"))
