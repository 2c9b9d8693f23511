"""Appointment reminders (SPEC §4.3): my due reminders — remind_at ≤ now, status 待办,
appointment user = me, client not deleted — listed on the dashboard with *done* and
*postpone* buttons and counted in the navigation bar.

``init_app(app)`` registers the blueprint (POST /reminders/<id>/done and
/reminders/<id>/postpone; CSRFProtect checks them like every POST) and the template
helper ``reminder_count()`` (one COUNT query per request, only when the navbar asks).
Changes go through the ORM, so the session hooks audit them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import format_datetime, gettext
from flask_login import current_user, login_required
from sqlalchemy import func, select

from models import db
from models.base import utcnow
from models.customers import Appointment, Client
from models.lookups import AppointmentType

from .crud import to_utc

bp = Blueprint("reminders", __name__)

TODO, DONE = "待办", "已完成"
DEFAULT_POSTPONE_MINUTES = 60
MAX_POSTPONE_MINUTES = 60 * 24 * 30
#: how many due reminders the dashboard lists (the navbar shows the full count)
LIST_LIMIT = 50


def _due_clauses(user, now):
    return (
        Appointment.user_id == user.id,
        Appointment.status == TODO,
        Appointment.remind_at <= now,
        Client.is_deleted.is_(False),
    )


def due_reminders(user, now: datetime | None = None, limit: int = LIST_LIMIT):
    """The user's due reminders, oldest first, in one query: rows with ``id``,
    ``client_id``, ``client_name``, ``type_name``, ``scheduled_at``, ``remind_at``,
    ``content``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    now = now or utcnow()
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
        .where(*_due_clauses(user, now))
        .order_by(Appointment.remind_at, Appointment.id)
    )
    if limit:
        query = query.limit(limit)
    return db.session.execute(query).all()


def due_count(user, now: datetime | None = None) -> int:
    """How many reminders are due for the user (one COUNT query)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    now = now or utcnow()
    return (
        db.session.execute(
            select(func.count())
            .select_from(Appointment)
            .join(Client, Client.id == Appointment.client_id)
            .where(*_due_clauses(user, now))
        ).scalar()
        or 0
    )


def reminder_count() -> int:
    """The navbar badge: the current user's due count, computed once per request."""
    if "crm_due_reminders" not in g:
        g.crm_due_reminders = due_count(current_user) if current_user.is_authenticated else 0
    return g.crm_due_reminders


# ------------------------------------------------------------------------------ actions
def _my_appointment(appointment_id: int) -> Appointment:
    """The appointment if it is the current user's and its client is live, else 404."""
    appointment = db.session.execute(
        select(Appointment)
        .join(Client, Client.id == Appointment.client_id)
        .where(Appointment.id == appointment_id, Appointment.user_id == current_user.id, Client.is_deleted.is_(False))
    ).scalar()
    if appointment is None:
        abort(404)
    return appointment


def _back():
    return redirect(url_for("admin.index") + "#my-reminders")


def _local(value: datetime) -> str:
    return format_datetime(value, "yyyy-MM-dd HH:mm")


def _parse_until(raw: str) -> datetime | None:
    """A date-time typed in the user's display time zone ('YYYY-MM-DD HH:MM' or the
    'YYYY-MM-DDTHH:MM' of <input type=datetime-local>) → aware UTC, or None."""
    raw = raw.strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            naive = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return to_utc(naive)
    return None


@bp.route("/reminders/<int:appointment_id>/done", methods=["POST"])
@login_required
def done(appointment_id: int):
    appointment = _my_appointment(appointment_id)
    if appointment.status != TODO:
        flash(gettext("This appointment is no longer open."), "info")
        return _back()
    appointment.status = DONE
    db.session.commit()
    flash(gettext("Appointment marked as done."), "success")
    return _back()


@bp.route("/reminders/<int:appointment_id>/postpone", methods=["POST"])
@login_required
def postpone(appointment_id: int):
    appointment = _my_appointment(appointment_id)
    if appointment.status != TODO:
        flash(gettext("This appointment is no longer open."), "info")
        return _back()
    now = utcnow()
    until_raw = (request.form.get("until") or "").strip()
    if until_raw:
        until = _parse_until(until_raw)
        if until is None:
            flash(gettext("Postpone until: enter a date and time like 2024-05-01 09:30."), "error")
            return _back()
        if until <= now:
            flash(gettext("Postpone until: choose a time in the future."), "error")
            return _back()
        if until > appointment.scheduled_at:
            flash(
                gettext(
                    "Postpone until: the reminder cannot be later than the appointment "
                    "(%(when)s). Choose an earlier time or reschedule the appointment.",
                    when=_local(appointment.scheduled_at),
                ),
                "error",
            )
            return _back()
    else:
        raw = (request.form.get("minutes") or "").strip() or str(DEFAULT_POSTPONE_MINUTES)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_POSTPONE_MINUTES:
            flash(
                gettext("Postpone: the number of minutes must be between 1 and %(max)s.", max=MAX_POSTPONE_MINUTES),
                "error",
            )
            return _back()
        until = now + timedelta(minutes=int(raw))
        if until > appointment.scheduled_at:
            if appointment.scheduled_at <= now:
                flash(
                    gettext(
                        "The appointment time (%(when)s) has passed, so the reminder cannot be "
                        "postponed. Mark it done, or edit the appointment to reschedule it.",
                        when=_local(appointment.scheduled_at),
                    ),
                    "error",
                )
                return _back()
            until = appointment.scheduled_at  # the reminder never comes after the appointment
    appointment.remind_at = until
    db.session.commit()
    flash(gettext("Reminder postponed to %(when)s.", when=_local(until)), "success")
    return _back()


# ------------------------------------------------------------------------------ wiring
def init_app(app) -> None:
    """Register the blueprint and the ``reminder_count()`` template helper (once)."""
    if bp.name in app.blueprints:
        return
    app.register_blueprint(bp)

    @app.context_processor
    def reminder_helpers():
        return {"reminder_count": reminder_count}
