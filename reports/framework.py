"""The report framework: a report is a declaration (:class:`Report`) plus its query
functions; the page, the XLSX/PDF/CSV downloads, the right check, the menu entry and the
rights of the seeded roles come from here and from views/reports.py.

A declaration names its slug (the page is ``/admin/reports/<slug>/``, the right
``report.<slug>``), its title, the groups it belongs to (which roles get it, SPEC §6:
:data:`ROLE_GROUPS`), its filter fields (the common ones — period, department with its
sub-departments, owner, area — and its own: a percentage, a choice) and ``run(session,
user, values) → Result``: the sections (typed columns: money, percent, int, date, text),
the chart (reports/charts.py ``Series``) and notes. The query functions use SQL
aggregates within the user's data scope (``models.scope.scope_clause``); a cell links
to the records behind it through a row's ``_links`` mapping (column key → list address,
``views.crud.list_url``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.auth import Department, User
from models.base import utcnow
from models.lookups import Area, CampaignType, ServiceType

from .render import Document, Section

#: role → the report groups it gets (SPEC §6, row "reports, dashboard"); admin: every right
ROLE_GROUPS = {
    "executive": {"finance", "sales", "customers", "service", "marketing"},
    "sales_director": {"sales", "customers"},
    "account_manager": {"sales", "customers"},
    "finance": {"finance"},
    "service": {"service"},
    "marketing": {"marketing"},
}

#: ids of the common filters that select a user, a department, an area or a service type
LOOKUP_KINDS = {
    "department": Department,
    "owner": User,
    "area": Area,
    "service_type": ServiceType,
    "campaign_type": CampaignType,
}


class Values(dict):
    """The parsed filter values of one request: ``values.date_from`` or ``values["owner"]``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


@dataclass(frozen=True)
class Field:
    """One filter field. ``kind``: date, department, owner, area (ids), percent (a whole
    number 0–100), choice (one of ``choices``, (value, label) pairs; without a default
    the form offers "All"). ``default`` is a value or ``callable(today)``."""

    name: str
    label: object
    kind: str
    default: object = None
    choices: tuple = ()

    def initial(self, today: date):
        return self.default(today) if callable(self.default) else self.default


def year_start(today: date) -> date:
    return today.replace(month=1, day=1)


def month_start(today: date) -> date:
    return today.replace(day=1)


DATE_FROM = Field("date_from", _l("From"), "date", year_start)
DATE_TO = Field("date_to", _l("To"), "date", lambda today: today)
DEPARTMENT = Field("department", _l("Department"), "department")
OWNER = Field("owner", _l("Owner"), "owner")
AREA = Field("area", _l("Area"), "area")
#: the filters SPEC §7 gives every report
COMMON = (DATE_FROM, DATE_TO, DEPARTMENT, OWNER, AREA)


def parse(fields, args: Mapping, today: date) -> tuple[Values, list[str]]:
    """Filter values from request arguments, and one message per value ignored because it
    is not valid (the field then takes its default)."""
    values, errors = Values(), []
    for f in fields:
        raw = (args.get(f.name) or "").strip()
        value = f.initial(today)
        if raw:
            parsed = _parse_one(f, raw)
            if parsed is None:
                errors.append(
                    str(
                        _l(
                            '%(field)s: "%(value)s" is not a date (YYYY-MM-DD) — ignored.',
                            field=f.label,
                            value=raw[:20],
                        )
                    )
                    if f.kind == "date"
                    else str(
                        _l('%(field)s: "%(value)s" is not a valid choice — ignored.', field=f.label, value=raw[:20])
                    )
                )
            else:
                value = parsed
        values[f.name] = value
    if values.get("date_from") and values.get("date_to") and values["date_from"] > values["date_to"]:
        errors.append(str(_l("From is after to: the two were swapped.")))
        values["date_from"], values["date_to"] = values["date_to"], values["date_from"]
    return values, errors


def _parse_one(f: Field, raw: str):
    if f.kind == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return None
    if f.kind in LOOKUP_KINDS:
        return int(raw) if raw.isdigit() and int(raw) < 2**63 else None
    if f.kind == "percent":
        return int(raw) if raw.isdigit() and int(raw) <= 100 else None
    if f.kind == "choice":
        return raw if raw in {value for value, _ in f.choices} else None
    raise ValueError(f"unknown filter kind {f.kind!r}")


def clean_args(fields, values: Values) -> dict:
    """The values as URL arguments (set values only; never a value the page ignored)."""
    args = {}
    for f in fields:
        value = values.get(f.name)
        if value is None or value == "":
            continue
        args[f.name] = value.isoformat() if isinstance(value, date) else value
    return args


