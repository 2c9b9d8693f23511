"""The list engine: capped counts, keyset (seek) pages and filter option lists kept in
process memory — so a list page costs the same at a million rows as at a thousand.

* **Counting** stops at the ``list_count_cap`` setting: ``SELECT count(*) FROM (SELECT 1 …
  LIMIT cap + 1)`` → "1–20 of 10,000+"; the exact count is one click away
  (``?exact_count=1``, a separate request), within the same scope, filters and search.
* **Pages** seek on (sort column, id) in the order's direction, NULLs ordered as the
  smallest values on both databases: ``?after=<cursor>`` (next), ``?before=<cursor>``
  (previous), ``?last=1`` (the end: read in reverse, shown in the normal order). A cursor
  is the boundary row's sort value and id, signed with the app's secret key: a tampered
  or foreign one shows the first page with a message. ``?page=N`` still works (OFFSET).
* **Filter options** of small tables (lookups, users, departments, roles) are kept per
  process and per user, keyed by the version :mod:`models.cache` writes with every change.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import current_app, flash, g, has_request_context, request
from flask_babel import format_decimal, get_locale, gettext
from flask_login import current_user
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, bindparam, func, literal_column, or_, select, tuple_
from sqlalchemy.orm import joinedload

from models import db, settings
from models.cache import current_version, is_cached
from models.sessions import request_extra

#: the arguments of the pager (kept out of Flask-Admin's extra arguments, so sort, page
#: size and filter links start again from the first page)
PAGER_ARGS = ("after", "before", "last", "exact_count")

_UNREAD = object()
_OPTIONS: dict = {}
#: at most this many option lists are kept (then they are read again)
OPTIONS_KEPT = 5000


# ------------------------------------------------------------------ filter options
def cache_version():
    """The version of the cached tables, as read with the request's user (else a query)."""
    version = request_extra("cache_version", _UNREAD)
    if version is _UNREAD:
        if has_request_context() and "crm_cache_version" in g:
            return g.crm_cache_version
        version = current_version(db.session)
        if has_request_context():
            g.crm_cache_version = version
    return version


def cached_options(target, load):
    """``load()`` — the filter options of rows of ``target`` the current user may pick —
    kept per process, user and language until a cached table changes."""
    user_id = current_user.id if current_user.is_authenticated else None
    key = (str(db.engine.url), target.__name__, load.__code__, user_id, str(get_locale()))
    version = cache_version()
    hit = _OPTIONS.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    options = load()
    if len(_OPTIONS) > OPTIONS_KEPT:
        _OPTIONS.clear()
    _OPTIONS[key] = (version, options)
    return options


def kept_rows(target, load):
    """``load()`` — rows of ``target`` an in-list editor offers — kept like filter options
    when ``target`` is a small table, and joined to this request's session (no SQL)."""
    if not is_cached(target):
        return load()
    rows = cached_options(target, load)
    return [db.session.merge(row, load=False) for row in rows]


#: tables that grow to a million rows: a filter on one takes the id, no drop-down (its
#: first 500 rows would be no choice, and reading them cost a statement on every page)
BIG_TABLES = frozenset({"clients"})


def filter_options_kind(target) -> str:
    """How a filter offers rows of ``target``: ``"kept"`` (a drop-down kept per process:
    small tables), ``"none"`` (the id is typed: big tables) or ``"read"`` (a drop-down
    read on each page)."""
    if is_cached(target):
        return "kept"
    return "none" if target.__tablename__ in BIG_TABLES else "read"


# ------------------------------------------------------------------ cursors
def _encode(value):
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["dec", str(value)]
    return value


def _decode(value):
    if isinstance(value, list):
        kind, text = value
        return {"dt": datetime.fromisoformat, "d": date.fromisoformat, "dec": Decimal}[kind](text)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(value)
    return value


def _serializer():
    return URLSafeSerializer(current_app.secret_key, salt="crm-list-cursor")


