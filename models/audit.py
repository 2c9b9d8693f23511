"""The audit log and the one place that writes it: SQLAlchemy session hooks.

Every create, update, delete and restore on an audited table (``__audited__ = True``,
the default) is written in the same transaction as the change, so views, CLI commands,
imports and tests are all covered. Workflow steps name their action and comment with
:func:`audit_note` before the flush.
"""

from __future__ import annotations

import contextvars
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, event, insert, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from . import db
from .base import UTCDateTime, label, utcnow

#: columns whose values never go into the log
MASKED = {"password_hash", "feedback_token_hash"}
#: bookkeeping columns that are not worth a line in the history
SKIPPED = {"updated_at", "version"}

_cli_actor: contextvars.ContextVar[tuple[int | None, str | None]] = contextvars.ContextVar(
    "crm_actor", default=(None, None)
)


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True, info=label("Time"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("User")
    )
    ip: Mapped[str | None] = mapped_column(String(45), info=label("IP"))
    table_name: Mapped[str] = mapped_column(String(60), info=label("Table"))
    record_id: Mapped[int | None] = mapped_column(Integer, info=label("Record id"))
    action: Mapped[str] = mapped_column(String(20), index=True, info=label("Action"))
    changes: Mapped[dict | None] = mapped_column(JSON, info=label("Changes"))
    comment: Mapped[str | None] = mapped_column(Text, info=label("Comment"))

    user = relationship("User", info=label("User"))

    __table_args__ = (db.Index("ix_audit_log_table_record", "table_name", "record_id"),)


def set_cli_actor(user_id: int | None, ip: str | None = "cli") -> None:
    """Name the actor for changes made outside a request (CLI, scripts)."""
    _cli_actor.set((user_id, ip))


def current_actor() -> tuple[int | None, str | None]:
    """(user id, IP) of whoever is changing data now."""
    from flask import has_request_context, request
    from flask_login import current_user

    if has_request_context():
        user_id = current_user.id if getattr(current_user, "is_authenticated", False) else None
        return user_id, request.remote_addr
    return _cli_actor.get()


def audit_note(session: Session, action: str | None = None, comment: str | None = None) -> None:
    """Name the action (approve, merge …) and comment of every log entry written until
    the transaction ends (commit or rollback clears it)."""
    session.info["audit_note"] = (action, comment)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _clear_note(session: Session) -> None:
    session.info.pop("audit_note", None)


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)


def _changes(obj, mode: str) -> dict:
    state = inspect(obj)
    changes: dict[str, list] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in SKIPPED or getattr(attr.columns[0], "info", {}).get("kept"):  # models/base.kept_total
            continue
        hist = state.attrs[key].history
        if mode == "create":
            new = getattr(obj, key)
            if new is not None:
                changes[key] = [None, _plain(new)]
        elif mode == "delete":
            old = hist.unchanged[0] if hist.unchanged else (hist.deleted[0] if hist.deleted else None)
            if old is not None:
                changes[key] = [_plain(old), None]
        elif hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old != new:
                changes[key] = [_plain(old), _plain(new)]
    for rel in state.mapper.relationships:
        if rel.secondary is None or mode == "delete":
            continue
        hist = state.attrs[rel.key].history
        if hist.added or hist.deleted:
            changes[rel.key] = [[str(v) for v in hist.deleted], [str(v) for v in hist.added]]
    for key in MASKED & changes.keys():
        changes[key] = ["***" if changes[key][0] else None, "***" if changes[key][1] else None]
    return changes


@event.listens_for(Session, "after_flush")
def _write_audit(session: Session, flush_context) -> None:
    note_action, comment = session.info.get("audit_note", (None, None))
    rows = []

    def add(obj, action, changes):
        user_id, ip = current_actor()
        rows.append(
            {
                "at": utcnow(),
                "user_id": user_id,
                "ip": ip,
                "table_name": obj.__tablename__,
                "record_id": getattr(obj, "id", None),
                "action": note_action or action,
                "changes": changes,
                "comment": comment,
            }
        )

    for obj in session.new:
        if getattr(obj, "__audited__", False):
            add(obj, "create", _changes(obj, "create"))
    for obj in session.dirty:
        if getattr(obj, "__audited__", False) and session.is_modified(obj):
            changes = _changes(obj, "update")
            if not changes:
                continue
            action = "update"
            if "is_deleted" in changes:
                action = "delete" if changes["is_deleted"][1] else "restore"
            add(obj, action, changes)
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            add(obj, "purge" if getattr(obj, "__soft_delete__", False) else "delete", _changes(obj, "delete"))
    if rows:
        session.connection().execute(insert(AuditLog), rows)


def audit_unchanged(session: Session, obj) -> None:
    """A log entry of the pending note (:func:`audit_note`) for ``obj`` although none of its
    columns changed: a workflow step that only records a note."""
    note_action, comment = session.info.get("audit_note", (None, None))
    user_id, ip = current_actor()
    session.connection().execute(
        insert(AuditLog),
        [
            {
                "at": utcnow(),
                "user_id": user_id,
                "ip": ip,
                "table_name": obj.__tablename__,
                "record_id": obj.id,
                "action": note_action or "update",
                "changes": {},
                "comment": comment,
            }
        ],
    )


def history(table_name: str, record_id: int, limit: int = 200) -> list[AuditLog]:
    """The audit entries of one record, newest first (details pages)."""
    return (
        db.session.execute(
            db.select(AuditLog)
            .where(AuditLog.table_name == table_name, AuditLog.record_id == record_id)
            .options(db.joinedload(AuditLog.user))
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )


def last_change(table_name: str, record_id: int) -> AuditLog | None:
    """The newest audit entry of a record (who changed it last, and when)."""
    entries = history(table_name, record_id, limit=1)
    return entries[0] if entries else None
