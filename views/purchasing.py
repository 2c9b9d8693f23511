"""Purchasing views (SPEC §4.5): suppliers, purchase requests with inline items, expense
contracts, payments and purchase invoices. The rules are in models/purchasing.py; these
classes only declare what is shown and translate the request into domain calls."""

from __future__ import annotations

from flask import request
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload, undefer

from models import db
from models.purchasing import (
    PAYMENT_STATUSES,
    ExpenseContract,
    PurchaseInvoice,
    PurchaseItem,
    PurchasePayment,
    PurchaseRequest,
    Supplier,
    request_payment,
    revise_payment,
)
from models.scope import scope_clause
from models.workflow import APPROVAL_STATES

from .crud import CrmModelView, LazyOptions, Section
from .workflow import WorkflowMixin

PURCHASING = _l("Purchasing")
AUTO_NUMBER = _l("Left empty, a number is given on saving.")


def status_filter(column, states):
    """One drop-down of the workflow states (translated when the list renders)."""
    options = LazyOptions(lambda: [(key, str(text)) for key, text in states])
    return sqla_filters.FilterEqual(column, _l("Status"), options=options)


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
        "submitted_at",
        "approved_by",
        "approved_at",
        "created_at",
    )
    form_columns = (
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
    )
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

    def __init__(self, model=PurchaseRequest, **kwargs):
        self.column_filters = (
            status_filter(PurchaseRequest.status, APPROVAL_STATES.items()),
            "requester",
            "department",
            "cost_type",
            "submitted_at",
            "created_at",
        )
        super().__init__(model, **kwargs)

    def eager_options(self):
        options = super().eager_options() + [undefer(PurchaseRequest.total)]
        if request.endpoint and request.endpoint.endswith("details_view"):
            options.append(selectinload(PurchaseRequest.items).joinedload(PurchaseItem.supplier))
        return options


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
    extra_labels = {"supplier.name": _l("Supplier")}
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
        "approved_by",
        "approved_at",
    )
    form_columns = (
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
        "subject",
    )
    form_args = {"number": {"description": AUTO_NUMBER}}
    form_rules = (
        Section(_l("Expense contract"), ("number", "name", "type", "supplier", "purchase_request", "handler")),
        Section(_l("Terms"), ("amount", "starts_on", "ends_on", "contact", "phone")),
        Section(_l("Subject matter"), ("subject",), columns=1),
    )
    details_template = "admin/crm/purchasing_contract_details.html"
    me_fields = ("handler",)
    filled_fields = ("number",)

    def __init__(self, model=ExpenseContract, **kwargs):
        self.column_filters = (
            status_filter(ExpenseContract.status, APPROVAL_STATES.items()),
            "supplier",
            "type",
            "handler",
            "amount",
            "starts_on",
            "ends_on",
            "created_at",
        )
        super().__init__(model, **kwargs)

    def eager_options(self):
        options = super().eager_options() + [
            undefer(ExpenseContract.payments_total),
            undefer(ExpenseContract.paid_total),
        ]
        if request.endpoint and request.endpoint.endswith("details_view"):
            options.append(selectinload(ExpenseContract.payments))
        return options


def _approved_contracts():
    return (
        db.session.query(ExpenseContract)
        .filter(ExpenseContract.status == "approved")
        .order_by(ExpenseContract.id.desc())
    )


