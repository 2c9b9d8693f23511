"""``flask --app app sla-check`` (issue 12 item 3, for cron): flags the open tickets that have
used 75 % and 100 % of their resolution time and tells their assignee once per level.

``sla_warned`` goes 0 → 75 → 100 (a ticket found past its due time goes straight to 100)
and ``sla_state`` becomes ``breached`` at 100 %. Each new level gives the assignee an in-app
reminder (a due appointment of the ticket's client, models/reminders.py) and, when SMTP is
configured and the user has an address, an e-mail. The flags and reminders are committed
before any mail is sent: a mail server that is down is reported in the output and changes
nothing else, and a second run sends nothing new. Paused tickets (waiting for the
customer) and tickets without SLA are not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import click
from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from . import clock, db
from .base import utcnow
from .customers import Appointment
from .lookups import AppointmentType
from .mail import MailError, compose, connect, mail_configured, send
from .reminders import TODO
from .service import OPEN_TICKET, ServiceTicket
from .sla import load_calendar, warn_level


@dataclass
class CheckResult:
    checked: int = 0
    warned: int = 0  # reached 75 %
    breached: int = 0  # reached 100 %
    reminders: int = 0
    unassigned: int = 0
    mailed: int = 0
    mail_failed: int = 0
    errors: list[str] = field(default_factory=list)


def _text(ticket: ServiceTicket, level: int) -> tuple[str, str]:
    due = clock.to_local(ticket.due_at).strftime("%Y-%m-%d %H:%M")
    locale = (ticket.assigned_to.locale if ticket.assigned_to else None) or "zh_Hans_CN"
    with force_locale(locale):
        if level == 100:
            subject = gettext("Ticket #%(id)s is overdue", id=ticket.id)
            body = gettext(
                "Ticket #%(id)s (%(title)s) passed its due time %(due)s.", id=ticket.id, title=ticket.title, due=due
            )
        else:
            subject = gettext("Ticket #%(id)s has used 75%% of its time", id=ticket.id)
            body = gettext(
                "Ticket #%(id)s (%(title)s) has used 75%% of its resolution time; due %(due)s.",
                id=ticket.id,
                title=ticket.title,
                due=due,
            )
    return subject, body


def check(session, now: datetime | None = None) -> CheckResult:
    """Flag and notify (see the module); returns the counts."""
    now = now or utcnow()
    result = CheckResult()
    tickets = list(
        session.execute(
            select(ServiceTicket)
            .where(
                ServiceTicket.status.in_(OPEN_TICKET),
                ServiceTicket.due_at.is_not(None),
                ServiceTicket.sla_state.in_(("running", "breached")),
                ServiceTicket.sla_warned < 100,
            )
            .options(selectinload(ServiceTicket.assigned_to))
            .order_by(ServiceTicket.id)
        ).scalars()
    )
    result.checked = len(tickets)
    calendar = load_calendar(session)
    kind = session.execute(select(AppointmentType).order_by(AppointmentType.sort_order, AppointmentType.id)).scalar()
    outbox = []
    for ticket in tickets:
        level = warn_level(ticket, calendar, now)
        if level <= ticket.sla_warned:
            continue
        ticket.sla_warned = level
        if level == 100:
            ticket.sla_state = "breached"
            result.breached += 1
        else:
            result.warned += 1
        assignee = ticket.assigned_to
        if assignee is None:
            result.unassigned += 1
            continue
        subject, body = _text(ticket, level)
        if kind is not None:
            session.add(
                Appointment(
                    client_id=ticket.client_id,
                    user_id=assignee.id,
                    type_id=kind.id,
                    scheduled_at=max(ticket.due_at, now),  # a reminder is never after its appointment
                    remind_at=now,
                    content=body,
                    status=TODO,
                )
            )
            result.reminders += 1
        if assignee.email:
            outbox.append((assignee.email, subject, body))
    session.commit()  # the flags and reminders hold whatever the mail server does
    if outbox and mail_configured():
        _mail(outbox, result)
    return result


def _mail(outbox, result: CheckResult) -> None:
    try:
        smtp = connect()
    except MailError as exc:
        result.mail_failed += len(outbox)
        result.errors.append(str(exc))
        return
    try:
        for to, subject, body in outbox:
            try:
                send(compose(to, subject, body), smtp)
                result.mailed += 1
            except MailError as exc:
                result.mail_failed += 1
                result.errors.append(f"{to}: {exc}")
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001  (the connection may be gone already)
            pass


def register_cli(app) -> None:
    @app.cli.command("sla-check")
    @click.option(
        "--now",
        type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
        default=None,
        help="the time of the run, wall clock of the display time zone (default: now)",
    )
    def sla_check_command(now):
        """Flag open tickets at 75 % and 100 % of their resolution time and notify their
        assignee (in-app reminder; e-mail when SMTP is configured). Idempotent."""
        from .audit import set_cli_actor

        set_cli_actor(None)
        result = check(db.session, clock.to_utc(now) if now else None)
        click.echo(
            f"Checked {result.checked} open ticket(s): {result.warned} at 75 %, {result.breached} at 100 %; "
            f"{result.reminders} reminder(s), {result.unassigned} without assignee; "
            f"{result.mailed} e-mail(s) sent, {result.mail_failed} failed."
        )
        for error in result.errors:
            click.echo(f"  mail error: {error}")
