"""CrmModelView: the one base view. Everything shared by every table lives here —
rights, data scope, CSRF, soft delete and recycle bin, optimistic locking, export,
labels, formatting, eager loading, history — so module views only declare.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext as admin_lazy
from flask_admin.contrib.sqla import ModelView, tools
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import BaseForm, rules
from flask_admin.model import filters as model_filters
from flask_admin.model import typefmt
from flask_admin.model.form import converts
from flask_babel import format_date, format_datetime, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import _FlaskFormCSRF
from markupsafe import Markup, escape
from sqlalchemy import Integer, or_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from wtforms import fields, validators
from wtforms.validators import ValidationError

from models import db
from models.audit import history, last_change
from models.auth import User
from models.base import FieldError, checker_message, format_money, to_money
from models.lookups import is_lookup
from models.scope import scope_clause, users_in_scope_clause
from reports.render import spreadsheet_safe

from .form_fields import CrmDateField, CrmDateTimeField, choice_field, choice_filters
from .helpers import INT64_MAX, attachment, db_int, parse_ids

# ---------------------------------------------------------------------------- forms


class CrmBaseForm(BaseForm):
    """Admin forms carry the same Flask-WTF CSRF token that CSRFProtect checks on
    every POST of the site (one kind of token, no clash on editable lists)."""

    class Meta(BaseForm.Meta):
        csrf_class = _FlaskFormCSRF
        csrf_field_name = "csrf_token"

        @property
        def csrf(self):
            return current_app.config.get("WTF_CSRF_ENABLED", True)

        @property
        def csrf_secret(self):
            return current_app.config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)

        @property
        def csrf_time_limit(self):
            return current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)


class MoneyField(fields.DecimalField):
    """An amount in yuan with at most two decimals (exact, never a float)."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("places", 2)
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = to_money(valuelist[0])
            except (ValueError, TypeError):
                self.data = None
                raise ValueError(gettext("Enter an amount with at most 2 decimals, e.g. 1234.50")) from None
        else:
            self.data = None


def to_utc(naive: datetime) -> datetime:
    """A wall-clock time typed in the display time zone → aware UTC."""
    from flask_babel import get_timezone

    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    tz = get_timezone()
    local = tz.localize(naive) if hasattr(tz, "localize") else naive.replace(tzinfo=tz)  # pytz or zoneinfo
    return local.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    """Aware UTC → naive wall-clock time in the display time zone (for form inputs)."""
    from flask_babel import get_timezone

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(get_timezone()).replace(tzinfo=None)


def _check_validator(check):
    def validate(form, field):
        if field.data in (None, ""):
            return
        try:
            field.data = check(field.data)
        except ValueError as exc:
            raise ValidationError(checker_message(exc)) from None

    return validate


class CrmModelConverter(AdminModelConverter):
    """Labels, choices, checks and Money fields come from the column's ``info``."""

    def _get_label(self, name, field_args):
        if "label" in field_args:
            return field_args["label"]
        attr = getattr(self.view.model, name, None)
        info = _attr_info(attr)
        if "label" in info:
            return info["label"]
        return super()._get_label(name, field_args)

    def convert(self, model, mapper, name, prop, field_args, hidden_pk):
        field_args = dict(field_args or {})
        info = _attr_info(getattr(model, getattr(prop, "key", name), None))
        if "label" in info:
            field_args.setdefault("label", info["label"])
        if info.get("check"):
            field_args["validators"] = list(field_args.get("validators", [])) + [_check_validator(info["check"])]
        if "minimum" in info or "maximum" in info:
            field_args["validators"] = list(field_args.get("validators", [])) + [
                validators.NumberRange(min=info.get("minimum"), max=info.get("maximum"))
            ]
        if info.get("choices") and hasattr(prop, "columns"):
            return choice_field(prop.columns[0], info["choices"], field_args)
        return super().convert(model, mapper, name, prop, field_args, hidden_pk)

    @converts("Money")
    def convert_money(self, column, field_args, **extra):
        field_args["validators"].append(validators.NumberRange(min=Decimal("0")))
        return MoneyField(**field_args)

    @converts("Percent")
    def convert_percent(self, column, field_args, **extra):
        field_args["validators"].append(validators.NumberRange(min=Decimal("0"), max=Decimal("100")))
        return MoneyField(**field_args)

    @converts("UTCDateTime")
    def convert_utc_datetime(self, column, field_args, **extra):
        return CrmDateTimeField(**field_args)

    @converts("Date")
    def convert_date(self, column, field_args, **extra):
        return CrmDateField(**field_args)


def mask_value(model, name: str, value):
    """Columns with ``info['mask']`` show masked unless the viewer holds the column's
    ``sensitive_right`` — in lists, details, history, audit log and exports alike."""
    if not value or model is None or "." in name:
        return value
    info = _attr_info(getattr(model, name, None))
    if info.get("mask") and not (current_user.is_authenticated and current_user.can(info.get("sensitive_right", ""))):
        return info["mask"](value)
    return value


