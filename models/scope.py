"""Data scope (SPEC §6): which rows a user may see — one mechanism for every table.

A model declares where its scope comes from:

* ``__scope_owner__ = ("owner_id",)`` — owner columns (the ``Owned`` mixin sets it;
  an opportunity may list ``("assigned_to_id", "created_by_id")``);
* ``__scope_department__ = "department_id"`` — besides the owner columns, rows that
  belong to a department (a department's sales target): in scope for users of that
  department (``own``) or of a department in the user's subtree (``department``);
* ``__scope_parent__ = "client"`` — a many-to-one relationship whose target carries
  the scope (a contact is in scope when its client is); chains follow recursively.
  Declared **together with** ``__scope_owner__``, either makes a row in scope: a service
  ticket is in scope through its assignee or creator OR through its client;
* ``__scope_also__ = (("ServiceTicket", "client_id", "client.edit"),)`` — (child model,
  its column naming this row, a right): rows are also in scope through the child rows in
  the user's scope by the child's own owner columns, for users WITHOUT that right — a
  service agent reads (never edits: no ``client.edit``) the clients of the tickets in
  their scope. The child's scope through its parent is not followed back (no cycle).

Models with neither are not scoped (reference data). Lists, counts, details, edits,
deletes, actions, exports, select boxes, ajax look-ups and reports all filter with
:func:`scope_clause`.
"""

from __future__ import annotations

from sqlalchemy import false, or_, select

from . import db
from .auth import User, department_subtree_ids


def is_scoped(model) -> bool:
    """True when the model's rows belong to someone (directly or through a parent)."""
    return bool(getattr(model, "__scope_owner__", None) or getattr(model, "__scope_parent__", None))


def _department_user_ids(user: User):
    departments = department_subtree_ids(user.department_id)
    return select(User.id).where(User.department_id.in_(departments)) if departments else None


def scope_clause(model, user, _via=None):
    """A WHERE clause limiting ``model`` to ``user``'s data scope, or None for all rows:
    the owner columns, OR the parent's scope, OR the ``__scope_also__`` children (``_via``:
    the child model whose parent this is, not followed back)."""
    if not is_scoped(model):
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return false()
    if user.data_scope == "all":
        return None
    clauses = []
    parent = getattr(model, "__scope_parent__", None)
    if parent:
        relation = getattr(model, parent)
        inner = scope_clause(relation.property.mapper.class_, user, _via=model)
        if inner is None:
            return None
        clauses.append(relation.has(inner))
    if getattr(model, "__scope_owner__", None):
        clauses.append(_owner_clause(model, user))
    for child_name, column, right in getattr(model, "__scope_also__", ()):
        child = next((m.class_ for m in db.Model.registry.mappers if m.class_.__name__ == child_name), None)
        if child is None or child is _via or user.can(right):
            continue
        clauses.append(model.id.in_(select(getattr(child, column)).where(_owner_clause(child, user))))
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


def _owner_clause(model, user):
    """Rows of ``model`` whose owner columns (or department) put them in ``user``'s scope."""
    scope = user.data_scope
    columns = [getattr(model, name) for name in model.__scope_owner__]
    department = getattr(model, "__scope_department__", None)
    extra = []
    if scope == "department":
        users = _department_user_ids(user)
        if users is None:  # no department: only what is mine
            return or_(*[col == user.id for col in columns])
        if department:
            extra = [getattr(model, department).in_(department_subtree_ids(user.department_id))]
        return or_(*[col.in_(users) for col in columns], *extra)
    if department and user.department_id is not None:
        extra = [getattr(model, department) == user.department_id]
    return or_(*[col == user.id for col in columns], *extra)


def scoped(query, model, user):
    """Apply :func:`scope_clause` to a SQLAlchemy query or select."""
    clause = scope_clause(model, user)
    return query if clause is None else query.filter(clause) if hasattr(query, "filter") else query.where(clause)


def in_scope(obj, user) -> bool:
    """Whether one loaded row is within the user's scope (one small query)."""
    model = type(obj)
    clause = scope_clause(model, user)
    if clause is None:
        return True
    return db.session.execute(select(model.id).where(model.id == obj.id, clause)).first() is not None


def users_in_scope_clause(user):
    """A WHERE clause on ``users``: the people ``user`` may put records on (an
    appointment's 预约人, an owner) or filter lists by — everybody for scope ``all``,
    the users of the department subtree (and ``user``) for ``department``, only
    ``user`` for ``own``. None means every user."""
    if user is None or not getattr(user, "is_authenticated", False):
        return false()
    if user.data_scope == "all":
        return None
    if user.data_scope == "department":
        users = _department_user_ids(user)
        if users is not None:
            return or_(User.id.in_(users), User.id == user.id)
    return User.id == user.id
