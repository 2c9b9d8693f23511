"""Data scope: what a user's queries, look-ups and select boxes see."""

from __future__ import annotations

from flask import abort, flash, g, has_request_context, request
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_
from sqlalchemy.orm import joinedload, selectinload, undefer

from models import db
from models.auth import User
from models.lookups import is_lookup
from models.scope import scope_clause, users_in_scope_clause

from ..helpers import db_int


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """Ajax look-ups (select boxes over big tables) see only rows in the user's scope,
    never soft-deleted rows, and only active lookup values; on an edit form, the current
    record of a field the view declares in ``keep_current`` stays valid."""

    def get_query(self):
        return offerable(super().get_query(), self.model)

    def get_one(self, pk):
        pk = db_int(pk)
        if pk is None:
            return None
        row = self.get_query().filter(getattr(self.model, self.pk) == pk).first()
        if row is None and pk in kept(self.name):
            return db.session.get(self.model, pk)
        return row


def kept(path: str) -> set:
    """The ids the edited record already uses at ``path`` (a field, or ``"lines.product"``
    through a collection), when the view declares it in ``keep_current``: they stay valid."""
    return g.get("crm_keep_current", {}).get(path, set()) if has_request_context() else set()


def current_ids(record, path: str) -> set:
    """The ids ``record`` refers to at ``path``: ``"client"`` → {client_id};
    ``"lines.product"`` → the product ids of its lines."""
    head, _, rest = path.partition(".")
    if not rest:
        return {getattr(record, f"{head}_id", None)} - {None}
    return {getattr(child, f"{rest}_id", None) for child in getattr(record, head)} - {None}


def choice_clause(model):
    """The rows of ``model`` the current user may pick in a form or a filter: those in
    the data scope; for users, the people in the user's scope (SPEC §6)."""
    if model is User:
        return users_in_scope_clause(current_user)
    return scope_clause(model, current_user)


def offerable(query, model, keep_id=None):
    """Rows a form may offer: in scope, not deleted, active (keeping the current value)."""
    clause = choice_clause(model)
    keep = (model.id == keep_id) if keep_id is not None else None
    if clause is not None:  # the person a record is already on stays offered
        query = query.filter(or_(clause, keep) if model is User and keep is not None else clause)
    if getattr(model, "__soft_delete__", False):
        query = query.filter(or_(model.live(), keep) if keep is not None else model.live())
    if is_lookup(model):
        query = query.filter(or_(model.is_active.is_(True), keep) if keep is not None else model.is_active.is_(True))
    if hasattr(model, "sort_order"):
        query = query.order_by(model.sort_order, model.id)
    return query


def acceptable(field, pk, model):
    """The record with id ``pk`` if the form ``field`` would accept it, else None: through the
    field's own ajax loader or choices (scoped, live, active — and whatever else the field
    restricts, e.g. approved contracts only); a plain field: a ``model`` row the user may pick."""
    if pk is None:
        return None
    loader = getattr(field, "loader", None)
    if loader is not None:
        return loader.get_one(pk)
    factory = getattr(field, "query_factory", None)
    if factory is not None:
        query = factory()
        return query.filter(query.column_descriptions[0]["entity"].id == pk).first()
    return offerable(db.session.query(model), model).filter(model.id == pk).first()


def eager_option(model, path: str):
    """The loader option of a declared path: ``"lines.product"`` → selectinload of a
    first relationship that is a collection, joinedload of a many-to-one (in the page's
    own statement: a list page stays within 4 statements), then joinedload (many-to-one)
    or selectinload (collections) along the rest; a deferred column (``"total"``) → undefer."""
    head, _, rest = path.partition(".")
    attr = getattr(model, head)
    prop = attr.property
    if not hasattr(prop, "mapper"):
        return undefer(attr)
    option = selectinload(attr) if prop.uselist else joinedload(attr)
    target = prop.mapper.class_
    for name in rest.split(".") if rest else ():
        attr = getattr(target, name)
        option = option.selectinload(attr) if attr.property.uselist else option.joinedload(attr)
        target = attr.property.mapper.class_
    return option