#: audit actions → what the History section calls them (workflow steps use their own labels)
ACTION_LABELS = {
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Deleted"),
    "restore": _l("Restored"),
    "purge": _l("Deleted permanently"),
    "merge": _l("Merged"),
    "reassign": _l("Owner reassigned"),
    "import": _l("Imported"),
    "convert": _l("Created from a quote"),
}
#: bookkeeping columns the History section leaves out
HISTORY_HIDDEN = {"id", "name_key", "is_deleted", "deleted_at", "deleted_by_id", "password_hash"}


def model_for_table(table_name: str):
    """The mapped class of a table name (the audit log stores table names)."""
    for mapper in db.Model.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == table_name:
            return mapper.class_
    return None


def _attr_info(attr) -> dict:
    """The ``info`` of a mapped attribute: a column's, or a relationship's own or its
    foreign key column's (so ``owner`` is labelled like ``owner_id``)."""
    prop = getattr(attr, "property", None)
    if prop is None:
        return {}
    if getattr(prop, "info", None) and "label" in prop.info:
        return prop.info
    if hasattr(prop, "columns"):
        return prop.columns[0].info if hasattr(prop.columns[0], "info") else {}
    if hasattr(prop, "local_columns"):
        for column in prop.local_columns:
            if column.info.get("label") and not column.primary_key:
                return {"label": column.info["label"]}
    return {}


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """Ajax look-ups (select boxes over big tables) see only rows in the user's scope,
    never soft-deleted rows, and only active lookup values."""

    def get_query(self):
        return _offerable(super().get_query(), self.model)

    def get_one(self, pk):
        pk = db_int(pk)
        if pk is None:
            return None
        return self.get_query().filter(getattr(self.model, self.pk) == pk).first()


def choice_clause(model):
    """The rows of ``model`` the current user may pick in a form or a filter: those in
    the data scope; for users, the people in the user's scope (SPEC §6)."""
    if model is User:
        return users_in_scope_clause(current_user)
    return scope_clause(model, current_user)


def _offerable(query, model, keep_id=None):
    """Rows a form may offer: in scope, not deleted, active (keeping the current value)."""
    clause = choice_clause(model)
    keep = (model.id == keep_id) if keep_id is not None else None
    if clause is not None:  # the person a record is already on stays offered
        query = query.filter(or_(clause, keep) if model is User and keep is not None else clause)
    if getattr(model, "__soft_delete__", False):
        query = query.filter(
            or_(model.is_deleted.is_(False), keep) if keep is not None else model.is_deleted.is_(False)
        )
    if is_lookup(model):
        query = query.filter(or_(model.is_active.is_(True), keep) if keep is not None else model.is_active.is_(True))
    if hasattr(model, "sort_order"):
        query = query.order_by(model.sort_order, model.id)
    return query


class OptionalField(rules.Field):
    """A field rule that renders nothing when the form lacks the field (e.g. the owner
    field removed for own-scope users)."""

    def __call__(self, form, form_opts=None, field_args=None):
        if getattr(form, self.field_name, None) is None:
            return Markup("")
        return super().__call__(form, form_opts, field_args or {})


class KeepHidden(rules.BaseRule):
    """Marks hidden fields as part of a rule set (Flask-Admin drops fields missing from
    the rules); they are rendered with the form's hidden tags."""

    def __init__(self, *names):
        super().__init__()
        self.names = list(names)

    @property
    def visible_fields(self):
        return self.names

    def __call__(self, form, form_opts=None, field_args=None):
        return Markup("")


class Section(rules.NestedRule):
    """A titled group of form fields laid out in ``columns`` columns."""

    def __init__(self, header, fields, columns: int = 2):
        super().__init__([OptionalField(f) if isinstance(f, str) else f for f in fields])
        self.header = header
        self.columns = columns

    def __call__(self, form, form_opts=None, field_args=None):
        inner = super().__call__(form, form_opts, field_args or {})
        return (
            Markup('<fieldset class="crm-section"><legend>{}</legend><div class="crm-grid-{}">').format(
                self.header, self.columns
            )
            + Markup(inner)
            + Markup("</div></fieldset>")
        )


# --------------------------------------------------------------------------- filters


class _MoneyValue:
    def validate(self, value):
        try:
            amount = to_money(value)
        except (ValueError, TypeError, ArithmeticError):  # ArithmeticError: 1e30 cannot be quantized
            return False
        return amount is not None and abs(amount) * 100 <= INT64_MAX  # fits the fen column

    def clean(self, value):
        return to_money(value)


class MoneyEqualFilter(_MoneyValue, sqla_filters.FilterEqual):
    pass


class MoneyGreaterFilter(_MoneyValue, sqla_filters.FilterGreater):
    pass


class MoneySmallerFilter(_MoneyValue, sqla_filters.FilterSmaller):
    pass


class LazyOptions:
    """Filter choices read when the list page renders (Flask-Admin caches a filter's
    options at start-up, outside any request, user or data scope)."""

    def __init__(self, load):
        self.load = load

    def __bool__(self):
        return True

    def __iter__(self):
        return iter(self.load())


