"""The one clock: now and today in the configured time zone, the same in a request, the
CLI, an import job and a test.

The zone is the ``timezone`` setting (default Asia/Shanghai, see :mod:`models.settings`),
read once per request (kept in ``g``) and at each call elsewhere; Flask-Babel's
``timezone_selector`` returns it too, so the times a page shows and the days the domain
counts agree. The database keeps UTC: :func:`to_utc` and :func:`to_local` convert.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import g, has_app_context, has_request_context

from . import settings


def zone_name() -> str:
    """The IANA name of the configured time zone (the declared default outside an app)."""
    if not has_app_context():
        return settings.timezone.default
    if has_request_context():
        if "crm_zone" not in g:
            g.crm_zone = settings.timezone()
        return g.crm_zone
    return settings.timezone()


def zone() -> ZoneInfo:
    """The configured time zone."""
    return ZoneInfo(zone_name())


def now() -> datetime:
    """The current time, aware, in UTC (what the database stores)."""
    return datetime.now(UTC)


def local_now() -> datetime:
    """The current time, aware, in the configured time zone."""
    return now().astimezone(zone())


def today() -> date:
    """Today's date in the configured time zone."""
    return local_now().date()


def to_local(value: datetime) -> datetime:
    """An instant → aware wall-clock time in the configured zone (naive values are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone())


def to_utc(value: datetime) -> datetime:
    """A wall-clock time in the configured zone (naive) or any aware time → aware UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone())
    return value.astimezone(UTC)


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the configured zone, aware."""
    return datetime.combine(day, time.min, tzinfo=zone())