class ScopeMixin:
    """Queries: data scope, recycle bin, eager loading;
    forms that start from a record named in the address, within the user's scope."""

    #: relationship paths (``"client"``, ``"lines.product"``), deferred columns or callables
    #: returning loader options, loaded with every query of the view
    list_eager: tuple = ()
    #: … and on a record's details and edit pages as well
    detail_eager: tuple = ()
    #: form field → query argument naming the record a create form starts with
    #: (``{"client": "client_id"}``: ``…/new/?client_id=7``), if the user may pick it
    prefill: dict[str, str] = {}
    #: prefilled field → the fields the chosen record fills as well: ``"field"`` (the
    #: record's attribute of that name) or ``"field=attribute"`` (``"name=title"``);
    #: a record it names is filled in only if the field would accept it
    prefill_from: dict[str, tuple[str, ...]] = {}
    #: field → the ScopedAjaxLoader subclass of its look-up (``{"contract": InvoiceContractLoader}``)
    ajax_loaders: dict[str, type] = {}
    #: fields (``"client"``) or fields of inline rows (``"lines.product"``) whose current records
    #: stay valid on an edit form although the user could not pick them now (an opportunity
    #: assigned to me about a colleague's client; a product deactivated since the quote);
    #: ajax fields read it here, query fields through :func:`kept`
    keep_current: tuple[str, ...] = ()

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET":
            for name, argument in self.prefill.items():
                if name in form and form[name].data is None and request.args.get(argument):
                    self._prefill(form, name, request.args[argument])
        return form

    def _prefill(self, form, name: str, raw: str) -> None:
        """Fill ``name`` with the record ``raw`` names and the fields it fills (``prefill_from``);
        a record the field would not accept (out of scope, deleted, not offered) fills nothing."""
        record = acceptable(form[name], db_int(raw), getattr(self.model, name).property.mapper.class_)
        if record is None:
            message = gettext(
                "%(field)s #%(id)s is not in your data scope or cannot be chosen here: nothing was filled in.",
                field=form[name].label.text,
                id=raw,
            )
            flash(message, "warning")
            return
        form[name].data = record
        for item in self.prefill_from.get(name, ()):
            field, _, attribute = item.partition("=")
            value = getattr(record, attribute or field, None)
            if field not in form or value is None or form[field].data not in (None, ""):
                continue
            if hasattr(type(value), "__mapper__"):  # a record: only one the field accepts
                value = acceptable(form[field], value.id, type(value))
            if value is not None:
                form[field].data = value

    def edit_form(self, obj=None):
        g.crm_keep_current = {path: current_ids(obj, path) for path in self.keep_current} if obj is not None else {}
        return super().edit_form(obj)

    def _filtered(self, query, *, include_deleted=False):
        clause = scope_clause(self.model, current_user)
        if clause is not None:
            query = query.filter(clause)
        if self.is_soft and not include_deleted:
            query = query.filter(self.model.live(self.in_recycle_bin()))
        return query

    def on_record_page(self) -> bool:
        """Whether the request shows one record (its details or edit page)."""
        endpoint = (request.endpoint or "") if has_request_context() else ""
        return endpoint.endswith((".details_view", ".edit_view"))

    def eager_options(self):
        """selectinload for dotted and one-to-many list columns (no N+1), then what the view
        declares in ``list_eager`` (every query) and ``detail_eager`` (a record's page)."""
        declared = tuple(self.list_eager) + (tuple(self.detail_eager) if self.on_record_page() else ())
        heads = {item.split(".")[0] for item in declared if isinstance(item, str)}
        options = []
        mapper = sa_inspect(self.model)
        for column in self.column_list or ():
            name = column if isinstance(column, str) else getattr(column, "key", "")
            head = name.split(".")[0]
            rel = mapper.relationships.get(head)
            if rel is not None and (rel.uselist or "." in name) and head not in heads:
                options.append(selectinload(getattr(self.model, head)))
        for item in declared:
            options.extend(item() if callable(item) else [eager_option(self.model, item)])
        return options

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

    def _create_ajax_loader(self, name, options):
        loader = self.ajax_loaders.get(name, ScopedAjaxLoader)
        return loader(name, self.session, self.model_for_ajax(name), **options)

    def model_for_ajax(self, name):
        return getattr(self.model, name).property.mapper.class_
