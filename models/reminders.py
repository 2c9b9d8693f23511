"""Appointment reminders (SPEC §4.3): a user's due reminders — remind_at ≤ now, status 待办,
appointment user = the user, client not deleted. Query functions ``(session, user, now)``,
used by the dashboard, the navigation bar's count, the reminder buttons and tests alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from .customers import Appointment, Client
from .lookups import AppointmentType

TODO, DONE = "待办", "已完成"
#: how many due reminders the dashboard lists (the navbar shows the full count)
LIST_LIMIT = 50


def due_clauses(user, now: datetime) -> tuple:
    """The WHERE clauses of "due for ``user`` at ``now``" (Appointment joined to Client)."""
    return (
        Appointment.user_id == user.id,
        Appointment.status == TODO,
        Appointment.remind_at <= now,
        Client.is_deleted.is_(False),
    )


def due_reminders(session, user, now: datetime, limit: int | None = LIST_LIMIT) -> list:
    """The user's due reminders, oldest first, in one query: rows with ``id``,
    ``client_id``, ``client_name``, ``type_name``, ``scheduled_at``, ``remind_at``,
    ``content`` (at most ``limit``; None or 0: all)."""
    query = (
        select(
            Appointment.id,
            Appointment.client_id,
            Client.name.label("client_name"),
            AppointmentType.name.label("type_name"),
            Appointment.scheduled_at,
            Appointment.remind_at,
            Appointment.content,
        )
        .join(Client, Client.id == Appointment.client_id)
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.type_id)
        .where(*due_clauses(user, now))
        .order_by(Appointment.remind_at, Appointment.id)
    )
    if limit:
        query = query.limit(limit)
    return session.execute(query).all()


def due_count(session, user, now: datetime) -> int:
    """How many reminders are due for the user (one COUNT query)."""
    return (
        session.execute(
            select(func.count())
            .select_from(Appointment)
            .join(Client, Client.id == Appointment.client_id)
            .where(*due_clauses(user, now))
        ).scalar()
        or 0
    )


def appointment_of(session, user, appointment_id: int) -> Appointment | None:
    """The appointment if it is ``user``'s and its client is live, else None."""
    return session.execute(
        select(Appointment)
        .join(Client, Client.id == Appointment.client_id)
        .where(Appointment.id == appointment_id, Appointment.user_id == user.id, Client.is_deleted.is_(False))
    ).scalar()
