"""Finance views: receipts with inline allocations, invoices (SPEC §4.5), and the money
columns of contracts (ContractMoneyMixin). The rules themselves live in models/finance.py."""

from __future__ import annotations

from flask import g, jsonify, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.form import Select2Widget
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms import validators

from models import db, settings
from models.auth import Department, User, department_subtree_ids
from models.base import format_money
from models.customers import Client, Contract
from models.finance import (
    INVOICE_STATUSES,
    OFFERABLE_CONTRACT_STATES,
    RECEIPT_STATUSES,
    TAX_RATES,
    ContractReceipt,
    Invoice,
    Receipt,
    offerable_contracts,
)
from models.scope import scoped

from .crud import CrmModelView, LazyOptions, MoneyField, ScopedAjaxLoader, Section, crm_page, record_link, status_filter
from .customers import _departments
from .orders import AUTO_NUMBER
from .workflow import WorkflowMixin


def _people():
    query = select(User).where(User.live()).order_by(User.name, User.id)
    return [(str(u.id), u.name) for u in db.session.execute(query).scalars()]


class ClientOwnerFilter(sqla_filters.BaseSQLAFilter):
    """The receipt's client is owned by this user."""

    def apply(self, query, value, alias=None):
        return query.filter(self.column.in_(select(Client.id).where(Client.owner_id == int(value))))

    def operation(self):
        return _l("equals")

    def validate(self, value):
        return str(value).isdigit() and int(value) < 2**63


class ClientOwnerDepartmentFilter(ClientOwnerFilter):
    """The receipt's client is owned by someone of this department or its sub-departments."""

    def apply(self, query, value, alias=None):
        people = select(User.id).where(User.department_id.in_(department_subtree_ids(int(value))))
        return query.filter(self.column.in_(select(Client.id).where(Client.owner_id.in_(people))))

    def operation(self):
        return _l("in (with sub-departments)")


# views/client_children.py imports the contract money declarations from here, so nothing here imports it back

FINANCE = _l("Finance")


# ------------------------------------------------------------------------ contracts
#: what was received, what was invoiced and the receivable balance of a contract; a
#: contract view lists them after "amount"
CONTRACT_MONEY_COLUMNS = ("received", "invoiced", "balance")


class ContractMoneyMixin:
    """A contract view showing CONTRACT_MONEY_COLUMNS: columns of the contract row, kept
    by models/totals.py (nothing to load, no per-row queries); sortable like any column."""


def contract_choice_label(contract) -> str:
    """A contract in a select box: number, name and (when loaded) what is still to receive."""
    text = f"{contract.number} {contract.name}"
    if contract.balance is not None:
        text += " — " + gettext("balance %(amount)s", amount=format_money(contract.balance))
    return text


def offered_contracts(client_id) -> list:
    """The contracts a receipt of ``client_id`` may be allocated to, in the user's scope."""
    if not client_id:
        return []
    query = scoped(offerable_contracts(client_id), Contract, current_user)
    return db.session.execute(query).scalars().all()


# ------------------------------------------------------------------------- receipts
class OfferedContractField(QuerySelectField):
    """The contract of an allocation: only live contracts, approved or later, of the
    receipt's client (SPEC §4.5), with their balance. The view names the client in
    ``g.crm_receipt_client_id`` before the form is used."""

    widget = Select2Widget()

    def __init__(self, label=None, validators_=None, **kwargs):
        super().__init__(
            label,
            validators_ or [validators.DataRequired()],
            query_factory=lambda: offered_contracts(g.get("crm_receipt_client_id")),
            get_label=contract_choice_label,
            allow_blank=True,
            blank_text="—",
            **kwargs,
        )


class AllocationsBox(Section):
    """The allocations section, with a hint while no client is chosen."""

    def __call__(self, form, form_opts=None, field_args=None):
        html = super().__call__(form, form_opts, field_args)
        hint = Markup('<p class="text-muted small" id="allocation-hint">{}</p>').format(
            gettext(
                "Only approved, signed or archived contracts of the receipt's client are offered; choose the "
                "client first. The allocations may not exceed the amount received."
            )
        )
        return hint + html