class PaymentView(WorkflowMixin, PurchasingView):
    column_list = (
        "expense_contract",
        "supplier",
        "amount",
        "reason",
        "status",
        "submitted_by",
        "recorded_at",
        "approved_by",
        "paid_on",
    )
    column_sortable_list = ("amount", "status", "recorded_at", "paid_on")
    column_default_sort = ("id", True)
    column_searchable_list = ("reason", "expense_contract.number", "expense_contract.name", "supplier.name")
    extra_labels = {
        "expense_contract.number": _l("Contract number"),
        "expense_contract.name": _l("Contract name"),
        "supplier.name": _l("Supplier"),
    }
    column_details_list = (
        "expense_contract",
        "supplier",
        "amount",
        "reason",
        "status",
        "submitted_by",
        "recorded_by",
        "recorded_ip",
        "recorded_at",
        "approved_by",
        "approved_at",
        "paid_on",
        "created_at",
        "updated_at",
    )
    column_export_list = column_details_list
    form_columns = ("expense_contract", "supplier", "amount", "reason")
    form_args = {
        "expense_contract": {"query_factory": _approved_contracts},
        "supplier": {"description": _l("Left empty, the supplier of the contract.")},
    }
    form_rules = (Section(_l("Payment request"), ("expense_contract", "supplier", "amount", "reason")),)
    filled_fields = ("supplier",)

    def __init__(self, model=PurchasePayment, **kwargs):
        self.column_filters = (
            status_filter(PurchasePayment.status, PAYMENT_STATUSES),
            "expense_contract",
            "supplier",
            "submitted_by",
            "amount",
            "recorded_at",
            "paid_on",
        )
        super().__init__(model, **kwargs)

    def create_form(self, obj=None):
        """``?expense_contract_id=`` (the button on a contract) picks the contract and its supplier."""
        form = super().create_form(obj)
        contract_id = request.args.get("expense_contract_id", type=int)
        if request.method == "GET" and contract_id and "expense_contract" in form:
            query = select(ExpenseContract).where(
                ExpenseContract.id == contract_id, ExpenseContract.status == "approved"
            )
            clause = scope_clause(ExpenseContract, current_user)
            contract = db.session.execute(query.where(clause) if clause is not None else query).scalar()
            if contract is not None:
                form.expense_contract.data = contract
                form.supplier.data = contract.supplier
        return form

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        actor = current_user._get_current_object()
        if is_created:
            request_payment(model, actor, request.remote_addr)
        else:
            revise_payment(model, actor)


class PurchaseInvoiceView(PurchasingView):
    column_list = (
        "number",
        "supplier",
        "expense_contract",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "issued_on",
        "handler",
    )
    column_sortable_list = ("number", "amount", "tax_rate", "total", "issued_on")
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "handler", "receiver", "supplier.name", "expense_contract.number")
    extra_labels = {"supplier.name": _l("Supplier"), "expense_contract.number": _l("Contract number")}
    column_filters = ("supplier", "expense_contract", "tax_rate", "amount", "issued_on", "created_at")
    column_details_list = (
        "number",
        "supplier",
        "expense_contract",
        "quantity",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "issued_on",
        "handler",
        "receiver",
        "notes",
        "created_at",
        "updated_at",
    )
    column_export_list = column_details_list
    form_columns = (
        "number",
        "supplier",
        "expense_contract",
        "issued_on",
        "quantity",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "handler",
        "receiver",
        "notes",
    )
    form_args = {
        "tax_rate": {"coerce": int},
        "supplier": {"description": _l("Left empty, the supplier of the contract.")},
        "tax": {"description": _l("Left empty, computed from the amount and the rate.")},
        "total": {"description": _l("Left empty, amount + tax.")},
    }
    form_rules = (
        Section(_l("Invoice"), ("number", "supplier", "expense_contract", "issued_on", "quantity")),
        Section(_l("Amounts"), ("amount", "tax_rate", "tax", "total")),
        Section(_l("Handling"), ("handler", "receiver")),
        Section(_l("Notes"), ("notes",), columns=1),
    )
    filled_fields = ("supplier", "tax", "total")


def register(admin) -> None:
    """Add the purchasing views to the menu."""
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
    admin.add_view(PaymentView(PurchasePayment, name=_l("Payments"), endpoint="payment", category=PURCHASING))
    admin.add_view(
        PurchaseInvoiceView(
            PurchaseInvoice, name=_l("Purchase invoices"), endpoint="purchase_invoice", category=PURCHASING
        )
    )
