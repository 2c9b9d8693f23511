"""Products, stock, quotes and orders (SPEC §4.4, §5.2, orders flow): catalogue and stock
under Basic data, quotes with inline lines and discount approval, orders with inline lines
that ship from stock. The rules live in models/sales.py; these classes only declare what
is shown and translate the request into domain calls."""

from __future__ import annotations

import re

from flask import flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext as admin_lazy
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, undefer
from wtforms import StringField, validators

from models import db
from models.lookups import Trade
from models.sales import (
    ORDER_STATUSES,
    QUOTE_STATUSES,
    Order,
    OrderLine,
    Product,
    Quote,
    QuoteLine,
    Stock,
    convert_quote,
    open_order_for_quote,
)

from .crud import CrmModelView, LazyOptions, MoneyField, MoneyGreaterFilter, MoneySmallerFilter, Section
from .opportunities import prefill_from_opportunity
from .purchasing import status_filter
from .workflow import WorkflowMixin

BASIC_DATA = _l("Basic data")
SALES = _l("Sales")
AUTO_NUMBER = _l("Left empty, a number is given on saving.")
FROM_PRODUCT = _l("Left empty, taken from the product.")


def money_range(column, label):
    """Greater than / smaller than filters on an amount. A computed column (a
    column_property) is filtered through its SQL expression: Flask-Admin would try to
    join the "table" of the attribute, which it has none of."""
    column = getattr(column, "expression", column)
    return [MoneyGreaterFilter(column, label), MoneySmallerFilter(column, label)]