def describe(session, fields, values: Values) -> list[tuple[object, str]]:
    """The filters used, as (label, value) lines for the page and every download
    (one query per department, owner or area given)."""
    lines: list[tuple[object, str]] = []
    for f in fields:
        value = values.get(f.name)
        if value is None or value == "":
            continue
        if f.kind in LOOKUP_KINDS:
            model = LOOKUP_KINDS[f.kind]
            name = session.execute(select(model.name).where(model.id == value)).scalar()
            text = name if name is not None else f"#{value} ?"
            label = _l("Department (with sub-departments)") if f.kind == "department" else f.label
        elif f.kind == "date":
            text, label = value.isoformat(), f.label
        elif f.kind == "percent":
            text, label = f"{value}%", f.label
        else:
            text, label = str(dict(f.choices).get(value, value)), f.label
        lines.append((label, text))
    return lines


@dataclass
class Result:
    """What ``run`` returns: the sections of the table(s), the chart and notes.
    ``chart`` is ``(categories, [Series], money)``: drawn by ECharts on the page, and its
    first series as static bars in the PDF. ``context`` goes to the page's template."""

    sections: list[Section]
    chart: tuple | None = None
    chart_title: object | None = None
    notes: list = field(default_factory=list)
    context: dict = field(default_factory=dict)
    generated_at: datetime = field(default_factory=utcnow)
    #: the rows of the whole report (a paged report: the pager's page count)
    row_count: int | None = None


@dataclass(frozen=True)
class Report:
    """A report declaration (see the module docstring). The hooks ``parse``, ``describe``,
    ``document``, ``clean`` and ``stem`` replace the generic ones (receivables keeps its own
    as-of filters)."""

    slug: str
    title: object
    right_text: tuple[str, str]  # the right's name in Chinese and English (rights tree)
    groups: tuple[str, ...]
    fields: tuple[Field, ...]
    run: Callable[..., object]
    template: str = "admin/reports/report.html"
    parse: Callable | None = None
    describe: Callable | None = None
    document: Callable | None = None
    clean: Callable | None = None
    stem: Callable | None = None
    #: the page shows the rows a page at a time (``report_page_rows`` setting, ``?page=N``):
    #: ``run`` then takes ``offset`` too and sets ``Result.row_count``; the totals and the
    #: downloads still cover every row
    paged: bool = False

    @property
    def right(self) -> str:
        return f"report.{self.slug}"

    @property
    def endpoint(self) -> str:
        return f"reports_{self.slug}"

    def parse_args(self, args, today):
        return self.parse(args, today) if self.parse else parse(self.fields, args, today)

    def describe_values(self, session, values):
        return self.describe(session, values) if self.describe else describe(session, self.fields, values)

    def url_args(self, values) -> dict:
        return self.clean(values) if self.clean else clean_args(self.fields, values)

    def file_stem(self, values) -> str:
        if self.stem:
            return self.stem(values)
        span = [values.get(name) for name in ("date_from", "date_to") if values.get(name)]
        return "-".join([self.slug, *(f"{d:%Y%m%d}" for d in span)])

    def make_document(self, result, lines, generated: str) -> Document:
        if self.document:
            return self.document(result, lines, generated)
        chart_bars, money = None, True
        if result.chart:
            categories, series, money = result.chart
            chart_bars = list(zip(categories, series[0].values, strict=True)) if series else None
        return Document(
            title=self.title,
            sheet_name=str(self.title)[:28],
            meta=[*lines, (_l("Generated at"), generated)],
            notes=result.notes,
            chart=chart_bars,
            chart_title=result.chart_title,
            chart_money=money,
            sections=result.sections,
        )


def area_clause(column, area_id: int):
    """``column`` (an area id) is the area or one of its cities."""
    from sqlalchemy import or_

    return or_(column == area_id, column.in_(select(Area.id).where(Area.parent_id == area_id)))


def common_clauses(values, user, model, person, area=None) -> list:
    """WHERE clauses of the common filters and the scope: ``person`` (the owner's column)
    for owner and department (with its sub-departments), ``area`` (an area id column) for
    area (a province with its cities), ``scope_clause(model, user)``."""
    from models.scope import scope_clause

    clauses = []
    if values.get("owner"):
        clauses.append(person == values.owner)
    if values.get("department"):
        from models.auth import department_subtree_ids

        users = select(User.id).where(User.department_id.in_(department_subtree_ids(values.department)))
        clauses.append(person.in_(users))
    if area is not None and values.get("area"):
        clauses.append(area_clause(area, values.area))
    scope = scope_clause(model, user)
    if scope is not None:
        clauses.append(scope)
    return clauses


def role_report_rights(role: str, reports) -> list[str]:
    """The report rights the seeded matrix gives ``role`` (by the reports' groups)."""
    groups = ROLE_GROUPS.get(role, set())
    return [r.right for r in reports if groups & set(r.groups)]


def ratio(part, whole) -> object:
    """``part / whole`` as a percentage with two decimals (Decimal), 0 when whole is 0."""
    from decimal import ROUND_HALF_UP, Decimal

    if not whole:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
