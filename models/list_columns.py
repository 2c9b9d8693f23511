"""The columns each user chose for a list (views/crud/columns.py): one row per user and
list, saved with one upsert (a parallel save of the same list by the same user updates the
one row: the primary key is (user, list)). Read with the user of a list page's GET in the
same SELECT (:data:`models.sessions.REQUEST_EXTRAS`), so a list costs no extra statement."""

from __future__ import annotations

from datetime import datetime

from flask import has_request_context, request
from sqlalchemy import JSON, ForeignKey, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from . import db
from .auth import User
from .base import UTCDateTime, label, utcnow
from .sessions import REQUEST_EXTRAS, request_extra

#: the request endpoints (``<list>.<page>``) whose user SELECT reads the list's choice
LIST_PAGES = ("index_view", "export")


class UserListColumns(db.Model):
    """The columns (names the list declares, in its order) one user shows in one list."""

    __tablename__ = "user_list_columns"
    __audited__ = False  # a preference of the user's screen, not business data

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, info=label("User")
    )
    endpoint: Mapped[str] = mapped_column(String(60), primary_key=True, info=label("List"))
    columns: Mapped[list] = mapped_column(JSON, nullable=False, info=label("Fields"))
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, info=label("Updated at")
    )


def save_list_columns(session, user_id: int, endpoint: str, columns: list[str]) -> None:
    """Store ``columns`` as the user's choice for the list ``endpoint`` (insert or update
    the one row; the caller commits)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(UserListColumns).values(
        user_id=user_id, endpoint=endpoint, columns=list(columns), updated_at=utcnow()
    )
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "endpoint"],
        set_={"columns": statement.excluded.columns, "updated_at": statement.excluded.updated_at},
    )
    session.execute(statement)


def reset_list_columns(session, user_id: int, endpoint: str) -> None:
    """Forget the user's choice: the list shows its default columns again."""
    session.execute(
        delete(UserListColumns).where(UserListColumns.user_id == user_id, UserListColumns.endpoint == endpoint)
    )


_UNREAD = object()


def saved_list_columns(session, user_id: int, endpoint: str) -> list[str] | None:
    """The user's saved column names for ``endpoint`` (None: the defaults) — as read with
    the request's user when it is this list's page, else one query."""
    extra = request_extra("list_columns", _UNREAD)
    if extra is not _UNREAD and _list_endpoint() == endpoint:
        return extra if isinstance(extra, list) else None
    value = session.execute(
        select(UserListColumns.columns).where(UserListColumns.user_id == user_id, UserListColumns.endpoint == endpoint)
    ).scalar()
    return value if isinstance(value, list) else None


def _list_endpoint() -> str | None:
    if not has_request_context() or not request.endpoint or "." not in request.endpoint:
        return None
    endpoint, _, page = request.endpoint.rpartition(".")
    return endpoint if page in LIST_PAGES else None


def _columns_of_user():
    endpoint = _list_endpoint()
    if endpoint is None:
        return None
    return (
        select(UserListColumns.columns)
        .where(UserListColumns.user_id == User.id, UserListColumns.endpoint == endpoint)
        .scalar_subquery()
    )


REQUEST_EXTRAS["list_columns"] = _columns_of_user
