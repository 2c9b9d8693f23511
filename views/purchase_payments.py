"""Purchase payments and purchase invoices (SPEC §4.5): the money paid out against an
approved expense contract and the invoices received for it. The rules are in
models/purchase_payments.py and models/purchasing.py; these classes only declare what is
shown and translate the request into domain calls."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import db
from models.purchase_payments import PAYMENT_STATUSES, PurchasePayment, request_payment, revise_payment
from models.purchasing import ExpenseContract, PurchaseInvoice

from .crud import Section, status_filter
from .helpers import columns_but
from .kpi_filters import WaitingForMeFilter
from .purchasing import PURCHASING, PurchasingView
from .workflow import WorkflowMixin


def _approved_contracts():
    return (
        db.session.query(ExpenseContract)
        .filter(ExpenseContract.status == "approved")
        .order_by(ExpenseContract.id.desc())
    )


class PaymentView(WorkflowMixin, PurchasingView):
    column_sortable_list = ("amount", "status", "recorded_at", "paid_on")
    column_default_sort = ("id", True)
    column_searchable_list = ("reason", "expense_contract.number", "expense_contract.name", "supplier.name")
    extra_labels = {"expense_contract.name": _l("Contract name")}
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
    column_list = columns_but(
        column_details_list, "recorded_by", "recorded_ip", "approved_at", "created_at", "updated_at"
    )
    column_export_list = column_details_list
    form_columns = column_details_list[:4]  # expense_contract … reason
    form_args = {
        "expense_contract": {"query_factory": _approved_contracts},
        "supplier": {"description": _l("Left empty, the supplier of the contract.")},
    }
    form_rules = (Section(_l("Payment request"), ("expense_contract", "supplier", "amount", "reason")),)
    filled_fields = ("supplier",)

    column_filters = (
        status_filter(PurchasePayment.status, PAYMENT_STATUSES),
        "expense_contract",
        "supplier",
        "submitted_by",
        "amount",
        "recorded_at",
        "paid_on",
        WaitingForMeFilter("payment"),
    )

    prefill = {"expense_contract": "expense_contract_id"}  # the button on an approved contract
    prefill_from = {"expense_contract": ("supplier",)}

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        actor = current_user._get_current_object()
        if is_created:
            request_payment(model, actor, request.remote_addr)
        else:
            revise_payment(model, actor)


class PurchaseInvoiceView(PurchasingView):
    column_sortable_list = ("number", "amount", "tax_rate", "total", "issued_on")
    column_default_sort = ("id", True)
    column_searchable_list = ("number", "handler", "receiver", "supplier.name", "expense_contract.number")
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
    column_list = columns_but(column_details_list, "quantity", "receiver", "notes", "created_at", "updated_at")
    column_export_list = column_details_list
    form_columns = (*column_details_list[:3], "issued_on", *columns_but(column_details_list[3:12], "issued_on"))
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
    """Add payments and purchase invoices to the menu (after the expense contracts)."""
    admin.add_view(PaymentView(PurchasePayment, name=_l("Payments"), endpoint="payment", category=PURCHASING))
    admin.add_view(
        PurchaseInvoiceView(
            PurchaseInvoice, name=_l("Purchase invoices"), endpoint="purchase_invoice", category=PURCHASING
        )
    )
