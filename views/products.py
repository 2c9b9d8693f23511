"""Products and stock (SPEC §4.4): the catalogue and the stock under Basic data; the list of
products shows the stock on hand. The rules live in models/products.py; these classes only
declare what is shown."""

from __future__ import annotations

from flask_admin.babel import lazy_gettext as admin_lazy
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models import db
from models.lookups import Trade
from models.products import Product, Stock

from .crud import CrmModelView, LazyOptions, MoneyGreaterFilter, MoneySmallerFilter, Section

BASIC_DATA = _l("Basic data")


def money_range(column, label):
    """Greater than / smaller than filters on an amount. A computed column (a
    column_property) is filtered through its SQL expression: Flask-Admin would try to
    join the "table" of the attribute, which it has none of."""
    column = getattr(column, "expression", column)
    return [MoneyGreaterFilter(column, label), MoneySmallerFilter(column, label)]


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

    column_filters = ("category", "is_active", *money_range(Product.price, _l("Unit price")))

    def _on_hand(view, context, model, name):
        value = getattr(model, "crm_on_hand", None)
        if value is None:
            from models.products import stock_on_hand

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

    column_filters = (
        "product",
        "warehouse",
        CategoryOfProductFilter(Stock.product_id, _l("Product category"), options=LazyOptions(_categories)),
        "quantity",
    )

    column_auto_select_related = False  # the page query reads stock only; products come in one query

    list_eager = ("product.category",)


def register(admin) -> None:
    """Add products and stock to the menu (Basic data)."""
    admin.add_view(ProductView(Product, name=_l("Products"), endpoint="product", category=BASIC_DATA))
    admin.add_view(StockView(Stock, name=_l("Stock"), endpoint="stock", category=BASIC_DATA))
