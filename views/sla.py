"""Admin views of the SLA reference tables (issue 12 item 3): working hours per weekday,
the dated calendar (holidays and 调休 make-up working days) and the SLA policies. Rights
``sla_hours.*``, ``sla_calendar.*``, ``sla_policy.*`` (admin edits, service staff read);
the rules and the arithmetic live in models/sla.py and models/business_time.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models.sla import CalendarDay, SlaPolicy, WorkingHours

from .crud import CrmModelView

SERVICE = _l("Service")


class WorkingHoursView(CrmModelView):
    """工作时间: several intervals a day are allowed (a lunch break is the gap between two)."""

    column_list = ("weekday", "starts", "ends", "updated_at")
    column_default_sort = [("weekday", False), ("starts", False)]
    column_filters = ("weekday",)
    form_columns = ("weekday", "starts", "ends")
    column_details_list = ("weekday", "starts", "ends", "created_at", "updated_at")


class CalendarDayView(CrmModelView):
    """节假日与调休: a 放假 day has no working time, a 调休上班 day has Monday's hours."""

    column_list = ("day", "kind", "name", "updated_at")
    column_default_sort = ("day", False)
    column_searchable_list = ("name",)
    column_filters = ("day", "kind")
    form_columns = ("day", "kind", "name")
    column_details_list = ("day", "kind", "name", "created_at", "updated_at")


class SlaPolicyView(CrmModelView):
    """服务时限策略: the most specific active row matching a ticket applies (client, then
    type, then priority); a "No SLA" row means no clock."""

    column_list = ("client", "type", "priority", "no_sla", "response_minutes", "resolution_minutes", "is_active")
    column_default_sort = ("id", False)
    column_filters = ("type", "priority", "no_sla", "is_active")
    column_searchable_list = ("client.name",)
    extra_labels = {"client.name": _l("Client")}
    form_columns = ("client", "type", "priority", "no_sla", "response_minutes", "resolution_minutes", "is_active")
    column_details_list = (*form_columns, "created_at", "updated_at")
    form_ajax_refs = {"client": {"fields": ["name"], "page_size": 10}}
    column_descriptions = {
        "client": _l("Empty: every client. A row for a client overrides the others (key accounts)."),
        "type": _l("Empty: every type."),
        "priority": _l("Empty: every priority."),
    }


#: view, model, menu name, endpoint
VIEWS = (
    (SlaPolicyView, SlaPolicy, _l("SLA policies"), "sla_policy"),
    (WorkingHoursView, WorkingHours, _l("Working hours"), "sla_hours"),
    (CalendarDayView, CalendarDay, _l("Holidays and make-up days"), "sla_calendar"),
)


def register(admin) -> None:
    """Add the SLA tables to the Service menu."""
    for view, model, name, endpoint in VIEWS:
        admin.add_view(view(model, name=name, endpoint=endpoint, category=SERVICE))
