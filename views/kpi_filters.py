"""List filters behind the dashboard's figures (reports/kpis.py): a list filtered by one of
these shows exactly the records a card or a "waiting for me" line counts, in the same
clause, so the list's count equals the figure."""

from __future__ import annotations

from flask_admin.babel import lazy_gettext as admin_l
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from .crud.filters import LazyOptions

YES = LazyOptions(lambda: [("1", str(_l("Yes")))])


class WaitingForMeFilter(sqla_filters.BaseSQLAFilter):
    """The records of one kind of reports.kpis.WAITING that wait for the current user
    (``name``: when a list has two kinds, each its own filter name)."""

    def __init__(self, kind_key: str, name=None):
        from reports.kpis import WAITING_BY_KEY

        self.kind = WAITING_BY_KEY[kind_key]
        super().__init__(self.kind.model.id, name or _l("Waiting for me"), options=YES)

    def apply(self, query, value, alias=None):
        from reports.kpis import waiting_clause

        return query.filter(waiting_clause(self.kind, current_user))

    def operation(self):
        return admin_l("equals")

    def validate(self, value):
        return value == "1"


class OverdueFilter(sqla_filters.BaseSQLAFilter):
    """Contracts overdue by the receivables report's rule (reports.kpis.overdue_select)."""

    def apply(self, query, value, alias=None):
        from models import clock
        from reports.kpis import overdue_select

        overdue = overdue_select(current_user, clock.today()).subquery("overdue")
        return query.filter(self.column.in_(select(overdue.c.contract_id)))

    def operation(self):
        return admin_l("equals")

    def validate(self, value):
        return value == "1"


def overdue_filter():
    from models.customers import Contract

    return OverdueFilter(Contract.id, _l("Overdue receivable"), options=YES)


class ClauseFilter(sqla_filters.BaseSQLAFilter):
    """ "Yes": the rows of a domain clause — ``ClauseFilter(ServiceTicket.id, _l("Overdue"),
    overdue_clause)``; the clause function (no arguments) is the one the dashboard counts with."""

    def __init__(self, column, name, clause):
        self.clause = clause
        super().__init__(column, name, options=YES)

    def apply(self, query, value, alias=None):
        return query.filter(self.clause())

    def operation(self):
        return admin_l("equals")

    def validate(self, value):
        return value == "1"
