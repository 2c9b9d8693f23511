"""Report pages (/admin/reports/<slug>/, SPEC §7) with their XLSX/PDF/CSV downloads, and
the statement actions of the client and contract lists.

Reports are not model views: :class:`ReportView` is a Flask-Admin ``BaseView`` that
enforces login (anonymous → /login?next=…), the report's right (``report.<slug>``,
403 otherwise; the menu shows the page only to holders) and — through the report's
query functions — the user's data scope. The figures come from ``reports/<slug>.py``;
the page and the downloads lay out one and the same :class:`reports.render.Document`.

Statements: :class:`ClientStatementMixin` and :class:`ContractStatementMixin` add the
actions *Customer statement* / *Receivables statement* (PDF or XLSX) to a list view
(put them first in the view's bases), plus a GET page ``<view>/statement/?ids=…&format=``
for links. They need the list's view right and ``receipt.view`` + ``invoice.view``
(a statement shows receipts and invoices); records outside the scope are ignored.
"""

from __future__ import annotations

import io
from datetime import datetime

from flask import abort, flash, redirect, request, send_file, url_for
from flask_admin import BaseView, expose
from flask_babel import format_datetime, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms import Form

from models import clock, db, settings
from models.auth import Department, User
from models.lookups import Area, CampaignType, ServiceType
from reports import statement as statements
from reports.charts import echarts_option
from reports.render import html_cell, write_csv, write_pdf, write_xlsx

from .crud import crm_action, login_url
from .crud.fields import CrmDateField
from .helpers import attachment, parse_ids

REPORTS = _l("Reports")
#: rows shown on a report page (the totals and the downloads cover every row)
PAGE_ROWS = 1000
#: records one statement download covers (a list page holds at most 100)
MAX_STATEMENTS = 200

