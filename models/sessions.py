"""Sessions and login hardening (SPEC §2.3, §8): one row per login on one browser, ended
on every server at once; the decision on each login attempt — the lock of a name after
failures in a row, the per-address throttle — kept in the database."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, has_app_context, has_request_context, request
from sqlalchemy import ForeignKey, String, case, exists, func, literal, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from . import db, settings
from .auth import LoginLog, Right, User, role_right
from .base import UTCDateTime, label, utcnow

LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15
#: defaults of the per-IP throttle settings CRM_LOGIN_IP_FAILURE_LIMIT,
#: CRM_LOGIN_IP_WINDOW_MINUTES and CRM_LOGIN_IP_TRUSTED_DAYS (see attempt_login)
IP_FAILURE_LIMIT = 20
IP_WINDOW_MINUTES = 15
IP_TRUSTED_DAYS = 30
#: outcomes that count towards the lock of a name (failures in a row)
COUNTED_FAILURES = ("password", "inactive")


class UserSession(db.Model):
    """One login of one user on one browser. The signed session cookie carries the token;
    the user loader accepts the cookie only while this row exists unrevoked, so logging
    out, "log out all my sessions", a password change and an admin's reset end it on
    every server (nothing is kept in process memory)."""

    __tablename__ = "user_session"
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, info=label("Session token"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, info=label("User"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, info=label("Created at"))
    ip: Mapped[str | None] = mapped_column(String(45), info=label("Login IP"))
    user_agent: Mapped[str | None] = mapped_column(String(300), info=label("User agent"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Ended at"))


def start_session(user_id: int, ip: str | None, user_agent: str | None) -> str:
    """Record a new session of the user and return its token (for the cookie). The caller
    commits."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(token=token, user_id=user_id, ip=ip, user_agent=(user_agent or "")[:300]))
    return token


def end_session(token: str | None) -> None:
    """Revoke one session (logout): a copy of its cookie no longer logs anyone in."""
    if token:
        with db.session.no_autoflush:
            db.session.execute(
                update(UserSession.__table__)
                .where(UserSession.token == token, UserSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )


def end_all_sessions(user_id: int) -> None:
    """Revoke every session of a user (log out everywhere, password change or reset)."""
    # no autoflush: called while a form's changes to the user are still pending, and they
    # must be flushed (and version-checked) at the caller's commit, not here
    with db.session.no_autoflush:
        db.session.execute(
            update(UserSession.__table__)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


#: name → a function returning a scalar sub-query correlated to ``users``, or None when this
#: page does not need it (the user's rights,
#: a setting, the due-reminder count, the cache version): what every page reads, fetched in
#: the one SELECT that loads the user of a GET request and left in ``g.request_extras``
#: for its readers (:func:`request_extra`), instead of one statement each
REQUEST_EXTRAS: dict[str, Callable] = {}


def request_extra(name: str, default=None):
    """The value ``name`` of :data:`REQUEST_EXTRAS` read with this request's user, or
    ``default`` (outside a request, in a request that writes, before the user is loaded)."""
    if not has_request_context():
        return default
    return g.get("request_extras", {}).get(name, default)


def user_for_session(user_id: str, token: str | None) -> User | None:
    """The user of a session cookie, if its session is still open and the user may log
    in: one SELECT (the user, its role and an EXISTS on the session — and, for a GET,
    the :data:`REQUEST_EXTRAS`)."""
    if not token or not str(user_id).isdigit():
        return None
    reading = has_request_context() and request.method in ("GET", "HEAD")
    made = [(name, make()) for name, make in REQUEST_EXTRAS.items()] if reading else []
    extras = [(name, clause) for name, clause in made if clause is not None]  # None: not on this page
    query = select(User, *[clause.label(f"extra_{i}") for i, (_, clause) in enumerate(extras)]).where(
        User.id == int(user_id),
        exists().where(UserSession.user_id == User.id, UserSession.token == token, UserSession.revoked_at.is_(None)),
    )
    row = db.session.execute(query).first()
    user = row[0] if row is not None else None
    if user is None or not user.can_log_in():
        return None
    if extras:
        g.request_extras = {name: value for (name, _), value in zip(extras, row[1:], strict=True)}
        g.request_extras["user_id"] = user.id
    return user


def _rights_of_user():
    codes = select(func.aggregate_strings(Right.code, ",")).join(role_right, role_right.c.right_id == Right.id)
    return codes.where(role_right.c.role_id == User.role_id).scalar_subquery()


REQUEST_EXTRAS["rights"] = _rights_of_user
for _setting in settings.READ_WITH_USER:
    REQUEST_EXTRAS[f"setting:{_setting.name}"] = _setting.clause


# ------------------------------------------------------------------ login attempts
@dataclass(frozen=True)
class LoginResult:
    """How a login attempt is answered: ``success`` (then ``user`` is set), ``refused``
    (wrong name or password), ``locked`` (the name is locked) or ``throttled`` (too many
    failures from the address). ``outcome`` is what the login log records."""

    answer: str
    outcome: str
    user: User | None = None


@functools.cache
def _dummy_password_hash() -> str:
    # same algorithm and cost as real hashes (werkzeug's default), so checking it takes
    # as long as checking a real user's password
    return generate_password_hash(secrets.token_hex(16))


def verify_password(user: User | None, password: str) -> bool:
    """Check ``password`` against the user's hash, or against a dummy hash of the same
    algorithm and cost when there is no such user: the time taken does not tell whether
    a name exists."""
    stored = user.password_hash if user is not None and user.password_hash else _dummy_password_hash()
    matches = check_password_hash(stored, password or "")
    return matches and user is not None and bool(user.password_hash)


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default)) if has_app_context() else default


