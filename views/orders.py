"""Quotes and orders (SPEC §4.4, §5.2, orders flow): quotes with inline lines and discount
approval, orders with inline lines that ship from stock. The rules live in models/orders.py;
these classes only declare what is shown and translate the request into domain calls."""

from __future__ import annotations

import re

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import StringField, validators

from models import db
from models.auth import Department
from models.orders import (
    ORDER_STATUSES,
    QUOTE_STATUSES,
    Order,
    OrderLine,
    Quote,
    QuoteLine,
    convert_quote,
    open_order_for_quote,
)
from models.products import Product
from models.shipments import (
    Shipment,
    default_quantities,
    left_to_ship,
    shipped_quantities,
    warehouse_choices,
    warehouse_stock,
)
from models.workflow import changed_meanwhile, perform

from .crud import (
    CrmModelView,
    LazyOptions,
    MoneyField,
    Section,
    crm_action,
    crm_page,
    kept,
    record_link,
    status_filter,
    status_not_filter,
)
from .customers import OwnerDepartmentFilter, _departments
from .helpers import columns_but, db_int
from .kpi_filters import WaitingForMeFilter
from .opportunities import FROM_OPPORTUNITY
from .products import money_range
from .workflow import APPROVAL_TRAIL, WorkflowMixin

SALES = _l("Sales")
AUTO_NUMBER = _l("Left empty, a number is given on saving.")
FROM_PRODUCT = _l("Left empty, taken from the product.")


