"""Sales views (SPEC §4.4): opportunities with inline development plans and their workflow
(§5.3: assign to…, close as won / lost, reopen), development plans, monthly sales targets
and weekly reports with inline items (submit, review, send back). The rules live in
models/opportunities.py and models/targets.py; these classes declare what is shown and hand the
request to the domain."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import current_app, flash, g, request, url_for
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.form import Select2Widget
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import case, or_, select
from wtforms import validators

from models import clock, db
from models.auth import Department, User, department_subtree_ids
from models.base import FieldError, check_row
from models.customers import Client
from models.opportunities import OPPORTUNITY_STATUSES, OUTCOMES, DevelopmentPlan, Opportunity, opportunity_defaults
from models.scope import scoped, users_in_scope_clause
from models.targets import REPORT_STATUSES, SalesTarget, WeeklyReport, WeeklyReportItem

from .crud import CrmModelView, ScopedAjaxLoader, Section, record_link, status_filter
from .workflow import WorkflowMixin

SALES = _l("Sales")
MONTH = _l("Month")  # filter URLs read ?flt0_month_equals=2026-03


def prefill_from_opportunity(form) -> None:
    """On a create page opened as ``…/new/?opportunity_id=N`` (from a won opportunity): fill
    the form's opportunity, client, name and amount fields from that opportunity when it is
    in the user's scope; out of scope, fill nothing and say so."""
    opportunity_id = request.args.get("opportunity_id", type=int)
    if request.method != "GET" or not opportunity_id:
        return
    opportunity = db.session.execute(
        scoped(select(Opportunity).where(Opportunity.id == opportunity_id), Opportunity, current_user)
    ).scalar()
    if opportunity is None:
        flash(
            gettext("Opportunity #%(id)s is not in your data scope: nothing was filled in.", id=opportunity_id),
            "warning",
        )
        return
    defaults = opportunity_defaults(opportunity)
    if "opportunity" in form:
        form.opportunity.data = opportunity
    if defaults["client_id"] and "client" in form:
        query = select(Client).where(Client.id == defaults["client_id"], Client.is_deleted.is_(False))
        form.client.data = db.session.execute(scoped(query, Client, current_user)).scalar() or form.client.data
    for name in ("name", "amount"):
        if name in form and defaults[name] is not None:
            form[name].data = defaults[name]


def bind_field_error(form, exc: FieldError) -> None:
    """Show a domain refusal under the form field it names (it is flashed as well)."""
    for field in form:
        if str(field.label.text) == str(exc.field):
            field.errors = list(field.errors or ()) + [exc.message]
            return


def check_on_form(form, model) -> None:
    """Run the domain rules before the commit so a refusal lands on its field."""
    try:
        with db.session.no_autoflush:
            check_row(model)
    except FieldError as exc:
        bind_field_error(form, exc)
        raise


# ------------------------------------------------------------------------ opportunities
class OpportunityClientLoader(ScopedAjaxLoader):
    """Clients in the user's scope; on an edit form the opportunity's current client stays
    valid even when it belongs to someone else (an opportunity assigned to me may concern
    a colleague's client)."""

    def get_one(self, pk):
        row = super().get_one(pk)
        keep = g.get("crm_keep_client_id")
        if row is None and keep is not None and str(pk) == str(keep):
            return db.session.get(Client, keep)
        return row


class OpportunityView(WorkflowMixin, CrmModelView):
    """销售机会: assigned through the *assign to…* step, never through the form."""

    column_list = (
        "title",
        "customer_name",
        "client",
        "stage",
        "success_rate",
        "expected_amount",
        "expected_close_on",
        "assigned_to",
        "status",
        "outcome",
        "created_by",
        "created_at",
    )
    column_sortable_list = (
        "title",
        "customer_name",
        ("client", "client.name"),
        ("stage", "stage.sort_order"),
        "success_rate",
        "expected_amount",
        "expected_close_on",
        ("assigned_to", "assigned_to.name"),
        "status",
        "outcome",
        ("created_by", "created_by.name"),
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
    column_export_list = (
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
    )
    column_formatters = {"client": record_link("client")}
    column_formatters_export: dict = {}  # plain names in CSV/XLSX, not links
    column_formatters_detail = column_formatters
    form_columns = (
        "source",
        "client",
        "customer_name",
        "title",
        "stage",
        "success_rate",
        "expected_amount",
        "expected_close_on",
        "linkman",
        "tel",
        "competitor",
        "description",
        "plans",
    )
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
        "stage",
        "source",
        "assigned_to",
        "created_by",
        "expected_amount",
        "expected_close_on",
        status_filter(Opportunity.outcome, OUTCOMES, _l("Outcome")),
        "created_at",
    )

    def _create_ajax_loader(self, name, options):
        if name == "client":
            return OpportunityClientLoader(name, self.session, Client, **options)
        return super()._create_ajax_loader(name, options)

    detail_eager = ("plans",)

    def edit_form(self, obj=None):
        g.crm_keep_client_id = obj.client_id if obj is not None else None
        return super().edit_form(obj)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        check_on_form(form, model)

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


# ------------------------------------------------------------------------ sales targets
def _team_users():
    """The people a user sets targets or writes reports for: the users in their scope."""
    query = db.session.query(User).order_by(User.name)
    clause = users_in_scope_clause(current_user)
    return query if clause is None else query.filter(clause)


def _target_departments():
    query = db.session.query(Department).order_by(Department.sort_order, Department.id)
    if current_user.data_scope == "department" and current_user.department_id is not None:
        query = query.filter(Department.id.in_(department_subtree_ids(current_user.department_id)))
    return query


