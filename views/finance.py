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
from sqlalchemy.orm import selectinload
from wtforms import validators

from models import db, settings
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
    contract_money_options,
    offerable_contracts,
)
from models.scope import scoped
from models.workflow import is_locked

from .crud import CrmModelView, LazyOptions, MoneyField, ScopedAjaxLoader, Section
from .workflow import WorkflowMixin

# views/customers.py imports ContractMoneyMixin from here, so nothing here imports it back

FINANCE = _l("Finance")


# ------------------------------------------------------------------------ contracts
class ContractMoneyMixin:
    """Put first in ContractView's bases: the list, details page and export show what was
    received, what was invoiced and the receivable balance of each contract, computed by
    correlated subqueries in the page's one SQL statement (no per-row queries)."""

    money_columns = ("received", "invoiced", "balance")

    def __init__(self, *args, **kwargs):
        for attr in ("column_list", "column_details_list", "column_export_list"):
            columns = list(getattr(self, attr, None) or ())
            if not columns:
                continue
            at = columns.index("amount") + 1 if "amount" in columns else len(columns)
            missing = [name for name in self.money_columns if name not in columns]
            setattr(self, attr, tuple(columns[:at] + missing + columns[at:]))
        super().__init__(*args, **kwargs)

    def eager_options(self):
        return super().eager_options() + contract_money_options()


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
    query = scoped(offerable_contracts(client_id), Contract, current_user).options(*contract_money_options())
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


def _status_filter(column, label, choices):
    options = LazyOptions(lambda: [(key, str(text)) for key, text in choices])
    return sqla_filters.FilterEqual(column, label, options=options)


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


def _client_link(view, context, model, name):
    client = model.client
    return (
        Markup('<a href="{}">{}</a>').format(url_for("client.details_view", id=client.id), client.name)
        if client
        else ""
    )


def _contract_link(view, context, model, name):
    contract = model.contract
    if contract is None:
        return ""
    text = f"{contract.number} {contract.name}"
    if not current_user.can("contract.view"):
        return text
    return Markup('<a href="{}">{}</a>').format(url_for("contract.details_view", id=contract.id), text)


class ReceiptView(WorkflowMixin, CrmModelView):
    """客户回款登记: inline allocations to contracts, confirm action."""

    form_ajax_refs = {"client": {"fields": ["name"], "page_size": 10}}
    column_formatters = {"client": _client_link}
    column_formatters_export: dict = {}  # plain names in CSV/XLSX, not links
    column_list = ("number", "received_on", "client", "amount", "method", "payer", "bank_ref", "status", "recorded_by")
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
    extra_labels = {"client.name": _l("Client")}
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
    details_template = "admin/crm/finance_receipt_details.html"
    view_operations = {"contracts_view": "view"}

    def __init__(self, model=Receipt, **kwargs):
        self.column_filters = (
            "client",
            "received_on",
            "method",
            _status_filter(Receipt.status, _l("Status"), RECEIPT_STATUSES),
            "amount",
            "department",
            "recorded_by",
        )
        super().__init__(model, **kwargs)

    @property
    def extra_js(self):
        return [url_for("static", filename="finance.js")]

    def eager_options(self):
        options = super().eager_options() + [
            selectinload(Receipt.client),
            selectinload(Receipt.method),
            selectinload(Receipt.recorded_by),
        ]
        if request.endpoint and request.endpoint.endswith(("details_view", "edit_view")):
            options.append(selectinload(Receipt.allocations).joinedload(ContractReceipt.contract))
        return options

    # -- the client decides which contracts are offered ----------------------------
    def _offer_contracts_of(self, obj=None) -> None:
        posted = request.form.get("client") if request.method == "POST" else None
        client_id = posted or request.args.get("client_id") or (obj.client_id if obj is not None else None)
        g.crm_receipt_client_id = int(client_id) if str(client_id or "").isdigit() else None

    def create_form(self, obj=None):
        self._offer_contracts_of()
        form = super().create_form(obj)
        client_id = g.crm_receipt_client_id
        if request.method == "GET" and client_id:  # /new/?client_id= (e.g. from the client page)
            query = scoped(
                select(Client).where(Client.id == client_id, Client.is_deleted.is_(False)), Client, current_user
            )
            form.client.data = db.session.execute(query).scalar()
        return form

    def edit_form(self, obj=None):
        self._offer_contracts_of(obj)
        return super().edit_form(obj)

    @expose("/contracts/")
    def contracts_view(self):
        """JSON for static/finance.js: the contracts a receipt of ?client_id= may go to."""
        client_id = request.args.get("client_id", type=int)
        return jsonify([{"id": c.id, "text": contract_choice_label(c)} for c in offered_contracts(client_id)])

    # -- confirmed receipts: read-only except for admin (SPEC §4.5) -------------------
    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        if current_user.is_authenticated and current_user.is_admin:
            return super(WorkflowMixin, self).edit_view()
        return super().edit_view()

    def update_model(self, form, model):
        if is_locked(model) and current_user.is_admin:
            return super(WorkflowMixin, self).update_model(form, model)
        return super().update_model(form, model)

    def delete_refusal(self, model):
        if is_locked(model) and current_user.is_admin:
            return super(WorkflowMixin, self).delete_refusal(model)
        return super().delete_refusal(model)


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

    column_list = (
        "number",
        "issued_on",
        "contract",
        "contract.client",
        "type",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "status",
    )
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
    extra_labels = {
        "contract.client": _l("Client"),
        "contract.number": _l("Contract number"),
        "contract.name": _l("Contract name"),
    }
    form_columns = (
        "contract",
        "type",
        "number",
        "amount",
        "tax_rate",
        "tax",
        "total",
        "issued_on",
        "issuer",
        "receiver",
        "notes",
    )
    form_ajax_refs = {"contract": {"fields": ["number", "name"], "page_size": 10}}
    column_formatters = {"contract": _contract_link}
    column_formatters_export = {"contract": lambda view, context, model, name: model.contract.number}
    form_args = {"tax_rate": {"coerce": int}}
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

    def __init__(self, model=Invoice, **kwargs):
        self.column_filters = (
            _status_filter(Invoice.status, _l("Status"), INVOICE_STATUSES),
            "type",
            "issued_on",
            sqla_filters.FilterEqual(
                Invoice.tax_rate, _l("Tax rate (%)"), options=[(str(rate), f"{rate}%") for rate in TAX_RATES]
            ),
            "amount",
            "total",
        )
        super().__init__(model, **kwargs)

    @property
    def extra_js(self):
        return [url_for("static", filename="finance.js")]

    def _create_ajax_loader(self, name, options):
        if name == "contract":
            return InvoiceContractLoader(name, self.session, Contract, **options)
        return super()._create_ajax_loader(name, options)

    column_auto_select_related = False  # as for receipts: the page query reads invoices only

    def eager_options(self):
        # the client column goes through the contract: one query each for the page
        return [selectinload(Invoice.contract).selectinload(Contract.client), selectinload(Invoice.type)]

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET" and form.tax_rate.data in (None, "", "None"):
            form.tax_rate.data = settings.default_tax_rate()
        return form


def register(admin) -> None:
    """Add the finance views to the menu."""
    admin.add_view(ReceiptView(Receipt, name=_l("Receipts"), endpoint="receipt", category=FINANCE))
    admin.add_view(InvoiceView(Invoice, name=_l("Invoices"), endpoint="invoice", category=FINANCE))
