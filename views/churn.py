"""Churn warnings (客户流失管理, SPEC §4.3 client_loss, §5 churn workflow): the warnings
`flask --app app detect-churn` creates, with the actions *add measure* (a dated, signed
line appended to the measures → delayed) and *confirm loss* (reason required). In scope
through the client; confirmed losses are read-only."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from models.auth import Department
from models.churn import CHURN_STATUSES, ClientLoss, fill_from_client

from .client_children import ClientChildView
from .crud import LazyOptions, status_filter
from .customers import OwnerDepartmentFilter, _departments
from .helpers import columns_but
from .workflow import WorkflowMixin

CUSTOMERS = _l("Customers")
MEASURES_SHOWN = 60


def _measures_short(view, context, model, name):
    """The latest measure, shortened; the whole text on hover."""
    text = (model.measures or "").strip()
    if not text:
        return ""
    latest = text.splitlines()[-1]
    short = latest if len(latest) <= MEASURES_SHOWN else latest[: MEASURES_SHOWN - 1] + "…"
    return Markup('<span title="{}">{}</span>').format(text, short)


def _multiline(view, context, model, name):
    text = getattr(model, name) or ""
    return Markup('<div style="white-space: pre-line">{}</div>').format(text) if text else ""


class ChurnView(WorkflowMixin, ClientChildView):
    """Warnings come from detect-churn; holders of ``churn.create`` may also raise one by
    hand (owner, dates and last order are filled from the client when left empty)."""

    column_list = ("client", "owner", "last_order_on", "detected_on", "status", "reason", "measures")
    column_sortable_list = ("last_order_on", "detected_on", "status", ("owner", "owner.name"))
    column_default_sort = ("detected_on", True)
    column_searchable_list = ("client.name",)
    extra_labels = {"client.name": _l("Client")}
    column_details_list = (
        "client",
        "owner",
        "last_order_on",
        "detected_on",
        "status",
        "measures",
        "reason",
        "confirmed_by",
        "confirmed_at",
        "created_at",
        "updated_at",
    )
    column_export_list = columns_but(column_details_list, "created_at", "updated_at")
    form_columns = ("client", "owner", "detected_on", "last_order_on")
    form_args = {
        "detected_on": {"description": _l("Left empty: today.")},
        "last_order_on": {"description": _l("Left empty: the date of the client's last order.")},
        "owner": {"description": _l("Left empty: the client's owner.")},
    }
    me_fields: tuple[str, ...] = ()
    filled_fields = ("owner", "detected_on", "last_order_on")
    column_formatters = {**ClientChildView.column_formatters, "measures": _measures_short}
    column_formatters_detail = {**ClientChildView.column_formatters, "measures": _multiline, "reason": _multiline}
    column_filters = (
        status_filter(ClientLoss.status, CHURN_STATUSES),
        "owner",
        OwnerDepartmentFilter(
            ClientLoss.owner_id, _l("Owner's department"), options=LazyOptions(_departments, cached=Department)
        ),
        "detected_on",
        "last_order_on",
        "confirmed_at",  # the records behind the dashboard's and the churn report's losses
        "client",
        "reason",
    )

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if "client" in form:  # a warning stays with its client
            del form["client"]
        return form

    def on_model_change(self, form, model, is_created):
        """Fill what was left empty from the client (models/churn.py); one open warning
        per client is the domain's rule (at flush)."""
        super().on_model_change(form, model, is_created)
        fill_from_client(model, is_created)


def register(admin) -> None:
    """Add these views to the menu."""
    admin.add_view(ChurnView(ClientLoss, name=_l("Churn warnings"), endpoint="churn", category=CUSTOMERS))