def _percent(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else f"{value}%"


def _link(endpoint, record, text=None):
    if record is None:
        return ""
    if not current_user.can(f"{endpoint}.view"):
        return text or str(record)
    return Markup('<a href="{}">{}</a>').format(url_for(f"{endpoint}.details_view", id=record.id), text or str(record))


def _client_link(view, context, model, name):
    return _link("client", model.client, model.client.name if model.client else None)


def _offered_products():
    """Products a line may name: live and active ones, plus those the edited record
    already uses (``g.crm_keep_products``)."""
    keep = g.get("crm_keep_products") or set()
    query = db.session.query(Product).filter(Product.is_deleted.is_(False))
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
    """Quotes and orders: the products of the edited record stay offered on its lines."""

    def edit_form(self, obj=None):
        if obj is not None:
            g.crm_keep_products = {line.product_id for line in obj.lines}
        return super().edit_form(obj)


# ---------------------------------------------------------------------------- products
class CategoryOfProductFilter(sqla_filters.BaseSQLAFilter):
    """Stock rows whose product is of the chosen category (a sub-query, no join)."""

    def apply(self, query, value, alias=None):
        return query.filter(Stock.product_id.in_(select(Product.id).where(Product.category_id == int(value))))

    def operation(self):
        return admin_lazy("equals")  # Flask-Admin's own word (and translation)

    def validate(self, value):
        return str(value).isdigit()


def _categories():
    return [
        (str(t.id), t.name) for t in db.session.execute(select(Trade).order_by(Trade.sort_order, Trade.id)).scalars()
    ]


def _on_hand_column():
    return (
        select(func.coalesce(func.sum(Stock.quantity), 0))
        .where(Stock.product_id == Product.id)
        .correlate(Product)
        .scalar_subquery()
    )


class ProductView(CrmModelView):
    """产品信息 (查询产品信息): the list shows the stock on hand of each product, summed
    by a correlated sub-query in the page's one statement."""

    me_fields: tuple[str, ...] = ()
    column_list = ("name", "model", "grade", "unit", "price", "category", "on_hand", "is_active")
    column_sortable_list = ("name", "model", "price", "is_active")
    column_default_sort = ("name", False)
    column_searchable_list = ("name", "model")
    column_details_list = (
        "name",
        "model",
        "grade",
        "unit",
        "price",
        "category",
        "on_hand",
        "is_active",
        "notes",
        "created_at",
        "updated_at",
    )
    column_export_list = ("name", "model", "grade", "unit", "price", "category", "on_hand", "is_active", "notes")
    extra_labels = {"on_hand": _l("Stock on hand")}
    form_columns = ("name", "model", "grade", "unit", "price", "category", "is_active", "notes")
    form_rules = (
        Section(_l("Product"), ("name", "model", "grade", "unit", "price", "category", "is_active")),
        Section(_l("Notes"), ("notes",), columns=1),
    )

    def __init__(self, model=Product, **kwargs):
        self.column_filters = ("category", "is_active", *money_range(Product.price, _l("Unit price")))
        super().__init__(model, **kwargs)

    def _on_hand(view, context, model, name):
        value = getattr(model, "crm_on_hand", None)
        if value is None:
            from models.sales import stock_on_hand

            value = stock_on_hand(model.id)
        return value

    column_formatters = {"on_hand": _on_hand}
    column_formatters_export = {"on_hand": _on_hand}

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        count, query = super().get_list(
            page, sort_column, sort_desc, search, filters, execute=False, page_size=page_size
        )
        if not execute:
            return count, query
        rows = []
        for product, on_hand in query.add_columns(_on_hand_column()).all():
            product.crm_on_hand = on_hand
            rows.append(product)
        return count, rows


class StockView(CrmModelView):
    """库存 (查询库存): sales roles only read it (their rights are view-only)."""

    me_fields: tuple[str, ...] = ()
    column_list = ("product", "product.category", "warehouse", "location", "quantity", "updated_at")
    column_sortable_list = (("product", "product.name"), "warehouse", "location", "quantity", "updated_at")
    column_default_sort = ("id", False)
    column_searchable_list = ("product.name", "product.model", "warehouse")
    extra_labels = {
        "product.name": _l("Product"),
        "product.model": _l("Model"),
        "product.category": _l("Product category"),
    }
    column_details_list = ("product", "warehouse", "location", "quantity", "notes", "created_at", "updated_at")
    column_export_list = ("product", "product.category", "warehouse", "location", "quantity", "notes")
    form_columns = ("product", "warehouse", "location", "quantity", "notes")
    form_rules = (
        Section(_l("Stock"), ("product", "warehouse", "location", "quantity")),
        Section(_l("Notes"), ("notes",), columns=1),
    )

    def __init__(self, model=Stock, **kwargs):
        self.column_filters = (
            "product",
            "warehouse",
            CategoryOfProductFilter(Stock.product_id, _l("Product category"), options=LazyOptions(_categories)),
            "quantity",
        )
        super().__init__(model, **kwargs)

    column_auto_select_related = False  # the page query reads stock only; products come in one query

    def eager_options(self):
        return [selectinload(Stock.product).selectinload(Product.category)]


# ------------------------------------------------------------------------------ quotes
class QuoteView(NumberedMixin, LinesMixin, WorkflowMixin, CrmModelView):
    """报价单: lines, discount, totals in SQL; approval above the discount threshold (§5.2);
    an accepted quote converts to an order once."""

    column_list = (
        "number",
        "client",
        "opportunity",
        "subtotal",
        "discount_pct",
        "total",
        "status",
        "owner",
        "valid_until",
        "created_at",
    )
    column_sortable_list = ("number", "subtotal", "discount_pct", "total", "status", "valid_until", "created_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "client.name", "notes")
    extra_labels = {"client.name": _l("Client")}
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
        "submitted_by",
        "submitted_at",
        "approved_by",
        "approved_at",
        "approval_comment",
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
        "client": _client_link,
        "discount_pct": _percent,
        "opportunity": lambda v, c, m, n: _link("opportunity", m.opportunity),
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
    view_operations = {"convert_view": "view"}  # the conversion checks order.create itself

    def __init__(self, model=Quote, **kwargs):
        self.column_filters = (
            status_filter(Quote.status, QUOTE_STATUSES),
            "client",
            "owner",
            "valid_until",
            "created_at",
            *money_range(Quote.total, _l("Total after discount")),
        )
        super().__init__(model, **kwargs)

    def eager_options(self):
        options = super().eager_options() + [undefer(Quote.subtotal), undefer(Quote.total)]
        if request.endpoint and request.endpoint.endswith(("details_view", "edit_view")):
            options.append(selectinload(Quote.lines).joinedload(QuoteLine.product))
        return options

    # -- prefill from an opportunity ---------------------------------------------------
    def create_form(self, obj=None):
        form = super().create_form(obj)
        prefill_from_opportunity(form)
        return form

    # -- convert to order ------------------------------------------------------------
    def is_action_allowed(self, name):
        if name == "convert":
            return current_user.is_authenticated and current_user.can("order.create") and not self.in_recycle_bin()
        return super().is_action_allowed(name)

    def converted_order(self, record) -> Order | None:
        """The live order an accepted quote became (for its details page)."""
        return open_order_for_quote(record) if record.status == "accepted" else None

    def can_convert(self, record) -> bool:
        return record.status == "accepted" and current_user.can("order.create") and self.converted_order(record) is None

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

    @action("convert", _l("Convert to order"))
    def action_convert(self, ids):
        quotes = self._scoped_rows(ids)
        if not quotes:
            flash(gettext("Choose at least one record and an action."), "error")
        return self._after_convert(self._convert(quotes), request.form.get("url") or url_for(".index_view"))

    @expose("/convert/", methods=("POST",))
    def convert_view(self):
        if not current_user.can("order.create"):
            from flask import abort

            abort(403)
        quote = self.get_one(request.form.get("id", ""))
        back = url_for(".details_view", id=quote.id)
        return self._after_convert(self._convert([quote]), back)


# ------------------------------------------------------------------------------ orders
class OrderView(NumberedMixin, LinesMixin, WorkflowMixin, CrmModelView):
    """订单: lines, total in SQL, pending → shipped (takes the stock) → completed, or cancelled."""

    column_list = ("number", "client", "ordered_on", "total", "status", "owner")
    column_sortable_list = ("number", "ordered_on", "total", "status")
    column_default_sort = [("ordered_on", True), ("id", True)]  # newest first, a stable order within a day
    column_searchable_list = ("number", "client.name", "delivery_address")
    extra_labels = {"client.name": _l("Client")}
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
    column_export_list = (
        "number",
        "client",
        "ordered_on",
        "delivery_address",
        "total",
        "status",
        "owner",
        "quote",
        "shipped_at",
        "notes",
    )
    column_formatters = {"client": _client_link, "quote": lambda v, c, m, n: _link("quote", m.quote)}
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

    def __init__(self, model=Order, **kwargs):
        self.column_filters = (
            "client",
            "owner",
            status_filter(Order.status, ORDER_STATUSES),
            "ordered_on",
            *money_range(Order.total, _l("Order total")),
        )
        super().__init__(model, **kwargs)

    def eager_options(self):
        options = super().eager_options() + [undefer(Order.total)]
        if request.endpoint and request.endpoint.endswith(("details_view", "edit_view")):
            options.append(selectinload(Order.lines).joinedload(OrderLine.product))
        return options


def register(admin) -> None:
    """Add products and stock (Basic data), quotes and orders (Sales) to the menu."""
    admin.add_view(ProductView(Product, name=_l("Products"), endpoint="product", category=BASIC_DATA))
    admin.add_view(StockView(Stock, name=_l("Stock"), endpoint="stock", category=BASIC_DATA))
    admin.add_view(QuoteView(Quote, name=_l("Quotes"), endpoint="quote", category=SALES))
    admin.add_view(OrderView(Order, name=_l("Orders"), endpoint="order", category=SALES))