def _not_locked(users, now: datetime):
    return or_(users.c.locked_until.is_(None), users.c.locked_until <= now)


def _record_success(user_id: int, now: datetime) -> str:
    users = User.__table__
    # one UPDATE, no ORM read-modify-write: the version stays (a login is no edit, and an
    # admin editing the user meanwhile must not get a false conflict) and no audit row
    result = db.session.execute(
        update(users)
        .where(users.c.id == user_id, _not_locked(users, now))
        .values(failed_logins=0, locked_until=None, last_login_at=now, updated_at=users.c.updated_at)
    )
    return "success" if result.rowcount else "locked"  # a parallel attempt locked it meanwhile


def _record_failure(user_id: int, now: datetime) -> str:
    users = User.__table__
    reaches_limit = users.c.failed_logins + 1 >= LOCKOUT_FAILURES
    until = literal(now + timedelta(minutes=LOCKOUT_MINUTES), UTCDateTime())
    # atomic: parallel failures each add one (the row lock orders them), and the one that
    # reaches the limit sets the lock and restarts the count
    row = db.session.execute(
        update(users)
        .where(users.c.id == user_id, _not_locked(users, now))
        .values(
            failed_logins=case((reaches_limit, 0), else_=users.c.failed_logins + 1),
            locked_until=case((reaches_limit, until), else_=users.c.locked_until),
            updated_at=users.c.updated_at,
        )
        .returning(users.c.failed_logins)
    ).first()
    if row is None:
        return "locked"
    return "lockout" if row.failed_logins == 0 else "password"


def _unknown_name_attempt(username: str, now: datetime) -> str:
    """The lock rule of real accounts, applied to a name no account has, from the login
    log: the name "locks" at its fifth failure in a row and stays locked 15 minutes."""
    log = LoginLog
    locked = db.session.execute(
        select(
            exists().where(
                log.username == username,
                log.outcome == "lockout",
                log.logged_at > now - timedelta(minutes=LOCKOUT_MINUTES),
            )
        )
    ).scalar()
    if locked:
        return "locked"
    restart = (
        select(func.max(log.id))
        .where(log.username == username, log.outcome.in_(("lockout", "success")))
        .scalar_subquery()
    )
    failures = db.session.execute(
        select(func.count())
        .select_from(log)
        .where(log.username == username, log.outcome.in_(COUNTED_FAILURES), log.id > func.coalesce(restart, 0))
    ).scalar()
    return "lockout" if failures + 1 >= LOCKOUT_FAILURES else "password"


def _ip_over_limit(ip: str | None, now: datetime) -> bool:
    since = now - timedelta(minutes=_setting("LOGIN_IP_WINDOW_MINUTES", IP_WINDOW_MINUTES))
    failures = db.session.execute(
        select(func.count())
        .select_from(LoginLog)
        .where(LoginLog.ip == ip, LoginLog.success.is_(False), LoginLog.logged_at >= since)
    ).scalar()
    return failures >= _setting("LOGIN_IP_FAILURE_LIMIT", IP_FAILURE_LIMIT)


def _known_at_ip(username: str, ip: str | None, now: datetime) -> bool:
    since = now - timedelta(days=_setting("LOGIN_IP_TRUSTED_DAYS", IP_TRUSTED_DAYS))
    return bool(
        db.session.execute(
            select(
                exists().where(
                    LoginLog.username == username,
                    LoginLog.ip == ip,
                    LoginLog.success.is_(True),
                    LoginLog.logged_at >= since,
                )
            )
        ).scalar()
    )


def attempt_login(
    username: str, password: str, ip: str | None, user_agent: str | None, now: datetime | None = None
) -> LoginResult:
    """Decide one login attempt and write it to the login log (the caller commits).

    Rules (SPEC §2.3, §8), all kept in the database so every server of a cluster agrees:

    - Every attempt checks exactly one password hash (a dummy one for unknown names) and
      an unknown name is answered like an existing one, so neither the time nor the
      answer tells whether an account exists.
    - Per name: the fifth failure in a row locks the name for 15 minutes (a success
      resets the count). Accounts count in ``users.failed_logins`` with one atomic
      UPDATE; unknown names by the same rule from the login log.
    - Per IP: once ``LOGIN_IP_FAILURE_LIMIT`` failures came from the address within
      ``LOGIN_IP_WINDOW_MINUTES``, only names that logged in successfully from that
      address within ``LOGIN_IP_TRUSTED_DAYS`` are still tried (a colleague behind the
      same office NAT gets in with the right password); every other name is refused
      untried. Past the limit every refusal is "throttled", whatever the name, so the
      answer does not tell which names are known at the address.
    """
    now = now or utcnow()
    username = username[:60]
    user = db.session.execute(select(User).where(User.username == username)).scalar()
    over_limit = _ip_over_limit(ip, now)
    tried = not over_limit or _known_at_ip(username, ip, now)
    password_ok = verify_password(user, password)
    if not tried:
        outcome = "throttled"
    elif user is None:
        outcome = _unknown_name_attempt(username, now)
    elif user.is_locked(now):
        outcome = "locked"
    elif password_ok and user.can_log_in():
        outcome = _record_success(user.id, now)
    else:
        outcome = _record_failure(user.id, now)
        if outcome == "password" and password_ok:
            outcome = "inactive"
    db.session.add(
        LoginLog(
            username=username,
            user_id=user.id if user else None,
            logged_at=now,
            ip=ip,
            user_agent=(user_agent or "")[:300],
            success=outcome == "success",
            outcome=outcome,
        )
    )
    if outcome == "success":
        return LoginResult("success", outcome, user)
    if over_limit:
        return LoginResult("throttled", outcome)
    return LoginResult("locked" if outcome == "locked" else "refused", outcome)