class _Seek:
    """The order of a list page: the sort column (through its joins) and id."""

    def __init__(self, view, signature, field, joins, desc):
        self.view, self.signature, self.field, self.joins, self.desc = view, signature, field, joins or [], desc
        self.id_column = view.model.id
        self.is_id = not self.joins and getattr(field, "key", None) == "id" and field.class_ is view.model
        column = getattr(field, "expression", field)
        self.nullable = bool(self.joins) or getattr(column, "nullable", True)
        self.column = None

    def apply_joins(self, query, joins):
        query, joins, alias = self.view._apply_path_joins(query, joins, self.joins, inner_join=False)
        self.column = self.field if alias is None else getattr(alias, self.field.key)
        return query

    def order(self, query, desc):
        """ORDER BY the column and id as the database orders them natively (NULLs smallest on
        SQLite, largest on PostgreSQL), so a plain (column, id) index serves both directions."""
        terms = [] if self.is_id else [self.column.desc() if desc else self.column.asc()]
        terms.append(self.id_column.desc() if desc else self.id_column.asc())
        return query.order_by(*terms)

    def after(self, value, pk, desc):
        """Rows strictly after (value, pk) in the order (desc or not)."""
        pk = bindparam(None, pk, type_=self.id_column.type)
        if self.is_id:
            return self.id_column < pk if desc else self.id_column > pk
        column, ident = self.column, self.id_column
        nulls_small = db.session.get_bind().dialect.name == "sqlite"
        nulls_come_first = nulls_small != desc  # in the order of this page
        if value is None:
            later_nulls = and_(column.is_(None), ident < pk if desc else ident > pk)
            return or_(column.is_not(None), later_nulls) if nulls_come_first else later_nulls
        row = tuple_(column, ident)
        bound = tuple_(bindparam(None, value, type_=column.type), pk)
        later = row < bound if desc else row > bound
        if nulls_come_first or not self.nullable:
            return later
        return or_(later, column.is_(None))

    def value_of(self, row):
        obj = row
        for join in self.joins:
            obj = getattr(obj, join.key, None) if obj is not None else None
        return getattr(obj, self.field.key, None) if obj is not None else None

    def cursor(self, row, position):
        data = {"s": self.signature, "v": _encode(self.value_of(row)), "i": row.id, "p": position}
        return _serializer().dumps(data)

    def read(self, token):
        """(value, id, position) of a cursor of this order, or None when it is not one."""
        try:
            data = _serializer().loads(token)
            if data.get("s") != self.signature or not isinstance(data.get("i"), int):
                return None
            position = data.get("p")
            return _decode(data.get("v")), data["i"], position if isinstance(position, int) else None
        except (BadData, ValueError, TypeError, KeyError, AttributeError):
            return None


