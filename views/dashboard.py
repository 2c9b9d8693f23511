"""The dashboard at /admin/ (SPEC §7.9): who you are, KPI cards within your data scope,
what waits for you, two charts, your due reminders and the modules you may open.

The figures come from reports/kpis.py; this module declares the cards — which right shows
each one and which list, filtered by its own named filters (views.crud.list_url), holds
the records behind each figure — and builds the two chart options (reports/charts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app, g, redirect, request
from flask_admin import AdminIndexView, expose
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import clock, db
from models.base import format_money
from reports import kpis
from reports.charts import Series, echarts_option

from .crud import list_url

#: minutes → label of the postpone choices on the reminder card
POSTPONE_CHOICES = [(15, _l("15 minutes")), (60, _l("1 hour")), (240, _l("4 hours")), (1440, _l("1 day"))]
#: months of the orders-against-target chart
CHART_MONTHS = 12


@dataclass
class Figure:
    """One number on a card: its label, the shown value, the list behind it (or None)."""

    key: str
    label: object
    value: str
    url: str | None = None
    note: str = ""


@dataclass
class Card:
    key: str
    title: object
    icon: str
    figures: list


def _money(value) -> str:
    return format_money(value)


def _count(value) -> str:
    return format_decimal(value or 0)


def _percent(value) -> str:
    return "—" if value is None else f"{format_decimal(value)} %"


def _may(right: str) -> bool:
    return current_user.can(right)


def _month_args(first: date) -> tuple:
    return first, kpis.month_end(first)


def client_cards(today: date) -> list[Card]:
    cards = []
    if not (_may("client.view") or _may("churn.view")):
        return cards
    first = kpis.month_start(today)
    figures = kpis.client_figures(db.session, current_user, today)
    if _may("client.view"):
        month = kpis.local_span(first, kpis.month_end(today))
        cards.append(
            Card(
                "clients",
                _l("New clients"),
                "fa-user-plus",
                [
                    Figure(
                        "new_today",
                        _l("Today"),
                        _count(figures.new_today),
                        list_url("client", {"created_at_between": kpis.local_span(today, today)}),
                    ),
                    Figure(
                        "new_month",
                        _l("This month"),
                        _count(figures.new_month),
                        list_url("client", {"created_at_between": month}),
                    ),
                ],
            )
        )
    if _may("churn.view"):
        lost = list_url(
            "churn",
            {"status_equals": "confirmed", "confirmed_at_between": kpis.local_span(first, kpis.month_end(today))},
        )
        cards.append(
            Card(
                "lost",
                _l("Clients lost"),
                "fa-user-times",
                [Figure("lost_month", _l("Confirmed this month"), _count(figures.lost_month), lost)],
            )
        )
    return cards


def opportunity_cards(today: date) -> list[Card]:
    if not _may("opportunity.view"):
        return []
    figures = kpis.opportunity_figures(db.session, current_user, stages=open_stages())
    url = list_url("opportunity", {"status_not_equal": "archived"})
    shown = [
        Figure("open_amount", _l("Expected amount"), _money(figures.amount), url),
        Figure("open_weighted", _l("Weighted by probability"), _money(figures.weighted), url),
        Figure("open_count", _l("Count"), _count(figures.count), url),
    ]
    return [Card("opportunities", _l("Open opportunities"), "fa-lightbulb-o", shown)]


#: the two cards against the month's target: (key, endpoint, title, icon, count label,
#: the list's filters for a month)
SALES_CARDS = (
    (
        "orders",
        "order",
        _l("Orders this month"),
        "fa-shopping-cart",
        _l("Orders"),
        lambda span: {"order_date_between": span, "status_not_equal": "cancelled"},
    ),
    (
        "receipts",
        "receipt",
        _l("Receipts this month"),
        "fa-money",
        _l("Receipts"),
        lambda span: {"received_on_between": span},
    ),
)


def sales_cards(today: date) -> list[Card]:
    first = kpis.month_start(today)
    shown = [row for row in SALES_CARDS if _may(f"{row[1]}.view")]
    if not shown:
        return []
    monthly = monthly_orders(today) if _may("order.view") else None
    figures = kpis.sales_figures(db.session, current_user, today, monthly, monthly_targets(today))
    target_url = (
        list_url("sales_target", {"month_equals": first.strftime("%Y-%m")}) if _may("sales_target.view") else None
    )
    target = Figure("target", _l("Target this month"), _money(figures.target), target_url)
    cards = []
    for key, endpoint, title, icon, count_label, filters in shown:
        url = list_url(endpoint, filters(_month_args(first)))
        amount, count = getattr(figures, f"{key}_amount"), getattr(figures, key)
        lines = [
            Figure(f"{key}_amount", _l("Amount"), _money(amount), url),
            Figure(f"{key}_count", count_label, _count(count), url),
            target,
            Figure(f"{key}_percent", _l("Completion"), _percent(kpis.percent(amount, figures.target))),
        ]
        cards.append(Card(key, title, icon, lines))
    return cards


def overdue_cards(today: date) -> list[Card]:
    if not _may("contract.view"):
        return []
    figures = kpis.overdue_figures(db.session, current_user, today)
    url = list_url("contract", {"overdue_receivable_equals": "1"})
    shown = [
        Figure("overdue_amount", _l("Balance"), _money(figures.amount), url),
        Figure("overdue_count", _l("Contracts"), _count(figures.count), url),
    ]
    return [Card("overdue", _l("Overdue receivables"), "fa-exclamation-triangle", shown)]


def ticket_cards(today: date) -> list[Card]:
    """Open service tickets and the overdue among them (reports.kpis.ticket_figures)."""
    if not _may("service.view"):
        return []
    figures = kpis.ticket_figures(db.session, current_user)
    shown = [
        Figure("tickets_open", _l("Open"), _count(figures.open), list_url("service", {"open_equals": "1"})),
        Figure("tickets_overdue", _l("Overdue"), _count(figures.overdue), list_url("service", {"overdue_equals": "1"})),
    ]
    return [Card("tickets", _l("Service tickets"), "fa-life-ring", shown)]


#: the card families, in the order they are shown
CARD_FAMILIES = (client_cards, opportunity_cards, sales_cards, overdue_cards, ticket_cards)


#: the list filter of a kind of WAITING where its list has more than one (views/service.py)
WAITING_FILTERS = {"ticket_mine": "assigned_to_me_equals", "ticket_unassigned": "to_assign_equals"}


def _waiting_url(kind) -> str:
    return list_url(kind.endpoint, {WAITING_FILTERS.get(kind.key, "waiting_for_me_equals"): "1"})


def waiting_lines() -> list[Figure]:
    """One line per kind of record waiting for me (reports.kpis.WAITING), with its list."""
    return [
        Figure(kind.key, kind.label, _count(count), _waiting_url(kind))
        for kind, count in kpis.waiting_figures(db.session, current_user)
    ]


def monthly_orders(today: date) -> dict:
    """The orders of the chart's months (read once a request: the card takes this month's)."""
    if "crm_monthly_orders" not in g:
        months = kpis.months_back(today, CHART_MONTHS)
        g.crm_monthly_orders = kpis.orders_by_month(db.session, current_user, months)
    return g.crm_monthly_orders


def monthly_targets(today: date) -> dict:
    """The targets of the chart's months (read once a request: the cards take this month's)."""
    if "crm_monthly_targets" not in g:
        g.crm_monthly_targets = kpis.targets_by_month(db.session, current_user, kpis.months_back(today, CHART_MONTHS))
    return g.crm_monthly_targets


def open_stages() -> list:
    """The open opportunities per stage (read once a request: the chart draws them, the
    card adds them up)."""
    if "crm_open_stages" not in g:
        g.crm_open_stages = kpis.funnel_figures(db.session, current_user)
    return g.crm_open_stages


def orders_chart(today: date) -> dict | None:
    """Monthly orders (bars, each opening its month's orders) against the target (a line)."""
    if not _may("order.view"):
        return None
    months = kpis.months_back(today, CHART_MONTHS)
    orders = monthly_orders(today)
    targets = monthly_targets(today)
    urls = [list_url("order", {"order_date_between": _month_args(m), "status_not_equal": "cancelled"}) for m in months]
    series = [
        Series(_l("Orders"), [orders[m][1] for m in months], "bar", urls),
        Series(_l("Target"), [targets[m] for m in months], "line"),
    ]
    return echarts_option([m.strftime("%Y-%m") for m in months], series, money=True)


def funnel_chart() -> dict | None:
    """Open opportunities per stage; a stage opens its opportunities."""
    if not _may("opportunity.view"):
        return None
    stages = open_stages()
    urls = [
        list_url("opportunity", {"status_not_equal": "archived", "sales_stage_equals": stage.stage_id})
        for stage in stages
    ]
    series = Series(_l("Open opportunities"), [stage.count for stage in stages], "funnel", urls)
    return echarts_option([stage.name for stage in stages], [series])


class DashboardView(AdminIndexView):
    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        from .crud import login_url

        return redirect(login_url())

    def _modules(self):
        modules = []
        for item in self.admin.menu():
            if item.is_category():
                children = [c for c in item.get_children() if c.is_accessible() and c.is_visible()]
                if children:
                    modules.append((item.name, [(c.name, c.get_url()) for c in children]))
            elif item.is_accessible() and item.is_visible() and item.get_url() != request.path:
                modules.append((item.name, [(item.name, item.get_url())]))
        return modules

    def _charts(self, today):
        """(key, icon, title, option, Bootstrap columns of 12 on a wide screen) of each chart."""
        return [
            ("orders", "fa-bar-chart", _l("Orders against target, last 12 months"), orders_chart(today), 7),
            ("funnel", "fa-filter", _l("Sales funnel: open opportunities by stage"), funnel_chart(), 5),
        ]

    @expose("/")
    def index(self):
        reminders = None
        if "reminders" in current_app.blueprints:  # views.reminders.init_app(app) was called
            from .reminders import LIST_LIMIT, due_reminders

            reminders = due_reminders(current_user)
            if len(reminders) < LIST_LIMIT:  # the whole list: the navbar count needs no query
                g.crm_due_reminders = len(reminders)
        today = clock.today()
        cards = [card for family in CARD_FAMILIES for card in family(today)]
        return self.render(
            "admin/crm/dashboard.html",
            modules=self._modules(),
            reminders=reminders,
            postpone_choices=POSTPONE_CHOICES,
            cards=cards,
            waiting=waiting_lines(),
            charts=[chart for chart in self._charts(today) if chart[3] is not None],
        )
