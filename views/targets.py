"""Sales targets and weekly reports (SPEC §4.4): monthly targets for a salesperson or a
department, weekly reports with inline items (submit, review, send back). The rules live in
models/targets.py; these classes declare what is shown and hand the request to the domain."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.form import Select2Widget
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import case, or_
from wtforms import validators

from models import clock, db
from models.auth import Department, User, department_subtree_ids
from models.opportunities import Opportunity
from models.scope import scoped, users_in_scope_clause
from models.targets import REPORT_STATUSES, SalesTarget, WeeklyReport, WeeklyReportItem

from .crud import CrmModelView, Section, kept, status_filter
from .helpers import columns_but
from .kpi_filters import WaitingForMeFilter
from .workflow import WorkflowMixin

SALES = _l("Sales")
MONTH = _l("Month")  # filter URLs read ?flt0_month_equals=2026-03


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

    rules_on_form = True

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


# ------------------------------------------------------------------------ weekly reports
def _report_opportunities():
    """Opportunities a report item may be about: in the user's scope, open ones first."""
    query = scoped(db.session.query(Opportunity), Opportunity, current_user)
    cutoff = clock.today() - timedelta(days=180)
    keep = kept("items.opportunity")
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

    rules_on_form = True  # a Monday; one report per person and week (models/targets.py)

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
    column_export_list = columns_but(column_details_list, "created_at", "updated_at")
    column_list = column_details_list[:7]  # week_start … reviewed_at
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
        WaitingForMeFilter("weekly_report"),
    )

    detail_eager = ("items.opportunity",)
    keep_current = ("items.opportunity",)  # an item's opportunity closed long ago stays valid

    create_defaults = {"week_start": this_monday}


def register(admin) -> None:
    """Add sales targets and weekly reports to the menu (Sales)."""
    admin.add_view(SalesTargetView(SalesTarget, name=_l("Sales targets"), endpoint="sales_target", category=SALES))
    admin.add_view(WeeklyReportView(WeeklyReport, name=_l("Weekly reports"), endpoint="weekly_report", category=SALES))