class ReceiptView(WorkflowMixin, CrmModelView):
    """客户回款登记: inline allocations to contracts, confirm action."""

    printable = "receipt"  # the printed 收款凭证 (reports/printing.py)

    form_ajax_refs = {"client": {"fields": ["name"], "page_size": 10}}
    column_formatters = {"client": record_link("client")}
    column_formatters_export: dict = {}  # plain names in CSV/XLSX, not links
    column_list = ("number", "received_on", "client", "amount", "method", "payer", "status")
    column_optional = ("bank_ref", "recorded_by", "department", "confirmed_by", "confirmed_at", "created_at")
    column_sortable_list = ("number", "received_on", "amount", "status")
    column_default_sort = ("received_on", True)
    # the page query reads receipts only (it walks the received_on index even on deep
    # pages); the related rows of the page come in one query each (eager_options)
    column_auto_select_related = False
    column_searchable_list = ("number", "bank_ref", "payer", "client.name")
    column_details_list = (
        "number",
        "client",
        "amount",
        "received_on",
        "department",
        "payer",
        "method",
        "bank_ref",
        "recorded_by",
        "notes",
        "status",
        "confirmed_by",
        "confirmed_at",
        "created_at",
        "updated_at",
    )
    column_export_list = (
        "number",
        "received_on",
        "client",
        "amount",
        "method",
        "payer",
        "bank_ref",
        "department",
        "status",
        "recorded_by",
        "confirmed_by",
        "confirmed_at",
        "notes",
    )
    form_columns = (
        "client",
        "number",
        "amount",
        "received_on",
        "method",
        "bank_ref",
        "payer",
        "department",
        "recorded_by",
        "notes",
        "allocations",
    )
    form_rules = (
        Section(
            _l("Receipt"),
            ("client", "number", "amount", "received_on", "method", "bank_ref", "payer", "department", "recorded_by"),
        ),
        Section(_l("Notes"), ("notes",), columns=1),
        AllocationsBox(_l("Allocations"), ("allocations",), columns=1),
    )
    inline_models = (
        (
            ContractReceipt,
            {
                "form_columns": ("id", "contract", "amount"),
                "form_extra_fields": {"contract": OfferedContractField(_l("Contract"))},
            },
        ),
    )
    me_fields = ("recorded_by",)
    form_args = {"number": {"description": AUTO_NUMBER}}
    filled_fields = ("number",)  # left empty: numbered by its pattern (models/numbering.py)
    details_template = "admin/crm/finance_receipt_details.html"
    column_filters = (
        "client",
        "received_on",
        "method",
        status_filter(Receipt.status, RECEIPT_STATUSES),
        "amount",
        "department",
        "recorded_by",
        # the client's owner (and their department): the records behind the performance report's receipts
        ClientOwnerFilter(Receipt.client_id, _l("Client's owner"), options=LazyOptions(_people, cached=User)),
        ClientOwnerDepartmentFilter(
            Receipt.client_id, _l("Client owner's department"), options=LazyOptions(_departments, cached=Department)
        ),
    )
    list_eager = ("client", "method", "recorded_by")
    detail_eager = ("allocations.contract",)
    prefill = {"client": "client_id"}  # /new/?client_id= (e.g. from the client page)

    @property
    def extra_js(self):
        return [url_for("static", filename="finance.js")]

    # -- the client decides which contracts are offered ----------------------------
    def _offer_contracts_of(self, obj=None) -> None:
        posted = request.form.get("client") if request.method == "POST" else None
        client_id = posted or request.args.get("client_id") or (obj.client_id if obj is not None else None)
        g.crm_receipt_client_id = int(client_id) if str(client_id or "").isdigit() else None

    def create_form(self, obj=None):
        self._offer_contracts_of()
        return super().create_form(obj)

    def edit_form(self, obj=None):
        self._offer_contracts_of(obj)
        return super().edit_form(obj)

    @expose("/contracts/")
    @crm_page(right="view")
    def contracts_view(self):
        """JSON for static/finance.js: the contracts a receipt of ?client_id= may go to."""
        client_id = request.args.get("client_id", type=int)
        return jsonify([{"id": c.id, "text": contract_choice_label(c)} for c in offered_contracts(client_id)])

    def can_change(self, record) -> bool:
        """Confirmed receipts: read-only except for admin (SPEC §4.5)."""
        return (current_user.is_authenticated and current_user.is_admin) or super().can_change(record)