DOWNLOADS = {
    "xlsx": (write_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (write_pdf, "application/pdf"),
    "csv": (write_csv, "text/csv"),  # Werkzeug adds "; charset=utf-8" to text types itself
}


def generated_text(at: datetime) -> str:
    """The generation time shown on every download, in the display time zone."""
    return f"{format_datetime(at, 'yyyy-MM-dd HH:mm:ss')} ({clock.zone_name()})"


def date_input(name: str, value, **attrs) -> Markup:
    """A report's date filter drawn by the forms' own date field (typed ``YYYY-MM-DD`` or
    picked in the UI language; views/crud/fields.py), showing the value the report used."""
    field = CrmDateField().bind(Form(), name)
    field.process(None, value)
    return field(id=name, class_="form-control form-control-sm", **attrs)


def download(documents, fmt: str, stem: str, footer: str = ""):
    """Write ``documents`` as ``fmt`` and send them as an attachment."""
    writer, mimetype = DOWNLOADS[fmt]
    data = writer(documents, footer=footer) if fmt == "pdf" else writer(documents)
    response = send_file(
        io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=f"{stem}.{fmt}", max_age=0
    )
    response.headers["Content-Disposition"] = attachment(f"{stem}.{fmt}", f"{fmt}-download.{fmt}")
    response.headers["Cache-Control"] = "no-store"
    return response


class ReportView(BaseView):
    """A report page: login, the ``report.<slug>`` right, then the report's own scope."""

    right: str = ""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.can(self.right)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(login_url())
        abort(403)


class DeclaredReportView(ReportView):
    """Serves one declared report (reports/framework.py): the page, its downloads with the
    same figures, the filters used and the generation time."""

    def __init__(self, report, **kwargs):
        self.report = report
        self.right = report.right
        super().__init__(
            name=report.title, endpoint=report.endpoint, url=f"/admin/reports/{report.slug}", category=REPORTS, **kwargs
        )

    @expose("/")
    def index(self):
        report = self.report
        fmt = request.args.get("format")
        if fmt is not None and fmt not in DOWNLOADS:
            abort(400, gettext('Unknown download format "%(format)s": use xlsx, pdf or csv.', format=fmt[:10]))
        values, errors = report.parse_args(request.args, clock.today())
        if fmt and errors:  # a download states exactly what it covers: refuse rather than guess
            abort(400, " ".join(errors))
        pager = None
        if fmt:
            result = report.run(db.session, current_user, values, limit=None)
        elif report.paged:
            result, pager = self._page(report, values)
        else:
            result = report.run(db.session, current_user, values, limit=PAGE_ROWS)
        lines = report.describe_values(db.session, values)
        generated = generated_text(result.generated_at)
        document = report.make_document(result, lines, generated)
        if fmt:
            return download([document], fmt, report.file_stem(values), footer=f"{document.title} · {generated}")
        args = report.url_args(values)
        chart = None
        if result.chart:
            categories, series, money = result.chart
            chart = echarts_option(categories, series, money=money)
        return self.render(
            report.template,
            declaration=report,
            result=result,
            document=document,
            errors=errors,
            filters=values,
            options=self._options({f.kind for f in report.fields}),
            html_cell=html_cell,
            date_input=date_input,
            option=chart,
            pager=pager,
            downloads=[(name, url_for(".index", **args, format=name)) for name in DOWNLOADS],
            **result.context,
        )

    @staticmethod
    def _page(report, values):
        """(result, pager) of page ``?page=N`` (from 1) of a paged report: the rows of the
        page, the totals of all rows; pager links keep the filters. A page beyond the last
        shows the last one."""
        size = settings.report_page_rows()
        raw = request.args.get("page", "")
        page = int(raw) if raw.isdigit() and 0 < int(raw) < 10**9 else 1
        result = report.run(db.session, current_user, values, limit=size, offset=(page - 1) * size)
        pages = max(1, -(-(result.row_count or 0) // size))
        if page > pages:
            page = pages
            result = report.run(db.session, current_user, values, limit=size, offset=(page - 1) * size)
        args = report.url_args(values)

        def link(number):
            return url_for(".index", **args, page=number) if number != 1 else url_for(".index", **args)

        first = (page - 1) * size + 1 if result.row_count else 0
        pager = {
            "page": page,
            "pages": pages,
            "links": [(n, link(n)) for n in _pager_numbers(page, pages)],
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < pages else None,
            "label": gettext(
                "Rows %(first)s–%(last)s of %(count)s (page %(page)s of %(pages)s)",
                first=first,
                last=min(page * size, result.row_count or 0),
                count=result.row_count or 0,
                page=page,
                pages=pages,
            ),
        }
        return result, pager

    @staticmethod
    def _options(kinds) -> dict:
        """The choices of the filter form (a query per department, owner, area, service or campaign type field)."""
        options = {}
        if "department" in kinds:
            departments = db.session.execute(
                select(Department.id, Department.name, Department.parent_id).order_by(
                    Department.sort_order, Department.id
                )
            ).all()
            options["departments"] = _tree(departments)
        if "owner" in kinds:
            owners = db.session.execute(select(User.id, User.name).where(User.live()).order_by(User.name, User.id))
            options["owners"] = [(u.id, u.name) for u in owners]
        if "area" in kinds:
            areas = db.session.execute(
                select(Area.id, Area.name, Area.parent_id)
                .where(Area.is_active.is_(True))
                .order_by(Area.sort_order, Area.id)
            ).all()
            options["areas"] = _tree(areas)
        if "service_type" in kinds:
            types = db.session.execute(
                select(ServiceType.id, ServiceType.name)
                .where(ServiceType.is_active.is_(True))
                .order_by(ServiceType.sort_order, ServiceType.id)
            )
            options["service_types"] = [(t.id, t.name) for t in types]
        if "campaign_type" in kinds:
            types = db.session.execute(
                select(CampaignType.id, CampaignType.name)
                .where(CampaignType.is_active.is_(True))
                .order_by(CampaignType.sort_order, CampaignType.id)
            )
            options["campaign_types"] = [(t.id, t.name) for t in types]
        return options


def _pager_numbers(page: int, pages: int) -> list[int]:
    """The page numbers a pager links to: the first, the last and two either side of ``page``."""
    return sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})


def _tree(rows) -> list[tuple[int, str]]:
    """(id, name indented by depth) in tree order, from (id, name, parent_id) rows."""
    children: dict = {}
    ids = {row.id for row in rows}
    for row in rows:
        children.setdefault(row.parent_id if row.parent_id in ids else None, []).append(row)
    result: list[tuple[int, str]] = []

    def walk(parent, depth):
        for row in children.get(parent, []):
            result.append((row.id, "\u3000" * depth + row.name))
            walk(row.id, depth + 1)

    walk(None, 0)
    return result


# ----------------------------------------------------------------------- statements
#: a statement shows receipts and invoices besides the list's own records
STATEMENT_RIGHT = ("view", "receipt.view", "invoice.view")


class _StatementMixin:
    """Shared by the two statement mixins: rights, the GET page, the response."""

    def may_make_statements(self) -> bool:
        return self.holds(STATEMENT_RIGHT)

    def statement_url(self, record_id: int, fmt: str = "pdf") -> str:
        """A link to the statement of one record (e.g. for a details page button)."""
        return url_for(".statement_view", ids=str(record_id), format=fmt)

    @expose("/statement/")
    def statement_view(self):
        fmt = request.args.get("format", "pdf")
        ids = parse_ids(request.args.get("ids", ""))
        return self.statement_response(ids, fmt)

    def statement_response(self, ids, fmt: str):
        """The statements of the records ``ids`` (those in scope and not deleted) as one
        PDF (a part per record) or one XLSX (a sheet per record)."""
        if not self.may_make_statements():
            abort(403)
        if fmt not in ("pdf", "xlsx"):
            abort(400, gettext('Unknown download format "%(format)s": use xlsx, pdf or csv.', format=fmt[:10]))
        wanted = parse_ids(ids)[:MAX_STATEMENTS]
        records = self._scoped_rows(wanted, deleted=False if self.is_soft else None) if wanted else []
        if not records:
            flash(gettext("Choose at least one record (in your data scope) for the statement."), "error")
            return redirect(url_for(".index_view"))
        today = clock.today()
        documents = self.statement_documents(sorted(r.id for r in records), today)
        if not documents:
            flash(gettext("Choose at least one record (in your data scope) for the statement."), "error")
            return redirect(url_for(".index_view"))
        stem = (
            f"{self.statement_stem}-{records[0].id}-{today:%Y%m%d}"
            if len(records) == 1
            else f"{self.statement_stem}s-{today:%Y%m%d}"
        )
        return download(documents, fmt, stem, footer=str(documents[0].title) if len(documents) == 1 else "")


def _statement_mixin(kind: str, stem: str, pdf_label, xlsx_label) -> type:
    """The statement actions of the ``kind`` ("client", "contract") list: the documents
    come from ``reports.statement.<kind>_statements`` / ``<kind>_statement_document``."""

    class StatementMixin(_StatementMixin):
        statement_stem = stem

        def statement_documents(self, ids, as_of):
            found = getattr(statements, f"{kind}_statements")(db.session, ids, current_user, as_of)
            document = getattr(statements, f"{kind}_statement_document")
            return [document(s, generated_text(s.generated_at)) for s in found]

        @crm_action("statement_pdf", pdf_label, right=STATEMENT_RIGHT)
        def action_statement_pdf(self, ids):
            return self.statement_response(ids, "pdf")

        @crm_action("statement_xlsx", xlsx_label, right=STATEMENT_RIGHT)
        def action_statement_xlsx(self, ids):
            return self.statement_response(ids, "xlsx")

    StatementMixin.__name__ = StatementMixin.__qualname__ = f"{kind.title()}StatementMixin"
    return StatementMixin


#: Customer statement (对账单) actions for the client list
ClientStatementMixin = _statement_mixin(
    "client", "statement", _l("Customer statement (PDF)"), _l("Customer statement (XLSX)")
)
#: Receivables statement actions for the contract list
ContractStatementMixin = _statement_mixin(
    "contract", "receivables-statement", _l("Receivables statement (PDF)"), _l("Receivables statement (XLSX)")
)


# ----------------------------------------------------------------- campaign effect
#: the effect report shows the campaigns report's figures of the chosen campaigns
EFFECT_RIGHT = ("view", "report.campaigns")


class CampaignEffectMixin:
    """The *effect report* (SPEC §7: campaigns → effect report) of the campaign list: the
    campaigns report (reports/campaigns.py) restricted to the chosen campaigns, as a PDF or
    an XLSX, from the list's actions, the details page's buttons and the GET page
    ``campaign/effect/?ids=…&format=``. Needs ``campaign.view`` and ``report.campaigns``;
    campaigns outside the scope are ignored."""

    def may_make_effect_reports(self) -> bool:
        return self.holds(EFFECT_RIGHT)

    def effect_url(self, record_id: int, fmt: str = "pdf") -> str:
        return url_for(".effect_view", ids=str(record_id), format=fmt)

    @expose("/effect/")
    def effect_view(self):
        return self.effect_response(request.args.get("ids", ""), request.args.get("format", "pdf"))

    def effect_response(self, ids, fmt: str):
        from reports.campaigns import effect_document

        if not self.may_make_effect_reports():
            abort(403)
        if fmt not in ("pdf", "xlsx"):
            abort(400, gettext('Unknown download format "%(format)s": use xlsx or pdf.', format=fmt[:10]))
        wanted = parse_ids(ids)[:MAX_STATEMENTS]
        records = self._scoped_rows(wanted, deleted=False) if wanted else []
        today = clock.today()
        ids = sorted(r.id for r in records)
        document = effect_document(db.session, current_user, ids, generated_text(clock.now())) if ids else None
        if document is None:
            flash(gettext("Choose at least one campaign (in your data scope) for the effect report."), "error")
            return redirect(url_for(".index_view"))
        stem = f"campaign-effect-{records[0].id}" if len(records) == 1 else "campaign-effect"
        return download([document], fmt, f"{stem}-{today:%Y%m%d}", footer=f"{document.title}")

    @crm_action("effect_pdf", _l("Effect report (PDF)"), right=EFFECT_RIGHT)
    def action_effect_pdf(self, ids):
        return self.effect_response(ids, "pdf")

    @crm_action("effect_xlsx", _l("Effect report (XLSX)"), right=EFFECT_RIGHT)
    def action_effect_xlsx(self, ids):
        return self.effect_response(ids, "xlsx")


def register(admin) -> None:
    """Add every declared report (reports/registry.py) to the menu (category Reports)."""
    from reports.registry import REPORTS as DECLARED

    for report in DECLARED:
        admin.add_view(DeclaredReportView(report))
