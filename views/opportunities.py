"""Sales views (SPEC §4.4): opportunities with inline development plans and their workflow
(§5.3: assign to…, close as won / lost, reopen), and development plans. The rules live in
models/opportunities.py; these classes declare what is shown and hand the request to the
domain. Sales targets and weekly reports are in views/targets.py."""

from __future__ import annotations

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l

from models.auth import Department
from models.opportunities import OPPORTUNITY_STATUSES, OUTCOMES, DevelopmentPlan, Opportunity

from .crud import CrmModelView, LazyOptions, Section, record_link, status_filter, status_not_filter
from .customers import OwnerDepartmentFilter, _departments
from .workflow import WorkflowMixin

SALES = _l("Sales")


#: what a quote or contract created from a (won) opportunity starts with: ``prefill_from``
#: of a view with ``prefill = {"opportunity": "opportunity_id"}``
FROM_OPPORTUNITY = ("client", "name=title", "amount=expected_amount")


# ------------------------------------------------------------------------ opportunities
class OpportunityView(WorkflowMixin, CrmModelView):
    """销售机会: assigned through the *assign to…* step, never through the form."""

    rules_on_form = True

    # one client column: the client, else the customer name typed on the opportunity
    column_list = (
        "title",
        "client",
        "stage",
        "expected_amount",
        "expected_close_on",
        "assigned_to",
        "status",
        "outcome",
    )
    column_optional = ("success_rate", "source", "linkman", "created_by", "created_at", "closed_at")
    # related columns sort by the row's own key (indexed, see models/opportunities.py;
    # a one-field tuple keeps the list column's name, as in views/customers.py)
    column_sortable_list = (
        "title",
        "customer_name",
        ("client", ("client_id",)),
        ("stage", ("stage_id",)),
        "success_rate",
        "expected_amount",
        "expected_close_on",
        ("assigned_to", ("assigned_to_id",)),
        "status",
        "outcome",
        ("created_by", ("created_by_id",)),
        "created_at",
    )
    column_default_sort = ("id", True)
    column_searchable_list = ("title", "customer_name", "linkman", "client.name")
    extra_labels = {"client.name": _l("Client")}
    column_details_list = (
        "title",
        "customer_name",
        "client",
        "source",
        "stage",
        "success_rate",
        "expected_amount",
        "expected_close_on",
        "linkman",
        "tel",
        "competitor",
        "description",
        "status",
        "outcome",
        "lost_reason",
        "closed_at",
        "assigned_to",
        "assigned_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    column_export_list = column_details_list[:-1]  # all but updated_at
    column_formatters = {"client": record_link("client", fallback="customer_name")}
    column_formatters_export: dict = {}  # plain names in CSV/XLSX, not links
    column_formatters_detail = {"client": record_link("client")}
    form_columns = (
        "source",
        "client",
        "customer_name",
        "title",
        *column_details_list[4:12],
        "plans",
    )  # stage … description
    form_ajax_refs = {"client": {"fields": ["name"], "page_size": 10}}
    form_args = {
        "customer_name": {"description": _l("Left empty, the name of the chosen client.")},
        "success_rate": {"description": _l("Left empty, the probability of the sales stage.")},
    }
    form_rules = (
        Section(_l("Customer"), ("source", "client", "customer_name", "linkman", "tel")),
        Section(
            _l("Opportunity"), ("title", "stage", "success_rate", "expected_amount", "expected_close_on", "competitor")
        ),
        Section(_l("Opportunity description"), ("description",), columns=1),
        Section(_l("Development plans"), ("plans",), columns=1),
    )
    inline_models = ((DevelopmentPlan, {"form_columns": ("id", "planned_on", "todo", "result", "executed_on")}),)
    details_template = "admin/crm/opportunity_details.html"
    me_fields = ("created_by",)
    filled_fields = ("customer_name", "success_rate")

    column_filters = (
        status_filter(Opportunity.status, OPPORTUNITY_STATUSES),
        # "status is not" (archived) and the assignee's department: the records behind a funnel figure
        status_not_filter(Opportunity.status, OPPORTUNITY_STATUSES),
        OwnerDepartmentFilter(
            Opportunity.assigned_to_id,
            _l("Assignee's department"),
            options=LazyOptions(_departments, cached=Department),
        ),
        "stage",
        "source",
        "assigned_to",
        "created_by",
        "expected_amount",
        "expected_close_on",
        status_filter(Opportunity.outcome, OUTCOMES, _l("Outcome")),
        "created_at",
    )

    keep_current = ("client",)  # an opportunity assigned to me may concern a colleague's client
    detail_eager = ("plans",)

    def follow_up_links(self, record) -> list[tuple[str, str, str]]:
        """(id, label, url) of the documents a won opportunity leads to, for the user's rights."""
        if record.outcome != "won":
            return []
        links = []
        for endpoint, label in (("quote", _l("Create quote")), ("contract", _l("Create contract"))):
            view = f"{endpoint}.create_view"
            if view in current_app.view_functions and self.holds(f"{endpoint}.create"):
                links.append((f"create-{endpoint}", str(label), url_for(view, opportunity_id=record.id)))
        return links

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template:
            kwargs["follow_up_links"] = self.follow_up_links(model)
            kwargs["can_add_plan"] = self.holds("dev_plan.create") and model.status != "archived"
        return super().render(template, **kwargs)


# -------------------------------------------------------------------- development plans
class DevelopmentPlanView(CrmModelView):
    """客户开发计划: also editable inline on the opportunity; in scope through it."""

    column_list = ("opportunity", "planned_on", "todo", "result", "executed_on")
    column_sortable_list = (("opportunity", "opportunity.title"), "planned_on", "executed_on")
    column_default_sort = ("planned_on", True)
    column_searchable_list = ("todo", "result", "opportunity.title", "opportunity.customer_name")
    extra_labels = {"opportunity.title": _l("Opportunity"), "opportunity.customer_name": _l("Customer name")}
    column_details_list = ("opportunity", "planned_on", "todo", "result", "executed_on", "created_at", "updated_at")
    column_export_list = ("opportunity", "planned_on", "todo", "result", "executed_on")
    column_formatters = {"opportunity": record_link("opportunity")}
    column_formatters_export: dict = {}
    column_formatters_detail = column_formatters
    form_columns = ("opportunity", "planned_on", "todo", "result", "executed_on")
    form_args = {"executed_on": {"description": _l("Left empty with a result, today.")}}
    form_rules = (Section(_l("Development plan"), ("opportunity", "planned_on", "todo", "result", "executed_on")),)
    me_fields = ()
    column_filters = ("opportunity", "planned_on", "executed_on")

    prefill = {"opportunity": "opportunity_id"}  # the button on an opportunity
    locked_with = "opportunity"  # an archived opportunity's plans are read-only too


def register(admin) -> None:
    """Add opportunities and development plans to the menu (Sales)."""
    admin.add_view(OpportunityView(Opportunity, name=_l("Opportunities"), endpoint="opportunity", category=SALES))
    admin.add_view(
        DevelopmentPlanView(DevelopmentPlan, name=_l("Development plans"), endpoint="dev_plan", category=SALES)
    )
