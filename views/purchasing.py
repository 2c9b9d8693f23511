"""Purchasing views (SPEC §4.5): suppliers, purchase requests with inline items and expense
contracts. The rules are in models/purchasing.py; these classes only declare what is shown
and translate the request into domain calls. Payments and purchase invoices are in
views/purchase_payments.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models.purchasing import ExpenseContract, PurchaseItem, PurchaseRequest, Supplier
from models.workflow import APPROVAL_STATES

from .crud import CrmModelView, Section, status_filter
from .helpers import columns_but
from .kpi_filters import WaitingForMeFilter
from .workflow import APPROVAL_TRAIL, WorkflowMixin

PURCHASING = _l("Purchasing")
AUTO_NUMBER = _l("Left empty, a number is given on saving.")


class PurchasingView(CrmModelView):
    """Purchasing documents: the user a document belongs to defaults to me."""

    me_fields: tuple[str, ...] = ()


class SupplierView(PurchasingView):
    column_list = ("name", "uscc", "contact", "phone", "email", "bank", "bank_account", "updated_at")
    column_sortable_list = ("name", "uscc", "contact", "updated_at")
    column_default_sort = ("name", False)
    column_searchable_list = ("name", "uscc", "contact", "phone", "email", "bank_account")
    column_filters = ("bank", "created_at", "updated_at")
    column_export_list = ("name", "uscc", "contact", "phone", "email", "address", "bank", "bank_account", "notes")
    form_columns = ("name", "uscc", "address", "contact", "phone", "email", "bank", "bank_account", "notes")
    form_rules = (
        Section(_l("Company"), ("name", "uscc", "address")),
        Section(_l("Contact"), ("contact", "phone", "email")),
        Section(_l("Bank"), ("bank", "bank_account")),
        Section(_l("Notes"), ("notes",), columns=1),
    )


class PurchaseRequestView(WorkflowMixin, PurchasingView):
    column_list = (
        "number",
        "name",
        "requester",
        "department",
        "total",
        "status",
        "submitted_at",
        "approved_by",
        "created_at",
    )
    column_sortable_list = ("number", "name", "total", "status", "submitted_at", "created_at")
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "name", "description", "items.name")
    extra_labels = {"items.name": _l("Item")}
    column_details_list = (
        "number",
        "name",
        "requester",
        "department",
        "opportunity",
        "cost_type",
        "consignee",
        "phone",
        "address",
        "description",
        "total",
        "status",
        *APPROVAL_TRAIL,
        "created_at",
        "updated_at",
    )
    column_export_list = columns_but(column_details_list, "submitted_by", "approval_comment", "updated_at")
    form_columns = column_details_list[:10]  # number … description
    form_args = {"number": {"description": AUTO_NUMBER}}
    form_ajax_refs = {"opportunity": {"fields": ["title", "customer_name"], "page_size": 10}}
    form_rules = (
        Section(_l("Purchase request"), ("number", "name", "requester", "department", "opportunity", "cost_type")),
        Section(_l("Delivery"), ("consignee", "phone", "address")),
        Section(_l("Purchase description"), ("description",), columns=1),
        Section(_l("Items"), ("items",), columns=1),
    )
    inline_models = ((PurchaseItem, {"form_columns": ("id", "name", "spec", "quantity", "unit_price", "supplier")}),)
    details_template = "admin/crm/purchasing_request_details.html"
    me_fields = ("requester",)
    filled_fields = ("number",)

    column_filters = (
        status_filter(PurchaseRequest.status, APPROVAL_STATES.items()),
        "requester",
        "department",
        "cost_type",
        "submitted_at",
        "created_at",
        WaitingForMeFilter("purchase_request"),
    )

    list_eager = ("total",)
    detail_eager = ("items.supplier",)


class ExpenseContractView(WorkflowMixin, PurchasingView):
    column_list = (
        "number",
        "name",
        "supplier",
        "type",
        "amount",
        "payments_total",
        "paid_total",
        "status",
        "handler",
        "starts_on",
        "ends_on",
    )
    column_sortable_list = (
        "number",
        "name",
        "amount",
        "payments_total",
        "paid_total",
        "status",
        "starts_on",
        "ends_on",
    )
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "name", "subject", "supplier.name")
    column_details_list = (
        "number",
        "name",
        "type",
        "supplier",
        "purchase_request",
        "handler",
        "contact",
        "phone",
        "starts_on",
        "ends_on",
        "amount",
        "payments_total",
        "paid_total",
        "subject",
        "status",
        *APPROVAL_TRAIL,
        "created_at",
        "updated_at",
    )
    column_export_list = columns_but(
        column_details_list, "submitted_by", "submitted_at", "approval_comment", "created_at", "updated_at"
    )
    form_columns = columns_but(column_details_list[:14], "payments_total", "paid_total")  # number … subject
    form_args = {"number": {"description": AUTO_NUMBER}}
    form_rules = (
        Section(_l("Expense contract"), ("number", "name", "type", "supplier", "purchase_request", "handler")),
        Section(_l("Terms"), ("amount", "starts_on", "ends_on", "contact", "phone")),
        Section(_l("Subject matter"), ("subject",), columns=1),
    )
    details_template = "admin/crm/purchasing_contract_details.html"
    me_fields = ("handler",)
    filled_fields = ("number",)

    column_filters = (
        status_filter(ExpenseContract.status, APPROVAL_STATES.items()),
        "supplier",
        "type",
        "handler",
        "amount",
        "starts_on",
        "ends_on",
        "created_at",
        WaitingForMeFilter("expense_contract"),
    )

    list_eager = ("payments_total", "paid_total")
    detail_eager = ("payments",)


def register(admin) -> None:
    """Add suppliers, purchase requests and expense contracts to the menu."""
    admin.add_view(SupplierView(Supplier, name=_l("Suppliers"), endpoint="supplier", category=PURCHASING))
    admin.add_view(
        PurchaseRequestView(
            PurchaseRequest, name=_l("Purchase requests"), endpoint="purchase_request", category=PURCHASING
        )
    )
    admin.add_view(
        ExpenseContractView(
            ExpenseContract, name=_l("Expense contracts"), endpoint="expense_contract", category=PURCHASING
        )
    )