class PagingMixin:
    """List pages: a capped count, keyset pages, the pager (templates/admin/crm/list.html)."""

    def _get_list_extra_args(self):
        # read once a request (filters flash their refusals once); the pager's arguments
        # are not carried into the sort, page-size and filter links
        # kept on the request, not on g: g outlives a request inside an outer app context
        if has_request_context() and getattr(request, "crm_list_args", None) is not None:
            return request.crm_list_args
        args = super()._get_list_extra_args()
        for name in PAGER_ARGS:
            args.extra_args.pop(name, None)
        if has_request_context():
            request.crm_list_args = args
        return args

    def _list_request(self) -> bool:
        return has_request_context() and (request.endpoint or "").endswith(".index_view")

    def _seek_order(self, sort_column, sort_desc):
        """The keyset order of the page, or None (an order it cannot seek on: OFFSET)."""
        if sort_column is not None:
            field = self._sortable_columns.get(sort_column)
            joins, desc, signature = (
                self._sortable_joins.get(sort_column),
                bool(sort_desc),
                [sort_column, bool(sort_desc)],
            )
        else:
            default = self.column_default_sort
            name, desc = (default, False) if isinstance(default, str) else (default or (None, None))[:2]
            if not isinstance(name, str) or not isinstance(desc, bool):
                return None
            field = self._sortable_columns.get(name, getattr(self.model, name, None))
            joins, signature = self._sortable_joins.get(name), ["", desc]
        if isinstance(field, list) and len(field) == 1:  # ("area", ("area_id",)): one own column
            field = field[0]
            joins = joins[0] if joins and isinstance(joins[0], list | tuple) else joins
        if field is None or isinstance(field, list) or not hasattr(field, "key") or not hasattr(field, "class_"):
            return None
        return _Seek(self, signature, field, joins, desc)

    def _capped_count(self, count_query):
        """(count, exact): the rows up to the cap (cap + 1 tells "more"), or all of them on
        ``?exact_count=1``."""
        if count_query is None:
            return None, False
        if request.args.get("exact_count") == "1":
            return count_query.scalar(), True
        cap = settings.list_count_cap()
        rows = count_query.with_entities(literal_column("1")).limit(cap + 1).subquery()
        count = db.session.execute(select(func.count()).select_from(rows)).scalar()
        return count, count <= cap

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        if not execute or not self._list_request():
            return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)
        joins, count_joins = {}, {}
        query, count_query = self.get_query(), self.get_count_query()
        if self._search_supported and search:
            query, count_query, joins, count_joins = self._apply_search(query, count_query, joins, count_joins, search)
        if filters and self._filters:
            query, count_query, joins, count_joins = self._apply_filters(
                query, count_query, joins, count_joins, filters
            )
        count, exact = self._capped_count(count_query)
        for join in self._auto_joins:
            query = query.options(joinedload(join))
        page_size = self.page_size if page_size is None else page_size
        # a searched page is ranked (exact and prefix matches first): pages by OFFSET over
        # the index's few candidates, not by a seek on the sort column
        seek = self._seek_order(sort_column, sort_desc) if page_size and not search else None
        if seek is None:
            query, joins = self._apply_sorting(query, joins, sort_column, sort_desc)
            rows = self._apply_pagination(query, page, page_size).all()
            request.crm_pager = self._offset_pager(page or 0, page_size, len(rows), count, exact)
        else:
            rows = self._seek_rows(seek, seek.apply_joins(query, joins), page or 0, page_size, count, exact)
        return (count if exact else None), rows

    def _seek_rows(self, seek, query, page, page_size, count, exact):
        direction, token = "first", None
        if request.args.get("after"):
            direction, token = "after", request.args["after"]
        elif request.args.get("before"):
            direction, token = "before", request.args["before"]
        elif request.args.get("last") == "1":
            direction = "last"
        boundary = seek.read(token) if token else None
        if token and boundary is None:
            flash(
                gettext("The page link was not valid (the list changed its order?): showing the first page."), "error"
            )
            direction, page = "first", 0
        backwards = direction in ("before", "last")
        desc = seek.desc != backwards
        if boundary is not None:
            query = query.filter(seek.after(boundary[0], boundary[1], desc))
        query = seek.order(query, desc).limit(page_size + 1)
        if direction == "first" and page:
            query = query.offset(page * page_size)  # the old ?page=N addresses
        rows = query.all()
        more = len(rows) > page_size
        rows = rows[:page_size]
        if backwards:
            rows.reverse()
        position = boundary[2] if boundary is not None else None
        if direction == "first":
            start, has_prev, has_next = page * page_size, page > 0, more
        elif direction == "after":
            start, has_prev, has_next = position, True, more
        elif direction == "before":
            start = None if position is None else (max(position - len(rows), 0) if more else 0)
            has_prev, has_next = more, True
        else:
            start = count - len(rows) if exact and count is not None else None
            has_prev, has_next = more, False
        pager = {"first": None, "prev": None, "next": None, "last": None}
        if has_prev or direction != "first":
            pager["first"] = self._pager_url()
        if rows and has_prev:
            pager["prev"] = self._pager_url(before=seek.cursor(rows[0], start))
        if rows and has_next:
            pager["next"] = self._pager_url(after=seek.cursor(rows[-1], None if start is None else start + len(rows)))
            pager["last"] = self._pager_url(last="1")
        request.crm_pager = self._pager(pager, start, len(rows), count, exact, page_size)
        return rows

    def _offset_pager(self, page, page_size, shown, count, exact):
        pager = {"first": None, "prev": None, "next": None, "last": None}
        if page > 0:
            pager["first"], pager["prev"] = self._pager_url(), self._pager_url(page=page - 1)
        if page_size and (count is None or (page + 1) * page_size < count):
            pager["next"] = self._pager_url(page=page + 1)
            if exact and count:
                pager["last"] = self._pager_url(page=(count - 1) // page_size)
        return self._pager(pager, page * page_size, shown, count, exact, page_size)

    def _pager_url(self, page=None, **extra):
        args = self._get_list_extra_args()
        return self._get_list_url(args.clone(page=page, extra_args={**args.extra_args, **extra}))

    def _pager(self, links, start, shown, count, exact, page_size):
        """What the pager shows: its links, "1–20 of 10,000+", the exact-count link."""
        cap = settings.list_count_cap()
        total = format_decimal(count if exact else cap) if count is not None else "?"
        more = "" if exact else "+"
        if not shown:
            label = gettext("No rows")
        elif start is None:
            label = gettext("%(shown)s rows of %(total)s%(more)s", shown=shown, total=total, more=more)
        else:
            first, last = format_decimal(start + 1), format_decimal(start + shown)
            label = gettext("%(first)s–%(last)s of %(total)s%(more)s", first=first, last=last, total=total, more=more)
        exact_url = None
        if not exact and count is not None:
            args = self._get_list_extra_args()
            extra = {k: v for k, v in request.args.items() if k in PAGER_ARGS}
            exact_url = self._get_list_url(args.clone(extra_args={**args.extra_args, **extra, "exact_count": "1"}))
        return {**links, "label": label, "exact_url": exact_url, "page_size": page_size}

    def list_pager(self):
        """The pager of the list page being rendered (built by get_list)."""
        return getattr(request, "crm_pager", None) if has_request_context() else None