def _percent(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else f"{value}%"


def _offered_products():
    """Products a line may name: live and active ones, plus those the edited record
    already uses (``keep_current = ("lines.product",)``)."""
    keep = kept("lines.product")
    query = db.session.query(Product).filter(Product.live())
    active = Product.is_active.is_(True)
    query = query.filter(or_(active, Product.id.in_(keep)) if keep else active)
    return query.order_by(Product.name, Product.model, Product.id)


#: line fields the domain fills from the product when left empty (not required, also
#: not by the browser: Flask-Admin would mark the NOT NULL columns ``required``)
OPTIONAL_LINE_FIELDS = {
    "unit": lambda: StringField(
        _l("Unit"), [validators.Optional(), validators.Length(max=10)], description=FROM_PRODUCT
    ),
    "unit_price": lambda: MoneyField(
        _l("Unit price"), [validators.Optional(), validators.NumberRange(min=0)], description=FROM_PRODUCT
    ),
}


def _line_options(columns, optional=()):
    """Inline line forms: products from :func:`_offered_products`; ``optional`` fields
    are filled by the domain when left empty."""
    args = {
        "product": {
            "query_factory": _offered_products,
            "allow_blank": True,
            "blank_text": "—",
            "validators": [validators.InputRequired()],
            # static/pickers.js fills the line's unit and unit price from <view>/product/
            "render_kw": {"data-product-fill": ""},
        }
    }
    return {
        "form_columns": ("id", *columns),
        "form_args": args,
        "form_extra_fields": {name: OPTIONAL_LINE_FIELDS[name]() for name in optional},
    }


class NumberedMixin:
    """Quotes and orders: a number taken by another record in the same instant (typed by
    hand in two forms at once), or a quote that became another order in that instant, is
    refused naming the field, not in the database's words."""

    def integrity_message(self, exc) -> str:
        text = str(getattr(exc, "orig", exc))
        if re.search(rf"\b{self.model.__tablename__}\.number\b|uq_{self.model.__tablename__}_number", text):
            return gettext(
                "%(field)s: another record took this number a moment ago — type another number "
                "or leave it empty to get a new one.",
                field=self.column_labels.get("number"),
            )
        if re.search(r"\borders\.quote_id\b|uq_orders_quote_id_live", text):
            return gettext(
                "%(field)s: this quote became another order a moment ago — choose another quote or none.",
                field=self.column_labels.get("quote"),
            )
        return super().integrity_message(exc)


class LinesMixin:
    """Quotes and orders: the products of the edited record stay offered on its lines;
    picking a product fills the line's unit and unit price (static/pickers.js)."""

    keep_current = ("lines.product",)

    @expose("/product/")
    @crm_page(right="view")
    def product_view(self):
        """JSON for static/pickers.js: the unit and unit price of an offered ``?id=``."""
        product_id = db_int(request.args.get("id"))
        product = _offered_products().filter(Product.id == product_id).first() if product_id is not None else None
        if product is None:
            abort(404)
        return jsonify({"id": product.id, "unit": product.unit, "unit_price": str(product.price)})


# ------------------------------------------------------------------------------ quotes
class QuoteView(NumberedMixin, LinesMixin, WorkflowMixin, CrmModelView):
    """报价单: lines, discount, stored totals (models/totals.py); approval above the discount threshold (§5.2);
    an accepted quote converts to an order once."""

    printable = "quote"  # the printed 报价单 (reports/printing.py)

    column_list = ("number", "client", "discount_pct", "total", "status", "owner", "valid_until")
    column_optional = ("opportunity", "subtotal", "approved_by", "approved_at", "created_at")
    column_sortable_list = ("number", "subtotal", "discount_pct", "total", "status", "valid_until", "created_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "client.name", "notes")
    column_details_list = (
        "number",
        "client",
        "opportunity",
        "valid_until",
        "subtotal",
        "discount_pct",
        "total",
        "status",
        "owner",
        "notes",
        *APPROVAL_TRAIL,
        "created_at",
        "updated_at",
    )
    column_export_list = (
        "number",
        "client",
        "opportunity",
        "subtotal",
        "discount_pct",
        "total",
        "status",
        "owner",
        "valid_until",
        "approved_by",
        "approved_at",
        "created_at",
        "notes",
    )
    column_formatters = {
        "client": record_link("client"),
        "discount_pct": _percent,
        "opportunity": record_link("opportunity"),
    }
    column_formatters_export = {"discount_pct": lambda v, c, m, n: m.discount_pct}
    form_columns = ("number", "client", "opportunity", "valid_until", "discount_pct", "owner", "notes", "lines")
    form_ajax_refs = {
        "client": {"fields": ["name"], "page_size": 10},
        "opportunity": {"fields": ["title", "customer_name"], "page_size": 10},
    }
    form_args = {"number": {"description": AUTO_NUMBER}}
    form_rules = (
        Section(_l("Quote"), ("number", "client", "opportunity", "valid_until", "discount_pct", "owner")),
        Section(_l("Notes"), ("notes",), columns=1),
        Section(_l("Quote lines"), ("lines",), columns=1),
    )
    inline_models = ((QuoteLine, _line_options(("product", "quantity", "unit_price"), optional=("unit_price",))),)
    details_template = "admin/crm/quote_details.html"
    filled_fields = ("number",)

    column_filters = (
        status_filter(Quote.status, QUOTE_STATUSES),
        "client",
        "owner",
        "valid_until",
        "created_at",
        *money_range(Quote.total, _l("Total after discount")),
        WaitingForMeFilter("quote"),
    )

    detail_eager = ("lines.product",)

    prefill = {"opportunity": "opportunity_id"}  # the button on a won opportunity
    prefill_from = {"opportunity": FROM_OPPORTUNITY}

    # -- convert to order ------------------------------------------------------------
    def converted_order(self, record) -> Order | None:
        """The live order an accepted quote became (for its details page)."""
        return open_order_for_quote(record) if record.status == "accepted" else None

    def can_convert(self, record) -> bool:
        return record.status == "accepted" and self.holds("order.create") and self.converted_order(record) is None

    def _convert(self, quotes) -> list[Order]:
        """Convert each quote in its own transaction; refusals are flashed."""
        actor = current_user._get_current_object()
        orders = []
        for quote in quotes:
            try:
                order = convert_quote(quote, actor)
                db.session.commit()
                orders.append(order)
            except ValueError as exc:  # WorkflowError or a rule checked at commit
                db.session.rollback()
                flash(str(exc), "error")
            except IntegrityError as exc:  # an order made from the quote elsewhere in the same instant
                db.session.rollback()
                existing = open_order_for_quote(quote)
                flash(
                    gettext("%(record)s already became order %(order)s.", record=str(quote), order=existing.number)
                    if existing is not None
                    else self.integrity_message(exc),
                    "error",
                )
        if orders:
            flash(gettext("Orders created: %(numbers)s.", numbers=", ".join(o.number for o in orders)), "success")
        return orders

    def _after_convert(self, orders, back):
        if len(orders) == 1:
            return redirect(url_for("order.details_view", id=orders[0].id))
        if orders:
            return redirect(url_for("order.index_view"))
        return redirect(back)

    @crm_action("convert", _l("Convert to order"), right="order.create")
    def action_convert(self, ids):
        quotes = self._scoped_rows(ids)
        if not quotes:
            flash(gettext("Choose at least one record and an action."), "error")
        return self._after_convert(self._convert(quotes), request.form.get("url") or url_for(".index_view"))

    @expose("/convert/", methods=("POST",))
    @crm_page(right="order.create")
    def convert_view(self):
        quote = self.get_one(request.form.get("id", ""))
        back = url_for(".details_view", id=quote.id)
        return self._after_convert(self._convert([quote]), back)


# ------------------------------------------------------------------------------ orders
class OrderView(NumberedMixin, LinesMixin, WorkflowMixin, CrmModelView):
    """订单: lines, a stored total (models/totals.py), pending → shipped (takes the stock) → completed, or cancelled."""

    printable = "order"  # the printed 订单确认书 (reports/printing.py)

    column_list = ("number", "client", "ordered_on", "total", "status", "owner")
    column_optional = ("quote", "created_at")
    column_sortable_list = ("number", "ordered_on", "total", "status")
    column_default_sort = [("ordered_on", True), ("id", True)]  # newest first, a stable order within a day
    column_searchable_list = ("number", "client.name", "delivery_address")
    column_details_list = (
        "number",
        "client",
        "ordered_on",
        "delivery_address",
        "total",
        "status",
        "owner",
        "quote",
        "shipped_at",
        "shipped_by",
        "notes",
        "created_at",
        "updated_at",
    )
    column_export_list = columns_but(column_details_list, "shipped_by", "created_at", "updated_at")
    column_formatters = {"client": record_link("client"), "quote": record_link("quote")}
    column_formatters_export: dict = {}
    form_columns = ("number", "client", "ordered_on", "delivery_address", "owner", "quote", "notes", "lines")
    form_ajax_refs = {"client": {"fields": ["name"], "page_size": 10}, "quote": {"fields": ["number"], "page_size": 10}}
    form_args = {
        "number": {"description": AUTO_NUMBER},
        "ordered_on": {"description": _l("Left empty, today.")},
        "delivery_address": {"description": _l("Left empty, the client's address.")},
    }
    form_rules = (
        Section(_l("Order"), ("number", "client", "ordered_on", "owner", "quote", "delivery_address")),
        Section(_l("Notes"), ("notes",), columns=1),
        Section(_l("Order lines"), ("lines",), columns=1),
    )
    inline_models = (
        (OrderLine, _line_options(("product", "quantity", "unit", "unit_price"), optional=("unit", "unit_price"))),
    )
    details_template = "admin/crm/order_details.html"
    filled_fields = ("number", "ordered_on")

    column_filters = (
        "client",
        "owner",
        # the owner's department and "status is not" (cancelled): the records behind a report's order totals
        OwnerDepartmentFilter(
            Order.owner_id, _l("Owner's department"), options=LazyOptions(_departments, cached=Department)
        ),
        status_filter(Order.status, ORDER_STATUSES),
        status_not_filter(Order.status, ORDER_STATUSES),
        "ordered_on",
        *money_range(Order.total, _l("Order total")),
        WaitingForMeFilter("order"),
    )

    detail_eager = ("lines.product", "shipments.lines")

    # -- shipping: a warehouse and a quantity per line (models/shipments.py) ------------
    def transition_buttons(self, record):
        """The details page's *Ship* opens the ship page (warehouse, quantities); the list's
        *Ship* action ships everything left from the fullest warehouses."""
        return [
            (step, url_for(".ship_view", id=record.id) if step.name == "ship" else url)
            for step, url in super().transition_buttons(record)
        ]

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template:
            kwargs["shipped"] = shipped_quantities(model)
        return super().render(template, **kwargs)

    @expose("/ship/", methods=("GET", "POST"))
    @crm_page(right="ship")
    def ship_view(self):
        found = self._scoped_rows([request.values.get("id", "")], deleted=False)
        if not found:
            abort(404)
        order = found[0]
        back = url_for(".details_view", id=order.id)
        if order.status not in self.workflow.transitions["ship"].sources:
            flash(
                gettext(
                    "%(record)s is %(state)s: cannot %(action)s it.",
                    record=str(order),
                    state=self.workflow.state_label(order.status),
                    action=gettext("Ship"),
                ),
                "error",
            )
            return redirect(back)
        choices = warehouse_choices(order)
        names = [name for name, _ in choices]
        warehouse = request.values.get("warehouse") or (names[0] if names else "")
        posted = {}
        if request.method == "POST":
            posted = {line.id: request.form.get(f"quantity-{line.id}", "") for line in order.lines}
            note = request.form.get("note", "")
            version = request.form.get("version", "")
            name = str(order)
            try:
                perform(
                    order,
                    "ship",
                    current_user,
                    seen_version=int(version) if version.isdigit() else None,
                    warehouse=warehouse,
                    quantities=posted,
                    note=note,
                )
                shipment = order.shipments[-1]
                number, state = shipment.number, self.workflow.state_label(order.status)
                db.session.commit()
                flash(
                    gettext("Shipment %(number)s recorded; the order is now %(state)s.", number=number, state=state),
                    "success",
                )
                return redirect(back)
            except ValueError as exc:  # StockError / WorkflowError naming the line, a rule at commit
                db.session.rollback()
                flash(str(exc), "error")
            except StaleDataError:
                db.session.rollback()
                flash(changed_meanwhile(order) if db.session.get(Order, order.id) else name, "error")
            order = db.session.get(Order, order.id)
        defaults = default_quantities(order, warehouse) if warehouse in names else {}
        left = left_to_ship(order)
        stock = warehouse_stock(order).get(warehouse, {})
        values = {**defaults, **posted}  # what was typed stays on a refusal
        rows = [
            (n, line, left.get(line.id, 0), stock.get(line.product_id, 0), values.get(line.id, 0))
            for n, line in enumerate(order.lines, 1)
        ]
        return self.render(
            "admin/crm/order_ship.html",
            order=order,
            rows=rows,
            choices=choices,
            warehouse=warehouse,
            back=back,
            note=request.form.get("note", ""),
        )


# ---------------------------------------------------------------------------- shipments
class ShipmentView(CrmModelView):
    """发货单: the shipments of the orders in the user's scope (the order's rights), read-only;
    each prints as its delivery note."""

    right_endpoint = "order"
    disabled_operations = ("create", "edit", "delete")
    printable = "delivery_note"  # the printed 发货单 (reports/printing.py)

    column_list = ("number", "order", "order.client", "warehouse", "shipped_at", "shipped_by", "returned_at")
    column_labels = {"order.client": _l("Client")}
    column_sortable_list = ("number", "warehouse", "shipped_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "warehouse", "order.number")
    column_details_list = (
        "number",
        "order",
        "warehouse",
        "shipped_at",
        "shipped_by",
        "note",
        "returned_at",
        "created_at",
    )
    column_formatters = {"order": record_link("order")}
    column_filters = ("warehouse", "shipped_at", "returned_at")
    details_template = "admin/crm/shipment_details.html"
    list_eager = ("order.client",)
    detail_eager = ("lines.order_line.product",)


def register(admin) -> None:
    """Add quotes and orders to the menu (Sales)."""
    admin.add_view(QuoteView(Quote, name=_l("Quotes"), endpoint="quote", category=SALES))
    admin.add_view(OrderView(Order, name=_l("Orders"), endpoint="order", category=SALES))
    admin.add_view(ShipmentView(Shipment, name=_l("Shipments"), endpoint="shipment", category=SALES))
