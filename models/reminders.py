"""Appointment reminders (SPEC §4.3): a user's due reminders — remind_at ≤ now, status 待办,
appointment user = the user, client not deleted. Query functions ``(session, user, now)``,
used by the dashboard, the navigation bar's count, the reminder buttons and tests alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import has_request_context, request
from sqlalchemy import func, select

from .auth import User
from .base import utcnow
from .customers import Appointment, Client
from .lookups import AppointmentType
from .sessions import REQUEST_EXTRAS

TODO, DONE = "待办", "已完成"
#: how many due reminders the dashboard lists (the navbar shows the full count)
LIST_LIMIT = 50
DEFAULT_POSTPONE_MINUTES = 60
MAX_POSTPONE_MINUTES = 60 * 24 * 30


def due_clauses(user, now: datetime) -> tuple:
    """The WHERE clauses of "due for ``user`` at ``now``" (Appointment joined to Client)."""
    return (
        Appointment.user_id == user.id,
        Appointment.status == TODO,
        Appointment.remind_at <= now,
        Client.live(),
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


def _due_count_query(user, now: datetime):
    return (
        select(func.count())
        .select_from(Appointment)
        .join(Client, Client.id == Appointment.client_id)
        .where(*due_clauses(user, now))
    )


def due_count(session, user, now: datetime) -> int:
    """How many reminders are due for the user (one COUNT query)."""
    return session.execute(_due_count_query(user, now)).scalar() or 0


def _navbar_count():
    # the navbar's count, read with the user of a GET request (``User``: the users table);
    # not on the dashboard, which counts the reminders it lists anyway
    if has_request_context() and request.endpoint == "admin.index":
        return None
    return _due_count_query(User, utcnow()).scalar_subquery()


REQUEST_EXTRAS["due_reminders"] = _navbar_count


def appointment_of(session, user, appointment_id: int) -> Appointment | None:
    """The appointment if it is ``user``'s and its client is live, else None."""
    return session.execute(
        select(Appointment)
        .join(Client, Client.id == Appointment.client_id)
        .where(Appointment.id == appointment_id, Appointment.user_id == user.id, Client.live())
    ).scalar()


# ---------------------------------------------------------------------------- the rules
class ReminderRefused(ValueError):
    """A rule refused the change; ``reason`` names it: ``closed`` (the appointment is no
    longer open), ``past`` (a time not in the future), ``after_appointment`` (later than
    the appointment), ``minutes`` (out of range), ``appointment_passed``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def check_open(appointment: Appointment) -> None:
    """Only an open (to-do) appointment's reminder can be done or postponed."""
    if appointment.status != TODO:
        raise ReminderRefused("closed")


def mark_done(appointment: Appointment) -> None:
    """The appointment is done: its reminder stops."""
    check_open(appointment)
    appointment.status = DONE


def postpone(appointment: Appointment, now: datetime, until: datetime | None = None, minutes: int | None = None):
    """Remind again ``until`` (in the future, not after the appointment) or in ``minutes``
    (1 … a month; never after the appointment: then at its time, unless that has
    passed). Returns the new reminder time."""
    check_open(appointment)
    if until is not None:
        if until <= now:
            raise ReminderRefused("past")
        if until > appointment.scheduled_at:
            raise ReminderRefused("after_appointment")
    else:
        minutes = DEFAULT_POSTPONE_MINUTES if minutes is None else minutes
        if not 1 <= minutes <= MAX_POSTPONE_MINUTES:
            raise ReminderRefused("minutes")
        until = now + timedelta(minutes=minutes)
        if until > appointment.scheduled_at:
            if appointment.scheduled_at <= now:
                raise ReminderRefused("appointment_passed")
            until = appointment.scheduled_at
    appointment.remind_at = until
    return until