class _LocalTime:
    """Filter values are typed in the display time zone; the column holds UTC."""

    def clean(self, value):
        cleaned = super().clean(value)
        return [to_utc(v) for v in cleaned] if isinstance(cleaned, list) else to_utc(cleaned)


LOCAL_DATETIME_FILTERS = [
    type(f"Local{cls.__name__}", (_LocalTime, cls), {})
    for cls in (
        sqla_filters.DateTimeEqualFilter,
        sqla_filters.DateTimeNotEqualFilter,
        sqla_filters.DateTimeGreaterFilter,
        sqla_filters.DateTimeSmallerFilter,
        sqla_filters.DateTimeBetweenFilter,
        sqla_filters.DateTimeNotBetweenFilter,
    )
] + [sqla_filters.FilterEmpty]


class CrmFilterConverter(sqla_filters.FilterConverter):
    """Filters for our column types: UTC datetimes in local time, Money in yuan."""

    @model_filters.convert("utcdatetime")
    def conv_utc_datetime(self, column, name, **kwargs):
        return [f(column, name, **kwargs) for f in LOCAL_DATETIME_FILTERS]

    @model_filters.convert("money")
    def conv_money(self, column, name, **kwargs):
        return [f(column, name, **kwargs) for f in (MoneyEqualFilter, MoneyGreaterFilter, MoneySmallerFilter)]


# ---------------------------------------------------------------------- the base view


def login_url() -> str:
    """/login?next=<this path, percent-encoded> for anonymous requests."""
    return url_for("auth.login") + "?" + urlencode({"next": request.full_path.rstrip("?")})


#: Flask-Admin view method → the operation right it needs
VIEW_OPERATIONS = {
    "index_view": "view",
    "details_view": "view",
    "ajax_lookup": "view",
    "create_view": "create",
    "edit_view": "edit",
    "ajax_update": "edit",
    "delete_view": "delete",
    "export": "export",
    "action_view": None,
}


def _refuse_unknown_choices(form) -> bool:
    """Mark select fields (query or ajax) whose submitted value matched no offered row;
    True when there was one. Walks inline forms (field lists of sub-forms)."""
    from flask_admin.contrib.sqla.fields import QuerySelectField
    from flask_admin.model.fields import AjaxSelectField

    refused = False
    for field in form:
        if isinstance(field, fields.FieldList):
            refused = any([_refuse_unknown_choices(entry) for entry in field]) or refused
        elif isinstance(field, fields.FormField):
            refused = _refuse_unknown_choices(field.form) or refused
        elif isinstance(field, (QuerySelectField, AjaxSelectField)):
            raw = (field.raw_data or [""])[0]
            if raw not in (None, "", "__None") and field.data is None:
                field.errors = [*field.errors, gettext("Not a valid choice")]
                refused = True
    return refused


def _fits_database(flt, value) -> bool:
    """Whether a filter's cleaned value (an int, or a list of ints — or digits, for a
    filter on an integer column that converts them itself) fits a 64-bit column."""
    try:
        cleaned = flt.clean(value)
    except (ValueError, TypeError, ArithmeticError):
        return False
    integer_column = isinstance(getattr(getattr(flt, "column", None), "type", None), Integer)
    for item in cleaned if isinstance(cleaned, list | tuple) else [cleaned]:
        if isinstance(item, bool):
            continue
        if (
            isinstance(item, int) or (integer_column and isinstance(item, str) and item.strip().lstrip("+-").isdigit())
        ) and db_int(item) is None:
            return False
    return True


