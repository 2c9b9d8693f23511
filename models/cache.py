"""The version of the small tables that pages keep in process memory (filter option lists:
lookups, users, departments, roles).

Every worker keeps its copies keyed by one version stored in the database — a counter row
of ``number_sequence`` (document ``cache_version``), an existing bookkeeping table — and
the session hook below increments it in the same transaction as any change to one of
those tables (through the ORM: forms, imports, the CLI). A worker reads the version with
the request's user (one SELECT, see :data:`models.sessions.REQUEST_EXTRAS`), so a lookup
edited in one worker shows at once in every other, and nothing is re-queried while
nothing changed.
"""

from __future__ import annotations

from sqlalchemy import event, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .auth import Department, Role, User
from .lookups import is_lookup
from .numbering import NumberSequence
from .sessions import REQUEST_EXTRAS

#: the key of the version's counter row in number_sequence
VERSION_KEY = {"document": "cache_version", "stem": ""}


def is_cached(model) -> bool:
    """Whether rows of ``model`` may be kept in process memory (small tables whose every
    change writes a new version)."""
    return is_lookup(model) or model in (User, Department, Role)


def version_clause():
    """The stored version as a scalar sub-query (NULL before the first change)."""
    key = [getattr(NumberSequence, name) == value for name, value in VERSION_KEY.items()]
    return select(NumberSequence.last_value).where(*key).scalar_subquery()


def current_version(session) -> int | None:
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
    """A change to a cached table increments the version in the same transaction (one
    upsert; history is still there in after_flush)."""
    changed = (*session.new, *session.deleted, *(obj for obj in session.dirty if _shown_change(obj)))
    if not any(is_cached(type(obj)) for obj in changed):
        return
    connection = session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(NumberSequence).values(**VERSION_KEY, last_value=1)
    statement = statement.on_conflict_do_update(
        index_elements=["document", "stem"], set_={"last_value": NumberSequence.last_value + 1}
    )
    connection.execute(statement)


REQUEST_EXTRAS["cache_version"] = version_clause
