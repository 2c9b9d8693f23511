"""SLA (服务时限, issue 12 item 3): the business calendar, the policies and the ticket clocks.

Tables (migration 0015_sla): ``sla_working_hours`` (working intervals per weekday, several a
day), ``sla_calendar_day`` (dated 放假 holidays and 调休 make-up working days, with the
holiday's name) and ``sla_policy`` (response and resolution targets in business minutes).

A ticket's policy is the most specific active row that matches it: a row for its client
first (key accounts), then one for its type and priority, its type, its priority, and a
row for everything; no match, or a matching "no SLA" row, means no clock (``sla_state``
none). A before-flush listener keeps the clocks of every ticket written, whoever writes it;
:func:`recompute` does the same for many tickets at once (seed-demo). See docs/sla.md.
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Time, event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from . import clock, db
from .base import FieldError, Timestamps, column_label, label, utcnow
from .business_time import HOLIDAY, WORKDAY, Calendar, add_business_time, as_utc, business_seconds
from .customers import Client
from .lookups import ServiceType
from .service import OPEN_TICKET, PRIORITIES, ServiceTicket

WEEKDAYS = [
    (0, _l("Monday")),
    (1, _l("Tuesday")),
    (2, _l("Wednesday")),
    (3, _l("Thursday")),
    (4, _l("Friday")),
    (5, _l("Saturday")),
    (6, _l("Sunday")),
]
DAY_KINDS = [(HOLIDAY, _l("Holiday (day off)")), (WORKDAY, _l("Make-up working day"))]
CLOSED = ("handled", "archived")


class WorkingHours(Timestamps, db.Model):
    """工作时间: one working interval of a weekday (a day may have several)."""

    __tablename__ = "sla_working_hours"
    __label__ = _l("Working hours")

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, index=True, info=label("Weekday", choices=WEEKDAYS))
    starts: Mapped[time] = mapped_column(Time, info=label("From"))
    ends: Mapped[time] = mapped_column(Time, info=label("Until"))

    def __str__(self) -> str:
        return f"{dict(WEEKDAYS).get(self.weekday, self.weekday)} {self.starts:%H:%M}–{self.ends:%H:%M}"

    def check_rules(self) -> None:
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise FieldError(column_label(WorkingHours, "ends"), str(_l("The interval must end after it starts.")))


class CalendarDay(Timestamps, db.Model):
    """节假日/调休: a dated holiday (放假) or a weekend day that is worked (调休上班)."""

    __tablename__ = "sla_calendar_day"
    __label__ = _l("Calendar days")

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True, info=label("Date"))
    kind: Mapped[str] = mapped_column(String(8), info=label("Kind", choices=DAY_KINDS))
    name: Mapped[str] = mapped_column(String(60), info=label("Name"))

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.name}"


class SlaPolicy(Timestamps, db.Model):
    """服务时限策略: the targets for the tickets it matches (empty fields match any)."""

    __tablename__ = "sla_policy"
    __label__ = _l("SLA policies")

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, info=label("Client")
    )
    type_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_service.id", ondelete="CASCADE"), index=True, info=label("Service type")
    )
    priority: Mapped[str | None] = mapped_column(String(8), info=label("Priority", choices=PRIORITIES))
    no_sla: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False, info=label("No SLA"))
    response_minutes: Mapped[int | None] = mapped_column(Integer, info=label("Response target (business minutes)"))
    resolution_minutes: Mapped[int | None] = mapped_column(Integer, info=label("Resolution target (business minutes)"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False, info=label("Active"))

    client = relationship(Client, info=label("Client"))
    type = relationship(ServiceType, info=label("Service type"))

    def check_rules(self) -> None:
        if not self.no_sla:
            for key in ("response_minutes", "resolution_minutes"):
                value = getattr(self, key)
                if value is None or value <= 0:
                    raise FieldError(
                        column_label(SlaPolicy, key), str(_l("A positive number of minutes, or tick No SLA."))
                    )

    @property
    def rank(self) -> tuple[bool, bool, bool]:
        """More specific rows win: client, then type, then priority."""
        return (self.client_id is not None, self.type_id is not None, self.priority is not None)

    def matches(self, client_id, type_id, priority) -> bool:
        return (
            self.is_active
            and self.client_id in (None, client_id)
            and self.type_id in (None, type_id)
            and self.priority in (None, priority)
        )

    def __str__(self) -> str:
        return f"#{self.id}"


# ------------------------------------------------------------------- loading per run
def load_calendar(session) -> Calendar:
    """The calendar of the configured zone: the weekday hours now (one query), the dated
    rows a year at a time when the arithmetic first needs them (one query per span)."""
    hours: dict[int, list[tuple[time, time]]] = {}
    with session.no_autoflush:
        for weekday, starts, ends in session.execute(
            select(WorkingHours.weekday, WorkingHours.starts, WorkingHours.ends)
        ).all():
            hours.setdefault(weekday, []).append((starts, ends))

    def load_days(first: date, last: date) -> dict[date, str]:
        with session.no_autoflush:
            rows = session.execute(
                select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.day.between(first, last))
            ).all()
        return dict(rows)

    return Calendar(clock.zone(), hours, load_days=load_days)


def load_policies(session) -> list[SlaPolicy]:
    """Every active policy row, most specific first (one query)."""
    with session.no_autoflush:
        rows = list(session.execute(select(SlaPolicy).where(SlaPolicy.is_active.is_(True))).scalars())
    return sorted(rows, key=lambda p: (p.rank, p.id), reverse=True)  # the newest of equals first


def resolve(policies: list[SlaPolicy], client_id, type_id, priority) -> SlaPolicy | None:
    """The policy of a ticket (None: no SLA). ``policies`` as :func:`load_policies` gives them."""
    for policy in policies:
        if policy.matches(client_id, type_id, priority):
            return None if policy.no_sla else policy
    return None


def policy_for(session, ticket: ServiceTicket) -> SlaPolicy | None:
    return resolve(load_policies(session), *_keys(ticket))


# ------------------------------------------------------------------------- the clocks
def _fk(ticket, relation: str, column: str):
    value = getattr(ticket, column)
    if value is None and relation in ticket.__dict__ and ticket.__dict__[relation] is not None:
        value = ticket.__dict__[relation].id
    return value


def _keys(ticket) -> tuple:
    return _fk(ticket, "client", "client_id"), _fk(ticket, "type", "type_id"), ticket.priority or "normal"


def set_targets(ticket: ServiceTicket, policy: SlaPolicy | None, calendar: Calendar) -> None:
    """Due times from the creation, the policy and the business time held so far."""
    if policy is None:
        ticket.response_due_at = ticket.due_at = None
        ticket.sla_state = "none"
        return
    start, held = ticket.created_at, ticket.sla_held_seconds or 0
    ticket.response_due_at = add_business_time(start, policy.response_minutes * 60 + held, calendar)
    ticket.due_at = add_business_time(start, policy.resolution_minutes * 60 + held, calendar)
    if ticket.sla_state in (None, "none"):
        ticket.sla_state = "paused" if ticket.status == "waiting" else "running"


def _settle(ticket: ServiceTicket, calendar: Calendar, now: datetime) -> None:
    """At handling: the business time used and met/breached (a ticket without SLA stays none)."""
    handled = ticket.handled_at or now
    used = business_seconds(ticket.created_at, handled, calendar) - (ticket.sla_held_seconds or 0)
    ticket.sla_seconds_used = max(used, 0)
    if ticket.due_at is not None:
        ticket.sla_state = "met" if as_utc(handled) <= as_utc(ticket.due_at) else "breached"


def _responded(ticket: ServiceTicket, calendar: Calendar) -> None:
    """The business time to the first response, once it is known (time on hold before it excluded)."""
    if ticket.first_response_at is None:
        ticket.response_seconds = None
    elif ticket.response_seconds is None:
        used = business_seconds(ticket.created_at, ticket.first_response_at, calendar)
        ticket.response_seconds = max(used - (ticket.sla_held_seconds or 0), 0)


def _hold(ticket: ServiceTicket, now: datetime) -> None:
    if ticket.on_hold_since is None:
        ticket.on_hold_since = now
    if ticket.sla_state == "running":
        ticket.sla_state = "paused"


def _release(ticket: ServiceTicket, calendar: Calendar, now: datetime, policy) -> None:
    """Leaving the hold: the business time held pushes both due times later."""
    if ticket.on_hold_since is not None:
        held = business_seconds(ticket.on_hold_since, now, calendar)
        ticket.sla_held_seconds = (ticket.sla_held_seconds or 0) + held
        ticket.on_hold_since = None
        if policy is not None:
            set_targets(ticket, policy, calendar)
    if ticket.sla_state == "paused":
        ticket.sla_state = "running"


def _old(ticket, key: str):
    history = sa_inspect(ticket).attrs[key].history
    return history.deleted[0] if history.deleted else None


def _changed(ticket, *keys: str) -> bool:
    state = sa_inspect(ticket)
    return any(state.attrs[key].history.has_changes() for key in keys)


def track(ticket: ServiceTicket, policies, calendar: Calendar, now: datetime) -> None:
    """Bring one new or changed ticket's clock up to date (the listener's work)."""
    new = sa_inspect(ticket).pending or ticket.id is None
    if new:
        ticket.created_at = ticket.created_at or now
        ticket.sla_held_seconds = ticket.sla_held_seconds or 0
        ticket.sla_warned = ticket.sla_warned or 0
        ticket.sla_state = "none"
        set_targets(ticket, resolve(policies, *_keys(ticket)), calendar)
        if ticket.status == "waiting":
            _hold(ticket, now)
        elif ticket.status in CLOSED:
            _settle(ticket, calendar, now)
        _responded(ticket, calendar)
        return
    _responded(ticket, calendar)
    policy = resolve(policies, *_keys(ticket))
    if _changed(ticket, "priority", "type_id", "type", "client_id", "client") and ticket.status not in CLOSED:
        state, ticket.sla_state = ticket.sla_state, "none"
        set_targets(ticket, policy, calendar)
        if policy is not None and state in ("paused", "breached"):
            ticket.sla_state = state
    if not _changed(ticket, "status"):
        return
    before, after = _old(ticket, "status"), ticket.status
    if before == "waiting" and after != "waiting":
        _release(ticket, calendar, now, policy)
    if after == "waiting":
        _hold(ticket, now)
    elif after == "handled" and before not in CLOSED:
        _settle(ticket, calendar, now)
    elif before in CLOSED and after in OPEN_TICKET:  # reopened: the original due time holds
        ticket.sla_seconds_used = None
        ticket.sla_warned = 0
        if ticket.due_at is not None:
            ticket.sla_state = "running" if as_utc(now) <= as_utc(ticket.due_at) else "breached"


def session_now(session) -> datetime:
    """The instant the clocks use: ``session.info["sla_now"]`` when a test or a replay sets it."""
    return session.info.get("sla_now") or utcnow()


@event.listens_for(Session, "before_flush")
def _keep_clocks(session, flush_context, instances) -> None:
    tickets = [
        obj
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, ServiceTicket)
        and (
            obj in session.new
            or _changed(obj, "status", "priority", "type_id", "type", "client_id", "client", "first_response_at")
        )
    ]
    if not tickets:
        return
    cache = session.info.setdefault("sla_cache", {})
    if "policies" not in cache:
        cache["policies"], cache["calendar"] = load_policies(session), load_calendar(session)
    now = session_now(session)
    for ticket in tickets:
        track(ticket, cache["policies"], cache["calendar"], now)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session, *args) -> None:
    """Policies and hours read in one transaction are not trusted in the next."""
    session.info.pop("sla_cache", None)


# ------------------------------------------------------------------------ bulk (seed-demo)
def warn_level(ticket: ServiceTicket, calendar: Calendar, now: datetime) -> int:
    """0, 75 or 100: how much of an open ticket's resolution time has gone by at ``now``."""
    if ticket.due_at is None or ticket.status not in OPEN_TICKET or ticket.sla_state == "paused":
        return 0
    if as_utc(now) >= as_utc(ticket.due_at):
        return 100
    target = business_seconds(ticket.created_at, ticket.due_at, calendar) - (ticket.sla_held_seconds or 0)
    left = business_seconds(now, ticket.due_at, calendar)
    return 75 if target > 0 and left * 4 <= target else 0


def recompute(session, tickets, now: datetime | None = None) -> int:
    """Recompute the clocks of ``tickets`` from their timestamps (created_at, handled_at,
    status, on_hold_since, sla_held_seconds): targets, time used, state and warning level
    as of ``now``. Two queries for the policies and hours, one per year of calendar rows;
    none per ticket. Returns how many tickets were computed (flush to write them)."""
    now = now or utcnow()
    policies, calendar = load_policies(session), load_calendar(session)
    count = 0
    for ticket in tickets:
        ticket.sla_state, ticket.sla_held_seconds = "none", ticket.sla_held_seconds or 0
        ticket.sla_seconds_used = ticket.response_seconds = None
        set_targets(ticket, resolve(policies, *_keys(ticket)), calendar)
        _responded(ticket, calendar)
        if ticket.status in CLOSED:
            _settle(ticket, calendar, now)
            ticket.sla_warned = 0
        else:
            if ticket.status == "waiting":
                _hold(ticket, ticket.on_hold_since or now)
            ticket.sla_warned = warn_level(ticket, calendar, now)
            if ticket.sla_warned == 100:
                ticket.sla_state = "breached"
        count += 1
    return count
