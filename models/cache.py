"""The version of the small tables that pages keep in process memory (filter option lists:
lookups, users, departments, roles).

Every worker keeps its copies keyed by one version stored in the database — the row
``cache_version`` of ``system_config`` — and the session hook below writes a new version
in the same transaction as any change to one of those tables (through the ORM: forms,
imports, the CLI). A worker reads the version with the request's user (one SELECT, see
:data:`models.sessions.REQUEST_EXTRAS`), so a lookup edited in one worker shows at once
in every other, and nothing is re-queried while nothing changed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session

from .auth import Department, Role, SystemConfig, User
from .lookups import is_lookup
from .sessions import REQUEST_EXTRAS

VERSION_NAME = "cache_version"


def is_cached(model) -> bool:
    """Whether rows of ``model`` may be kept in process memory (small tables whose every
    change writes a new version)."""
    return is_lookup(model) or model in (User, Department, Role)


def version_clause():
    """The stored version as a scalar sub-query (NULL before the first change)."""
    return select(SystemConfig.value).where(SystemConfig.name == VERSION_NAME).scalar_subquery()


def current_version(session) -> str | None:
    """The stored version (one query; pages read it with their user instead)."""
    with session.no_autoflush:
        return session.execute(select(version_clause())).scalar()


#: columns whose change leaves every kept copy right (a login writes them)
UNSHOWN = frozenset({"last_login_at", "failed_logins", "locked_until", "password_hash", "version", "updated_at"})


def _shown_change(obj) -> bool:
    state = inspect(obj)
    return any(attr.key not in UNSHOWN and attr.history.has_changes() for attr in state.attrs)


@event.listens_for(Session, "after_flush")
def _new_version(session, flush_context):
    """A change to a cached table writes a new version in the same transaction (history is
    still there in after_flush)."""
    changed = (*session.new, *session.deleted, *(obj for obj in session.dirty if _shown_change(obj)))
    if not any(is_cached(type(obj)) for obj in changed):
        return
    connection = session.connection()
    token = uuid.uuid4().hex
    table = SystemConfig.__table__
    done = connection.execute(update(table).where(table.c.name == VERSION_NAME).values(value=token))
    if not done.rowcount:
        connection.execute(insert(table).values(name=VERSION_NAME, value=token, description="缓存版本 / Cache version"))


REQUEST_EXTRAS["cache_version"] = version_clause
