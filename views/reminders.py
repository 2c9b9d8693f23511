"""Appointment reminders (SPEC §4.3): my due reminders listed on the dashboard with *done*
and *postpone* buttons and counted in the navigation bar (the queries and the rules:
models/reminders.py).

``init_app(app)`` registers the blueprint (POST /reminders/<id>/done and
/reminders/<id>/postpone; CSRFProtect checks them like every POST) and the template
helper ``reminder_count()`` (one COUNT query per request, only when the navbar asks).
Changes go through the ORM, so the session hooks audit them.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import format_datetime, gettext
from flask_login import current_user, login_required

from models import db, reminders
from models.base import utcnow
from models.customers import Appointment
from models.reminders import DEFAULT_POSTPONE_MINUTES, LIST_LIMIT, MAX_POSTPONE_MINUTES
from models.sessions import request_extra

from .crud import to_utc

bp = Blueprint("reminders", __name__)


def due_reminders(user, now: datetime | None = None, limit: int = LIST_LIMIT):
    """The user's due reminders (:func:`models.reminders.due_reminders`); none when
    nobody is logged in."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return reminders.due_reminders(db.session, user, now or utcnow(), limit)


def due_count(user, now: datetime | None = None) -> int:
    """How many reminders are due for the user (:func:`models.reminders.due_count`)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return reminders.due_count(db.session, user, now or utcnow())


def reminder_count() -> int:
    """The navbar badge: the current user's due count, computed once per request."""
    if "crm_due_reminders" not in g:
        if not current_user.is_authenticated:
            g.crm_due_reminders = 0
        elif request_extra("user_id") == current_user.id:  # read with the user (models.sessions)
            g.crm_due_reminders = request_extra("due_reminders") or 0
        else:
            g.crm_due_reminders = due_count(current_user)
    return g.crm_due_reminders


# ------------------------------------------------------------------------------ actions
def _my_appointment(appointment_id: int) -> Appointment:
    """The appointment if it is the current user's and its client is live, else 404."""
    appointment = reminders.appointment_of(db.session, current_user, appointment_id)
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


def _refused(refusal: reminders.ReminderRefused, appointment: Appointment):
    """Flash why a rule of models/reminders.py refused the change, and go back."""
    when = _local(appointment.scheduled_at)
    if refusal.reason == "closed":
        flash(gettext("This appointment is no longer open."), "info")
    elif refusal.reason == "past":
        flash(gettext("Postpone until: choose a time in the future."), "error")
    elif refusal.reason == "after_appointment":
        flash(
            gettext(
                "Postpone until: the reminder cannot be later than the appointment "
                "(%(when)s). Choose an earlier time or reschedule the appointment.",
                when=when,
            ),
            "error",
        )
    elif refusal.reason == "appointment_passed":
        flash(
            gettext(
                "The appointment time (%(when)s) has passed, so the reminder cannot be "
                "postponed. Mark it done, or edit the appointment to reschedule it.",
                when=when,
            ),
            "error",
        )
    else:
        flash(_minutes_message(), "error")
    return _back()


def _minutes_message() -> str:
    return gettext("Postpone: the number of minutes must be between 1 and %(max)s.", max=MAX_POSTPONE_MINUTES)


@bp.route("/reminders/<int:appointment_id>/done", methods=["POST"])
@login_required
def done(appointment_id: int):
    appointment = _my_appointment(appointment_id)
    try:
        reminders.mark_done(appointment)
    except reminders.ReminderRefused as refusal:
        return _refused(refusal, appointment)
    db.session.commit()
    flash(gettext("Appointment marked as done."), "success")
    return _back()


@bp.route("/reminders/<int:appointment_id>/postpone", methods=["POST"])
@login_required
def postpone(appointment_id: int):
    appointment = _my_appointment(appointment_id)
    until_raw = (request.form.get("until") or "").strip()
    minutes_raw = (request.form.get("minutes") or "").strip() or str(DEFAULT_POSTPONE_MINUTES)
    try:
        reminders.check_open(appointment)
        if until_raw:
            until = _parse_until(until_raw)
            if until is None:
                flash(gettext("Postpone until: enter a date and time like 2024-05-01 09:30."), "error")
                return _back()
            until = reminders.postpone(appointment, utcnow(), until=until)
        else:
            if not minutes_raw.isdigit():
                flash(_minutes_message(), "error")
                return _back()
            until = reminders.postpone(appointment, utcnow(), minutes=int(minutes_raw))
    except reminders.ReminderRefused as refusal:
        return _refused(refusal, appointment)
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
