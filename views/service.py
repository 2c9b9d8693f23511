"""Service tickets (服务管理, SPEC §4.6, workflow §5.4): a ticket is raised for a client,
assigned to a service agent (*assign to…*), answered, put on hold while the customer is
asked, handled, archived with the customer's satisfaction, and reopened with a reason.
The steps are declared in models/service.py (``TICKET``) and taken through
models.workflow.perform; this module only declares what the screens show.

Scope: a ticket through its assignee or creator or its client (models/scope.py); service
staff, who own no clients, read the clients of their tickets and find ANY live client by
name or phone in the form's client picker (:class:`TicketClientLoader`: name and phone only)."""

from __future__ import annotations

from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import or_

from models.auth import Department
from models.customers import Client
from models.service import (
    PRIORITIES,
    SLA_STATES,
    TICKET_STATUSES,
    ServiceTicket,
    is_overdue,
    open_clause,
    overdue_clause,
)

from .client_children import ClientChildView
from .crud import LazyOptions, ScopedAjaxLoader, Section, status_filter, status_not_filter
from .customers import OwnerDepartmentFilter, _departments
from .kpi_filters import ClauseFilter, WaitingForMeFilter
from .workflow import WorkflowMixin

SERVICE = _l("Service")
#: the shortest term with which a user outside the clients' scope searches all clients
MIN_TERM = 2


def finds_any_client(user) -> bool:
    """Service staff (create tickets, own no clients: no ``client.edit``) pick any live client."""
    return user.is_authenticated and user.can("service.create") and not user.can("client.edit")


class TicketClientLoader(ScopedAjaxLoader):
    """The ticket form's client picker: within the user's scope, or — for service staff —
    any live client found by name, phone or contact mobile (at least ``MIN_TERM``
    characters), shown as name and phone only."""

    def get_query(self):
        if finds_any_client(current_user):
            return super(ScopedAjaxLoader, self).get_query().filter(Client.live())
        return super().get_query()

    def get_list(self, term, offset=0, limit=10):
        if finds_any_client(current_user):
            term = (term or "").strip()
            if len(term) < MIN_TERM:
                return []
            like = f"%{term}%"
            query = self.get_query().filter(
                or_(Client.name.ilike(like), Client.phone.ilike(like), Client.contact_mobile.ilike(like))
            )
            return query.order_by(Client.name, Client.id).offset(offset).limit(limit).all()
        return super().get_list(term, offset, limit)

    def format(self, model):
        if model is None:
            return None
        return model.id, f"{model.name} · {model.phone}" if model.phone else model.name


def _due(view, context, model, name):
    """Due at, in local time; an overdue ticket's in a red badge."""
    if model.due_at is None:
        return ""
    text = format_datetime(model.due_at, "yyyy-MM-dd HH:mm")
    if is_overdue(model):
        return Markup('<span class="badge badge-danger crm-overdue" title="{}">{}</span>').format(_l("Overdue"), text)
    return text


def _multiline(view, context, model, name):
    text = getattr(model, name) or ""
    return Markup('<div style="white-space: pre-line">{}</div>').format(text) if text else ""


def _reasons(view, context, model, name):
    """The customer's feedback reasons by their labels (stored as codes)."""
    from models.feedback import reason_labels

    return ", ".join(reason_labels(model.feedback_reasons))


class ServiceTicketView(WorkflowMixin, ClientChildView):
    """服务: raised by hand (from the list or the client's page), then moved only by its steps."""

    column_list = ("title", "client", "type", "priority", "status", "assigned_to", "due_at", "sla_state")
    column_optional = ("created_at", "created_by", "first_response_at", "handled_at", "satisfaction")
    column_sortable_list = (
        "title",
        ("client", ("client_id",)),
        ("type", ("type_id",)),
        "priority",
        "status",
        ("assigned_to", ("assigned_to_id",)),
        "due_at",
        "sla_state",
        "created_at",
    )
    column_default_sort = ("id", True)
    column_searchable_list = ("title", "client.name")
    extra_labels = {"client.name": _l("Client")}
    column_details_list = (
        "title",
        "client",
        "type",
        "priority",
        "request",
        "status",
        "created_by",
        "created_at",
        "assigned_to",
        "assigned_at",
        "first_response_at",
        "response_due_at",
        "due_at",
        "sla_state",
        "sla_seconds_used",
        "handling",
        "result",
        "handled_by",
        "handled_at",
        "reopen_count",
        "reopen_reason",
        "satisfaction",
        "feedback_reasons",
        "feedback_comment",
        "feedback_at",
        "updated_at",
    )
    column_export_list = column_details_list[:-1]  # all but updated_at
    column_formatters = {**ClientChildView.column_formatters, "due_at": _due}
    column_formatters_detail = {
        **ClientChildView.column_formatters,
        **{name: _multiline for name in ("request", "handling", "result", "reopen_reason", "feedback_comment")},
        "feedback_reasons": _reasons,
    }
    column_filters = (
        status_filter(ServiceTicket.status, TICKET_STATUSES),
        status_not_filter(ServiceTicket.status, TICKET_STATUSES),
        "type",
        status_filter(ServiceTicket.priority, PRIORITIES, _l("Priority")),
        "assigned_to",
        OwnerDepartmentFilter(
            ServiceTicket.assigned_to_id,
            _l("Assignee's department"),
            options=LazyOptions(_departments, cached=Department),
        ),
        "client",
        "created_at",
        "due_at",
        status_filter(ServiceTicket.sla_state, SLA_STATES, _l("SLA state")),
        # the dashboard and the report drill through these
        ClauseFilter(ServiceTicket.id, _l("Open"), open_clause),
        ClauseFilter(ServiceTicket.id, _l("Overdue"), overdue_clause),
        WaitingForMeFilter("ticket_mine", _l("Assigned to me")),
        WaitingForMeFilter("ticket_unassigned", _l("To assign")),
    )
    form_columns = ("type", "title", "client", "priority", "request")
    details_template = "admin/crm/ticket_details.html"  # + the customer-feedback box (views/feedback.py)
    form_rules = (Section(_l("Service ticket"), ("type", "title", "client", "priority", "request")),)
    form_ajax_refs = {"client": {"fields": ["name", "phone"], "page_size": 10}}
    ajax_loaders = {"client": TicketClientLoader}
    me_fields = ("created_by",)
    list_eager = ("client", "type", "assigned_to")
    keep_current = ("client",)  # a ticket assigned to me may concern a client outside my scope


def register(admin) -> None:
    """Add the tickets to the menu (服务管理 / Service)."""
    admin.add_view(ServiceTicketView(ServiceTicket, name=_l("Service tickets"), endpoint="service", category=SERVICE))