class SalesTargetView(CrmModelView):
    """销售计划: one month's amount for a salesperson or a department (not both)."""

    column_list = ("month", "user", "department", "amount", "notes")
    column_sortable_list = ("month", ("user", "user.name"), ("department", "department.name"), "amount")
    column_default_sort = ("month", True)
    column_searchable_list = ("month", "notes", "user.name", "department.name")
    extra_labels = {"user.name": _l("Salesperson"), "department.name": _l("Department")}
    column_details_list = ("month", "user", "department", "amount", "notes", "created_at", "updated_at")
    column_export_list = ("month", "user", "department", "amount", "notes")
    form_columns = ("user", "department", "month", "amount", "notes")
    form_args = {
        "user": {"query_factory": _team_users, "description": _l("Either a salesperson or a department, not both.")},
        "department": {"query_factory": _target_departments},
        "month": {"render_kw": {"placeholder": "YYYY-MM"}, "filters": [lambda text: text.strip() if text else text]},
    }
    form_rules = (
        Section(_l("Sales target"), ("user", "department", "month", "amount")),
        Section(_l("Notes"), ("notes",), columns=1),
    )
    me_fields = ()

    column_filters = (
        sqla_filters.FilterEqual(SalesTarget.month, MONTH),
        sqla_filters.FilterGreater(SalesTarget.month, MONTH),
        sqla_filters.FilterSmaller(SalesTarget.month, MONTH),
        "user",
        "department",
        "amount",
    )

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        check_on_form(form, model)


# ------------------------------------------------------------------------ weekly reports
def _report_opportunities():
    """Opportunities a report item may be about: in the user's scope, open ones first."""
    query = scoped(db.session.query(Opportunity), Opportunity, current_user)
    cutoff = clock.today() - timedelta(days=180)
    keep = g.get("crm_report_opportunity_ids") or []
    recent = or_(
        Opportunity.status != "archived",
        Opportunity.expected_close_on >= cutoff,
        Opportunity.closed_at >= datetime.combine(cutoff, time.min, tzinfo=UTC),
        Opportunity.id.in_(keep),
    )
    return query.filter(recent).order_by(case((Opportunity.status == "archived", 1), else_=0), Opportunity.id.desc())


class ReportOpportunityField(QuerySelectField):
    """An opportunity in the user's scope (open ones and those closed lately)."""

    widget = Select2Widget()

    def __init__(self, label=None, validators_=None, **kwargs):
        super().__init__(
            label,
            validators_ or [validators.Optional()],
            query_factory=_report_opportunities,
            allow_blank=True,
            blank_text="—",
            **kwargs,
        )


def this_monday():
    today = clock.today()
    return today - timedelta(days=today.weekday())


class WeeklyReportView(WorkflowMixin, CrmModelView):
    """销售周报: the author writes and submits it, their sales director reviews it."""

    column_list = ("week_start", "user", "summary", "status", "submitted_at", "reviewed_by", "reviewed_at")
    column_sortable_list = (
        "week_start",
        ("user", "user.name"),
        "status",
        "submitted_at",
        ("reviewed_by", "reviewed_by.name"),
        "reviewed_at",
    )
    column_default_sort = ("week_start", True)
    column_searchable_list = ("summary", "user.name", "items.progress")
    extra_labels = {"user.name": _l("Salesperson"), "items.progress": _l("Progress this week")}
    column_details_list = (
        "week_start",
        "user",
        "summary",
        "status",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_comment",
        "created_at",
        "updated_at",
    )
    column_export_list = (
        "week_start",
        "user",
        "summary",
        "status",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_comment",
    )
    form_columns = ("user", "week_start", "summary", "items")
    form_args = {
        "week_start": {"description": _l("The Monday the week starts on.")},
        "user": {"query_factory": _team_users},
    }
    form_rules = (
        Section(_l("Weekly report"), ("user", "week_start")),
        Section(_l("Summary"), ("summary",), columns=1),
        Section(_l("Report items"), ("items",), columns=1),
    )
    inline_models = (
        (
            WeeklyReportItem,
            {
                "form_columns": ("id", "opportunity", "progress", "next_plan", "issues", "support_needed", "notes"),
                "form_extra_fields": {"opportunity": ReportOpportunityField(_l("Opportunity"))},
            },
        ),
    )
    details_template = "admin/crm/weekly_report_details.html"
    me_fields = ("user",)
    column_formatters = {"summary": lambda view, context, model, name: (model.summary or "")[:80]}
    column_formatters_export: dict = {}

    column_filters = (
        status_filter(WeeklyReport.status, REPORT_STATUSES),
        "user",
        "week_start",
        "reviewed_by",
        "submitted_at",
    )

    detail_eager = ("items.opportunity",)

    def create_form(self, obj=None):
        g.crm_report_opportunity_ids = []
        form = super().create_form(obj)
        if request.method == "GET" and form.week_start.data is None:
            form.week_start.data = this_monday()
        return form

    def edit_form(self, obj=None):
        g.crm_report_opportunity_ids = [item.opportunity_id for item in obj.items] if obj is not None else []
        return super().edit_form(obj)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        check_on_form(form, model)  # a Monday; one report per person and week (models/targets.py)


def register(admin) -> None:
    """Add the sales views (opportunities, plans, targets, weekly reports) to the menu."""
    admin.add_view(OpportunityView(Opportunity, name=_l("Opportunities"), endpoint="opportunity", category=SALES))
    admin.add_view(
        DevelopmentPlanView(DevelopmentPlan, name=_l("Development plans"), endpoint="dev_plan", category=SALES)
    )
    admin.add_view(SalesTargetView(SalesTarget, name=_l("Sales targets"), endpoint="sales_target", category=SALES))
    admin.add_view(WeeklyReportView(WeeklyReport, name=_l("Weekly reports"), endpoint="weekly_report", category=SALES))
