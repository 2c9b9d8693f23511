"""The views of a client's rows (SPEC §4.3): contacts, follow-ups, appointments and
contracts, each scoped through its client and linking back to it."""

from __future__ import annotations

from flask import url_for
from markupsafe import Markup

from .crud import CrmModelView, record_link
from .finance import CONTRACT_MONEY_COLUMNS, ContractMoneyMixin
from .kpi_filters import WaitingForMeFilter, overdue_filter
from .opportunities import FROM_OPPORTUNITY
from .orders import AUTO_NUMBER
from .reports import ContractStatementMixin
from .uploads import ScanUploadMixin
from .workflow import WorkflowMixin


class ClientChildView(CrmModelView):
    """Views of rows that belong to a client: the client is picked through a scoped
    ajax look-up and shown as a link."""

    form_ajax_refs = {"client": {"fields": ["name"], "page_size": 10}}
    column_sortable_list: tuple = ()
    column_formatters = {"client": record_link("client")}
    column_formatters_export: dict = {}  # plain client names in CSV/XLSX
    prefill = {"client": "client_id"}


class LinkmanView(ClientChildView):
    column_list = ("name", "client", "position", "gender", "mobile", "phone", "email")
    column_optional = ("english_name", "created_at")
    column_searchable_list = ("name", "english_name", "mobile", "phone", "email", "client.name")
    column_filters = ("gender", "position", "created_at")
    column_sortable_list = ("name", "position", "mobile")
    column_default_sort = ("id", True)
    form_columns = ("client", "name", "english_name", "position", "gender", "mobile", "phone", "email", "notes")


class FollowUpView(ClientChildView):
    column_list = ("followed_at", "client", "type", "content", "user", "next_follow_at")
    column_optional = ("linkman", "created_at")
    column_searchable_list = ("content", "client.name")
    column_filters = ("type", "user", "followed_at", "next_follow_at")
    column_sortable_list = ("followed_at", "next_follow_at")
    column_default_sort = ("followed_at", True)
    form_columns = ("client", "type", "followed_at", "content", "linkman", "user", "next_follow_at")
    me_fields = ("user",)
    choices_follow = {"linkman": "client"}  # the chosen client's contacts (views/crud/pickers.py)


class AppointmentView(ClientChildView):
    column_list = ("scheduled_at", "client", "type", "content", "remind_at", "user", "status")
    column_searchable_list = ("content", "client.name")
    column_filters = ("type", "status", "user", "scheduled_at", "remind_at")
    column_sortable_list = ("scheduled_at", "remind_at", "status")
    column_default_sort = ("scheduled_at", True)
    form_columns = ("client", "type", "scheduled_at", "remind_at", "content", "user", "status")
    me_fields = ("user",)


class ContractView(ContractMoneyMixin, ContractStatementMixin, WorkflowMixin, ScanUploadMixin, ClientChildView):
    printable = "contract_cover"  # the printed approval sheet for the seal (reports/printing.py)
    # a 1366-pixel screen shows these without wrapping; the rest are one tick away
    # (views/crud/columns.py), and the download keeps every column
    column_list = ("number", "name", "client", "amount", "balance", "status", "ends_on", "owner")
    column_optional = ("type", "received", "invoiced", "starts_on", "scan_file", "opportunity", "created_at")
    column_export_list = (
        "number",
        "name",
        "client",
        "type",
        "amount",
        *CONTRACT_MONEY_COLUMNS,
        "status",
        "starts_on",
        "ends_on",
        "owner",
        "scan_file",
    )
    column_searchable_list = ("number", "name", "client.name")
    column_filters = (
        "status",
        "type",
        "owner",
        "client",
        "starts_on",
        "ends_on",
        "amount",
        "created_at",
        WaitingForMeFilter("contract"),
        overdue_filter(),
    )
    column_sortable_list = ("number", "name", "amount", "starts_on", "ends_on")
    column_default_sort = ("id", True)
    form_columns = (
        "client",
        "opportunity",
        "type",
        "number",
        "name",
        "starts_on",
        "ends_on",
        "amount",
        "linkman",
        "content",
        "payment_plan",
        "owner",
    )
    form_ajax_refs = {
        **ClientChildView.form_ajax_refs,
        "opportunity": {"fields": ["title", "customer_name"], "page_size": 10},
    }
    form_args = {"number": {"description": AUTO_NUMBER}}
    filled_fields = ("number",)  # left empty: numbered by its pattern (models/numbering.py)
    choices_follow = {"linkman": "client"}  # the chosen client's contacts (views/crud/pickers.py)
    column_details_list = (
        "number",
        "name",
        "client",
        "opportunity",
        "type",
        "amount",
        *CONTRACT_MONEY_COLUMNS,
        "status",
        "starts_on",
        "ends_on",
        "linkman",
        "content",
        "payment_plan",
        "scan_file",
        "owner",
        "submitted_by",
        "submitted_at",
        "approved_by",
        "approved_at",
        "second_approved_by",
        "second_approved_at",
        "approval_comment",
        "recorded_at",
        "created_at",
        "updated_at",
    )

    def _scan_link(view, context, model, name):
        if not model.scan_file_id:
            return ""
        return Markup('<a href="{}">{}</a>').format(
            url_for("files.download", file_id=model.scan_file_id),
            model.scan_file.original_name if model.scan_file else "",
        )

    column_formatters = {**ClientChildView.column_formatters, "scan_file": _scan_link}
    prefill = {**ClientChildView.prefill, "opportunity": "opportunity_id"}  # the button on a won opportunity
    prefill_from = {"opportunity": FROM_OPPORTUNITY}