# ------------------------------------------------------------------------- invoices
class InvoiceContractLoader(ScopedAjaxLoader):
    """Contracts an invoice may be issued on: in scope, live, approved or later."""

    def get_query(self):
        return super().get_query().filter(Contract.status.in_(OFFERABLE_CONTRACT_STATES))

    def get_one(self, pk):  # the current contract of an invoice stays valid whatever its state
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        return ScopedAjaxLoader.get_query(self).filter(Contract.id == pk).first()

    def format(self, model):
        if model is None:
            return None
        client = model.client.name if model.client else ""
        return model.id, f"{model.number} {model.name} — {client}"


class InvoiceView(WorkflowMixin, CrmModelView):
    """收入发票: tax and total computed (and checked), void with a reason."""

    column_list = ("number", "issued_on", "contract", "contract.client", "type", "total", "status")
    column_optional = ("amount", "tax_rate", "tax", "issuer", "created_at")
    column_sortable_list = ("number", "issued_on", "amount", "total", "status")
    column_default_sort = ("issued_on", True)
    column_searchable_list = ("number", "contract.number", "contract.name")
    column_details_list = (
        "number",
        "contract",
        "type",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "issued_on",
        "issuer",
        "receiver",
        "notes",
        "status",
        "voided_at",
        "voided_by",
        "void_reason",
        "created_at",
        "updated_at",
    )
    column_export_list = (
        "number",
        "issued_on",
        "contract",
        "contract.client",
        "type",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "issuer",
        "receiver",
        "status",
        "voided_at",
        "void_reason",
        "notes",
    )
    extra_labels = {"contract.name": _l("Contract name")}
    form_columns = ("contract", "type", "number", *column_details_list[3:11])  # amount … notes
    form_ajax_refs = {"contract": {"fields": ["number", "name"], "page_size": 10}}
    column_formatters = {"contract": record_link("contract", text=lambda c: f"{c.number} {c.name}")}
    column_formatters_export = {"contract": lambda view, context, model, name: model.contract.number}
    form_args = {"tax_rate": {"coerce": int}, "number": {"description": AUTO_NUMBER}}
    filled_fields = ("number",)  # left empty: numbered by its pattern (models/numbering.py)
    form_extra_fields = {
        "tax": MoneyField(
            _l("Tax"),
            [validators.Optional(), validators.NumberRange(min=0)],
            description=_l("Left empty: amount × rate, rounded half-up to the fen."),
        ),
        "total": MoneyField(
            _l("Total with tax"),
            [validators.Optional(), validators.NumberRange(min=0)],
            description=_l("Left empty: amount + tax."),
        ),
    }
    form_rules = (
        Section(_l("Invoice"), ("contract", "type", "number", "issued_on", "issuer", "receiver")),
        Section(_l("Amounts"), ("amount", "tax_rate", "tax", "total"), columns=4),
        Section(_l("Notes"), ("notes",), columns=1),
    )

    column_filters = (
        status_filter(Invoice.status, INVOICE_STATUSES),
        "type",
        "issued_on",
        # an integer column: the value is compared as a number (PostgreSQL refuses integer = varchar)
        sqla_filters.IntEqualFilter(
            Invoice.tax_rate, _l("Tax rate (%)"), options=[(str(rate), f"{rate}%") for rate in TAX_RATES]
        ),
        "amount",
        "total",
    )

    @property
    def extra_js(self):
        return [url_for("static", filename="finance.js")]

    ajax_loaders = {"contract": InvoiceContractLoader}

    column_auto_select_related = False  # as for receipts: the page query reads invoices only
    list_eager = ("contract.client", "type")  # the client column goes through the contract
    create_defaults = {"tax_rate": settings.default_tax_rate}


def register(admin) -> None:
    """Add the finance views to the menu."""
    admin.add_view(ReceiptView(Receipt, name=_l("Receipts"), endpoint="receipt", category=FINANCE))
    admin.add_view(InvoiceView(Invoice, name=_l("Invoices"), endpoint="invoice", category=FINANCE))