class CrmModelView(ModelView):
    form_base_class = CrmBaseForm
    model_form_converter = CrmModelConverter
    filter_converter = CrmFilterConverter()
    list_template = "admin/crm/list.html"
    details_template = "admin/crm/details.html"

    can_view_details = True
    can_set_page_size = True
    page_size = 20
    page_size_options = (20, 50, 100)
    export_types = ["csv", "xlsx"]
    export_max_rows = 100_000
    named_filter_urls = True
    column_default_sort = ("id", True)
    column_display_actions = True
    action_disallowed_list: list[str] = []
    form_excluded_columns = ("created_at", "updated_at", "is_deleted", "deleted_at", "deleted_by", "version")
    column_exclude_list = ("is_deleted", "deleted_at", "deleted_by", "version")
    column_details_exclude_list = ("version",)
    #: custom action name → the operation right it needs (default: its own name)
    action_rights: dict[str, str] = {}
    #: user fields that default to the current user (left empty: me)
    me_fields: tuple[str, ...] = ("owner",)
    #: fields the domain fills in when left empty (document numbers, tax …): optional in forms
    filled_fields: tuple[str, ...] = ()
    #: extra exposed pages of a view → the operation right they need
    view_operations: dict[str, str] = {}
    #: the right endpoint, when several views share one (defaults to the endpoint)
    right_endpoint: str | None = None
    #: editable-in-list columns for users with the edit right
    editable_columns: tuple[str, ...] = ()

    def __init__(self, model, session=None, **kwargs):
        self._column_labels_auto = None
        hidden = ["csrf_token"] + (["loaded_version"] if hasattr(model, "version") else [])
        for attr in ("form_rules", "form_create_rules", "form_edit_rules"):
            if getattr(self, attr, None):  # hidden fields survive form rules (optimistic locking, CSRF)
                setattr(self, attr, list(getattr(self, attr)) + [KeepHidden(*hidden)])
        super().__init__(model, session or db, **kwargs)

    # -- labels -----------------------------------------------------------------
    @property
    def column_labels(self):
        if self._column_labels_auto is None:
            labels = {}
            for attr in sa_inspect(self.model).all_orm_descriptors:
                key = getattr(attr, "key", None) or getattr(attr, "__name__", None)
                if key is None:
                    continue
                info = _attr_info(getattr(self.model, key, None))
                if "label" in info:
                    labels[key] = info["label"]
            labels.update(getattr(self, "extra_labels", {}) or {})
            self._column_labels_auto = labels
        return self._column_labels_auto

    @column_labels.setter
    def column_labels(self, value):
        if value:
            self.extra_labels = value

    # -- rights -----------------------------------------------------------------
    @property
    def right_prefix(self) -> str:
        return self.right_endpoint or self.endpoint

    def allowed(self, operation: str) -> bool:
        """Whether the current user holds ``<endpoint>.<operation>``."""
        if not current_user.is_authenticated:
            return False
        return current_user.can(f"{self.right_prefix}.{operation}")

    def is_accessible(self):
        return self.allowed("view")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(login_url())
        abort(403)

    def _handle_view(self, name, **kwargs):
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        operation = self.view_operations.get(name) or VIEW_OPERATIONS.get(name, "view")
        if operation and not self.allowed(operation):
            abort(403)
        return None

    @property
    def can_create(self):
        return self._flag("create")

    @property
    def can_edit(self):
        return self._flag("edit")

    @property
    def can_delete(self):
        return self._flag("delete") and not self.in_recycle_bin()

    @property
    def can_export(self):
        return self._flag("export")

    def _flag(self, operation):
        if operation in getattr(self, "disabled_operations", ()):
            return False
        from flask import has_request_context

        return self.allowed(operation) if has_request_context() else True

    @property
    def column_editable_list(self):
        from flask import has_request_context

        if has_request_context() and not (self.allowed("edit") and not self.in_recycle_bin()):
            return []
        return list(self.editable_columns)

    @column_editable_list.setter
    def column_editable_list(self, value):
        if value:
            self.editable_columns = tuple(value)

    def is_action_allowed(self, name):
        operation = {"delete": "delete", "restore": "delete", "purge": "delete"}.get(name)
        operation = self.action_rights.get(name, operation or name)
        if operation in getattr(self, "disabled_operations", ()) or not self.allowed(operation):
            return False
        if name in ("restore", "purge") and not self.is_soft:
            return False
        if name == "purge" and not current_user.is_admin:
            return False
        if request.method != "GET":
            return True  # the handlers pick the rows they apply to (deleted or not)
        # the list offers restore/purge in the recycle bin, everything else outside it
        return (name in ("restore", "purge")) == self.in_recycle_bin()

    def handle_action(self, return_view=None):
        """A list action the user may not run is refused with 403 (SPEC §2.3), an
        unknown one with 400 — Flask-Admin would redirect and silently do nothing."""
        name = request.form.get("action", "")
        if name not in self._actions_data:
            abort(400)
        if not self.is_action_allowed(name):
            abort(403)
        return super().handle_action(return_view)

    @expose("/ajax/update/", methods=("POST",))
    def ajax_update(self):
        """In-list edits: only of the columns the list offers for editing (anything else
        is refused, not reported "saved"), and a refusal answers 400 with its message."""
        submitted = [name for name in request.form if name not in ("list_form_pk", "csrf_token")]
        editable = set(self.column_editable_list)
        if not editable:
            abort(403 if self.editable_columns else 404)
        refused = [name for name in submitted if name not in editable]
        if refused or not submitted:
            return gettext(
                "%(columns)s cannot be changed in the list; open the record to edit it.",
                columns=", ".join(str(self.column_labels.get(n, n)) for n in refused) or "—",
            ), 400
        response = super().ajax_update()
        if isinstance(response, tuple) and response[1] == 500:  # a refusal, not a server error
            return response[0], 400
        return response

    # -- query: scope, recycle bin, eager loading --------------------------------
    @property
    def is_soft(self) -> bool:
        return bool(getattr(self.model, "__soft_delete__", False))

    def in_recycle_bin(self) -> bool:
        from flask import has_request_context

        return self.is_soft and has_request_context() and request.args.get("bin") == "1"

    def _filtered(self, query, *, include_deleted=False):
        clause = scope_clause(self.model, current_user)
        if clause is not None:
            query = query.filter(clause)
        if self.is_soft and not include_deleted:
            query = query.filter(self.model.is_deleted.is_(self.in_recycle_bin()))
        return query

    def _search_clause(self, name: str, pattern: str):
        """``name`` LIKE pattern; ``rel.column`` through EXISTS (one-to-many searches must
        not multiply rows: no join, so counts and pages stay right)."""
        if "." not in name:
            return getattr(self.model, name).ilike(pattern)
        rel_name, column = name.split(".", 1)
        relation = getattr(self.model, rel_name)
        target = relation.property.mapper.class_
        inner = getattr(target, column).ilike(pattern)
        return relation.any(inner) if relation.property.uselist else relation.has(inner)

    def _apply_search(self, query, count_query, joins, count_joins, search):
        for term in search.split():
            clause = or_(
                *[self._search_clause(name, tools.parse_like_term(term)) for name in self.column_searchable_list]
            )
            query = query.filter(clause)
            if count_query is not None:
                count_query = count_query.filter(clause)
        return query, count_query, joins, count_joins

    def eager_options(self):
        """selectinload for dotted and one-to-many list columns (no N+1)."""
        options = []
        mapper = sa_inspect(self.model)
        for column in self.column_list or ():
            name = column if isinstance(column, str) else getattr(column, "key", "")
            head = name.split(".")[0]
            rel = mapper.relationships.get(head)
            if rel is not None and (rel.uselist or "." in name):
                options.append(selectinload(getattr(self.model, head)))
        return options

    def scaffold_filters(self, name):
        """A filter named after a many-to-one relationship ("department") is one
        drop-down of the related rows (in scope), labelled like the column — instead of
        Flask-Admin's filters over every column of the related table."""
        rel = sa_inspect(self.model).relationships.get(name) if isinstance(name, str) else None
        choices = _attr_info(getattr(self.model, name, None)).get("choices") if isinstance(name, str) else None
        if rel is None and choices and hasattr(getattr(self.model, name), "property"):
            return choice_filters(
                getattr(self.model, name), self.column_labels.get(name) or self.get_column_name(name), choices
            )
        if rel is None or rel.uselist or len(rel.local_columns) != 1:
            return super().scaffold_filters(name)
        column = next(iter(rel.local_columns))
        target = rel.mapper.class_
        label = self.column_labels.get(name) or self.get_column_name(name)

        def options():
            query = db.session.query(target)
            clause = choice_clause(target)
            if clause is not None:
                query = query.filter(clause)
            order = [target.sort_order] if hasattr(target, "sort_order") else []
            return [(str(row.id), str(row)) for row in query.order_by(*order, target.id).limit(500)]

        lazy = LazyOptions(options)
        return [
            sqla_filters.IntEqualFilter(column, label, options=lazy),
            sqla_filters.IntNotEqualFilter(column, label, options=lazy),
            sqla_filters.FilterEmpty(column, label),
        ]

    def _get_list_filter_args(self):
        """Flask-Admin's parsing of ``flt…=`` arguments, with one more check: a value the
        filter turns into a number beyond what its column holds (an id past 64 bits)
        is an invalid filter value — flashed and ignored like any other, never sent to
        the database to fail there."""
        if not self._filters:
            return None
        found = []
        for arg, value in request.args.items():
            if not arg.startswith("flt") or "_" not in arg:
                continue
            position, key = arg[3:].split("_", 1)
            if key not in self._filter_args:
                continue
            index, flt = self._filter_args[key]
            if flt.validate(value) and _fits_database(flt, value):
                found.append((position, (index, str(flt.name), value)))
            else:
                flash(self.get_invalid_value_msg(value, flt), "error")
        return [item for _, item in sorted(found, key=lambda pair: pair[0])]

    def get_query(self):
        query = self._filtered(super().get_query())
        options = self.eager_options()
        return query.options(*options) if options else query

    def get_count_query(self):
        return self._filtered(super().get_count_query())

    def get_one(self, id):
        pk = db_int(id)
        if pk is None:
            abort(404)
        query = self._filtered(db.session.query(self.model), include_deleted=True)
        obj = query.options(*self.eager_options()).filter(self.model.id == pk).first()
        if obj is None:
            abort(404)
        if (
            self.is_soft
            and obj.is_deleted
            and request.endpoint
            and (request.endpoint.endswith(".edit_view") or request.endpoint.endswith(".ajax_update"))
        ):
            abort(404)
        return obj

    # -- forms: scoped select boxes, hidden owner, version --------------------------
    def _create_ajax_loader(self, name, options):
        return ScopedAjaxLoader(name, self.session, self.model_for_ajax(name), **options)

    def model_for_ajax(self, name):
        return getattr(self.model, name).property.mapper.class_

    def _prepare_form(self, form, obj=None):
        for field in form:
            factory = getattr(field, "query_factory", None)
            if factory is None:
                continue
            try:
                target = factory().column_descriptions[0]["entity"]
            except Exception:
                continue
            current = getattr(obj, field.name, None) if obj is not None else None
            keep_id = getattr(current, "id", None)
            field.query_factory = lambda f=factory, m=target, k=keep_id: _offerable(f(), m, k)
        if current_user.is_authenticated and current_user.data_scope == "own" and not self.allowed("reassign"):
            # the user a record is scoped to is me: own-scope users may not give records away
            for column in getattr(self.model, "__scope_owner__", ()):
                if column.removesuffix("_id") in form:
                    del form[column.removesuffix("_id")]
        for name in self.me_fields + self.filled_fields:
            if name not in form:
                continue
            field = form[name]  # left empty: me (on_model_change) or filled in by the domain
            field.validators = [validators.Optional()] + [
                v for v in field.validators if not isinstance(v, validators.InputRequired | validators.DataRequired)
            ]
            field.flags.required = False
            if hasattr(field, "allow_blank"):
                field.allow_blank = True
        for field in form:
            if getattr(field, "allow_blank", False):
                field.blank_text = "—"
        return form

    def list_form(self, obj=None):
        """In-list editors: one query per select for the whole page, not one per row."""
        form = super().list_form(obj)
        cache = g.setdefault("crm_list_choices", {})
        for field in form:
            factory = getattr(field, "query_factory", None)
            if factory is None:
                continue
            key = (self.endpoint, field.name)
            if key not in cache:
                query = factory()
                cache[key] = _offerable(query, query.column_descriptions[0]["entity"]).all()
            field.query_factory = lambda rows=cache[key]: rows
        return form

    def create_form(self, obj=None):
        form = self._prepare_form(super().create_form(obj))
        for name in self.me_fields:
            if request.method == "GET" and name in form and form[name].data is None:
                form[name].data = current_user._get_current_object()  # new records are mine
        return form

    def validate_form(self, form):
        """Besides the field validators: a select value that is not offered (unknown, or
        outside the user's scope) is refused on its field — Flask-Admin's select fields
        would save it as empty — in inline forms too."""
        valid = super().validate_form(form)
        if request.method == "POST":
            valid = not _refuse_unknown_choices(form) and valid
        return valid

    def scaffold_form(self):
        form_class = super().scaffold_form()
        if hasattr(self.model, "version"):
            # optimistic locking: the version the user loaded travels with the edit form
            form_class.loaded_version = fields.HiddenField()
        return form_class

    def edit_form(self, obj=None):
        form = self._prepare_form(super().edit_form(obj), obj)
        if "loaded_version" in form and obj is not None and request.method == "GET":
            form.loaded_version.data = obj.version
        return form

    def on_model_change(self, form, model, is_created):
        for name in self.me_fields:  # left empty (on create or edit): me
            if hasattr(model, name) and getattr(model, name) is None and getattr(model, f"{name}_id", None) is None:
                setattr(model, name, current_user._get_current_object())

    def _check_version(self, model):
        if not hasattr(model, "version"):
            return
        loaded = request.form.get("loaded_version")
        if not loaded:
            if request.endpoint and request.endpoint.endswith(".edit_view"):
                # without the version the user loaded, a newer one would be overwritten
                raise ValidationError(
                    gettext(
                        "The form did not say which version of %(record)s you loaded, so a newer "
                        "version could be overwritten. Reload the record and enter your changes "
                        "again. Nothing was saved.",
                        record=model,
                    )
                )
            return  # in-list edits change one column of the current version
        if str(model.version) != str(loaded):
            raise StaleDataError(str(loaded))

    def conflict_message(self, model) -> str:
        entry = last_change(model.__tablename__, model.id)
        who = entry.user.name if entry and entry.user else gettext("another user")
        when = format_datetime(entry.at, "yyyy-MM-dd HH:mm:ss") if entry else "?"
        return gettext(
            "This record was changed by %(who)s at %(when)s — reload it and "
            "enter your changes again. Nothing was saved.",
            who=who,
            when=when,
        )

    def update_model(self, form, model):
        try:
            self._check_version(model)
            form.populate_obj(model)
            self._on_model_change(form, model, False)
            db.session.commit()
        except Exception as ex:
            db.session.rollback()
            if not self.handle_view_exception(ex, model):
                raise
            return False
        self.after_model_change(form, model, False)
        return True

    def create_model(self, form):
        try:
            model = self.build_new_instance()
            form.populate_obj(model)
            db.session.add(model)
            self._on_model_change(form, model, True)
            db.session.commit()
        except Exception as ex:
            db.session.rollback()
            if not self.handle_view_exception(ex):
                raise
            return False
        self.after_model_change(form, model, True)
        return model

    def handle_view_exception(self, exc, model=None):
        if isinstance(exc, FieldError):
            flash(gettext("%(field)s: %(message)s", field=exc.field, message=exc.message), "error")
            return True
        if isinstance(exc, ValidationError | ValueError) and not isinstance(exc, StaleDataError):
            flash(str(exc), "error")
            return True
        if isinstance(exc, StaleDataError):
            if model is not None:
                db.session.rollback()
                flash(self.conflict_message(db.session.get(self.model, model.id) or model), "error")
            else:
                flash(gettext("The record was changed by someone else — reload it."), "error")
            return True
        if isinstance(exc, IntegrityError):
            flash(self.integrity_message(exc), "error")
            return True
        return super().handle_view_exception(exc)

    def integrity_message(self, exc) -> str:
        """What a refused write means for the user, naming the field — never the
        database's own text (SQL, constraint and table names)."""
        text = str(getattr(exc, "orig", exc))
        lowered = text.lower()
        if "foreign key" in lowered:
            return gettext(
                "The record is still in use by other records, so it cannot be "
                "deleted or changed that way. Deactivate it instead."
            )
        field = self._constraint_field(text, getattr(getattr(exc, "orig", None), "diag", None))
        if "unique" in lowered or "duplicate" in lowered:
            if field:
                return gettext(
                    "%(field)s: a record with this value already exists. Enter a "
                    "different value (or open that record instead).",
                    field=field,
                )
            return gettext(
                "Another record already has one of these values. Check the fields "
                "that must be unique and enter different values."
            )
        if ("not null" in lowered or "null value" in lowered) and field:
            return gettext("%(field)s: please enter a value.", field=field)
        return gettext(
            "The database refused the change. Check the values you entered and save again; nothing was saved."
        )

    def _constraint_field(self, text: str, diag=None) -> str | None:
        """The label(s) of the column(s) a constraint error names (SQLite: ``… failed:
        orders.number`` or ``… failed: t.user_id, t.month``; PostgreSQL: ``Key (number)=(…)``,
        ``Key (user_id, month)=(…)`` or ``column "number"``, the table from the error's
        diagnostics), joined with ", "."""
        import re

        match = re.search(r"constraint failed: ((?:\w+\.\w+)(?:, \w+\.\w+)*)", text)
        if match:
            pairs = [item.split(".") for item in match.group(1).split(", ")]
            model, columns = model_for_table(pairs[0][0]), [column for _, column in pairs]
        else:
            match = re.search(r'Key \(([\w, ]+)\)=|column "(\w+)"', text)
            if not match:
                return None
            table = getattr(diag, "table_name", None)
            model = model_for_table(table) if table else self.model
            columns = (match.group(1) or match.group(2)).split(", ")
        model = model or self.model
        labels = [self._column_label(model, column) for column in columns]
        return ", ".join(labels) if all(labels) else None

    def _column_label(self, model, column: str) -> str | None:
        if model is self.model and column in self.column_labels:
            return str(self.column_labels[column])
        label = _attr_info(getattr(model, column, None)).get("label")
        return str(label) if label else None

    # -- delete, restore, purge ---------------------------------------------------
    def delete_refusal(self, model) -> str | None:
        """A reason why the record may not be deleted, or None (modules extend this)."""
        return None

    def delete_model(self, model):
        reason = self.delete_refusal(model)
        if reason:
            flash(reason, "error")
            return False
        try:
            self.on_model_delete(model)
            if self.is_soft:
                model.soft_delete(current_user.id)
            else:
                db.session.delete(model)
            db.session.commit()
        except Exception as ex:
            db.session.rollback()
            if not self.handle_view_exception(ex):
                raise
            return False
        self.after_model_delete(model)
        return True

    def _scoped_rows(self, ids, *, deleted=None):
        query = self._filtered(db.session.query(self.model), include_deleted=True)
        query = query.filter(self.model.id.in_(parse_ids(ids)))
        if deleted is not None:
            query = query.filter(self.model.is_deleted.is_(deleted))
        return query.all()

    @action("delete", admin_lazy("Delete"), admin_lazy("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        done = refused = 0
        for row in self._scoped_rows(ids, deleted=False if self.is_soft else None):
            if self.delete_model(row):
                done += 1
            else:
                refused += 1
        self.flash_bulk_result(done, refused)

    @action("restore", _l("Restore"), _l("Restore the selected records from the recycle bin?"))
    def action_restore(self, ids):
        done = refused = 0
        for row in self._scoped_rows(ids, deleted=True):
            try:
                row.restore()
                db.session.commit()
                done += 1
            except (ValueError, IntegrityError) as exc:  # a rule refuses the row back
                db.session.rollback()
                self.handle_view_exception(exc)
                refused += 1
        self.flash_bulk_result(done, refused)

    @action("purge", _l("Delete permanently"), _l("Delete the selected records permanently? This cannot be undone."))
    def action_purge(self, ids):
        done = refused = 0
        for row in self._scoped_rows(ids, deleted=True):
            try:
                db.session.delete(row)
                db.session.commit()
                done += 1
            except IntegrityError as exc:
                db.session.rollback()
                flash(f"{row}: {self.integrity_message(exc)}", "error")
                refused += 1
        self.flash_bulk_result(done, refused)

    def flash_bulk_result(self, done: int, refused: int) -> None:
        """One line for a bulk action: N done, M refused (the reasons were flashed)."""
        if refused:
            flash(gettext("%(done)s done, %(refused)s refused.", done=done, refused=refused), "warning")
        else:
            flash(gettext("%(done)s done.", done=done), "success")

    # -- display -----------------------------------------------------------------
    def masked(self, name: str, value):
        return mask_value(self.model, name, value)

    def _export_csv(self, return_url):
        """CSV built inside the request (Flask-Admin streams it after the request ended,
        when the session is gone and unloaded relationships can no longer load). UTF-8
        with a BOM so Excel opens Chinese text correctly."""
        count, data = self._export_data()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([str(label) for _, label in self._export_columns])
        for row in data:
            writer.writerow([self.get_export_value(row, name) for name, _ in self._export_columns])
        return Response(
            "\ufeff" + buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": self.export_disposition("csv")},
        )

    def _export_tablib(self, export_type, return_url):
        response = super()._export_tablib(export_type, return_url)
        if "Content-Disposition" in response.headers:
            response.headers["Content-Disposition"] = self.export_disposition(export_type)
        return response

    def export_disposition(self, export_type: str) -> str:
        """The export's file name: the list's name (Chinese in a Chinese UI), with the
        endpoint as its ASCII fallback (``client_2026-12-01_09-30-00.csv``)."""
        name = self.get_export_name(export_type)
        return attachment(name, f"{self.endpoint}{name[len(str(self.name)) :]}")

    def get_export_value(self, model, name):
        """Every cell of the list's CSV and XLSX exports: masked, and never a formula."""
        return spreadsheet_safe(self.masked(name, super().get_export_value(model, name)))

    def _get_list_value(self, context, model, name, column_formatters, column_type_formatters):
        value = super()._get_list_value(context, model, name, column_formatters, column_type_formatters)
        if name in column_formatters:
            return value
        value = self.masked(name, value)
        info = _attr_info(getattr(self.model, name, None)) if "." not in name else {}
        if info.get("choices") and value is not None:
            return dict(info["choices"]).get(value, value)
        return value

    column_type_formatters = {
        **typefmt.BASE_FORMATTERS,
        Decimal: lambda view, value, name: format_money(value),
        datetime: lambda view, value, name: format_datetime(value, "yyyy-MM-dd HH:mm"),
        date: lambda view, value, name: format_date(value, "yyyy-MM-dd"),
        bool: lambda view, value, name: (
            Markup('<span class="fa fa-check text-success"></span>')
            if value
            else Markup('<span class="fa fa-minus text-muted"></span>')
        ),
    }
    column_type_formatters_detail = column_type_formatters
    column_type_formatters_export = {
        **typefmt.EXPORT_FORMATTERS,
        Decimal: lambda view, value, name: value,
        datetime: lambda view, value, name: format_datetime(value, "yyyy-MM-dd HH:mm:ss"),
        date: lambda view, value, name: value.isoformat(),
        bool: lambda view, value, name: "1" if value else "0",
    }

    def history_rows(self, entries):
        """The History section: (entry, action label, [(field label, old, new)]) with
        foreign keys shown by name (one query per related table), times in local time,
        choices by label, sensitive values masked, bookkeeping columns left out."""
        model = self.model
        mapper = sa_inspect(model)
        targets = {}
        for rel in mapper.relationships:
            if not rel.uselist and len(rel.local_columns) == 1:
                targets[next(iter(rel.local_columns)).key] = rel.mapper.class_
        wanted: dict[str, set] = {}
        for entry in entries:
            for field, values in (entry.changes or {}).items():
                if field in targets and isinstance(values, list):
                    wanted.setdefault(field, set()).update(v for v in values[:2] if isinstance(v, int))
        names = {
            field: dict(
                (row.id, str(row))
                for row in db.session.execute(db.select(targets[field]).where(targets[field].id.in_(ids))).scalars()
            )
            for field, ids in wanted.items()
        }
        workflow = getattr(model, "__workflow__", None)

        def show(field, value):
            if value is None or value == "":
                return "∅"
            if field in names:
                return names[field].get(value, f"#{value}")
            info = _attr_info(getattr(model, field, None))
            if info.get("choices"):
                return str(dict(info["choices"]).get(value, value))
            if isinstance(value, bool):
                return gettext("Yes") if value else gettext("No")
            if isinstance(value, str) and len(value) > 18 and value[4:5] == "-" and "T" in value:
                try:
                    return format_datetime(datetime.fromisoformat(value), "yyyy-MM-dd HH:mm:ss")
                except ValueError:
                    pass
            if field == "status" and workflow is not None:
                return workflow.state_label(value)
            return str(self.masked(field, value))

        rows = []
        for entry in entries:
            step = workflow.transitions.get(entry.action) if workflow is not None else None
            action = step.label if step else ACTION_LABELS.get(entry.action, entry.action)
            changes = [
                (str(self.column_labels.get(field, field)), show(field, values[0]), show(field, values[1]))
                for field, values in (entry.changes or {}).items()
                if field not in HISTORY_HIDDEN and isinstance(values, list) and len(values) == 2
            ]
            rows.append((entry, action, changes))
        return rows

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template and getattr(self.model, "__audited__", False):
            kwargs["history"] = self.history_rows(history(self.model.__tablename__, model.id))
        return super().render(template, **kwargs)


def esc(value) -> Markup:
    """Escape user data for formatters that build HTML."""
    return escape(value)
