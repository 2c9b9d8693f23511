"""Organisation and security tables (SPEC §4.1)."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from . import db, validators
from .base import FieldError, SoftDelete, Timestamps, UTCDateTime, Versioned, column_label, label, utcnow

DATA_SCOPES = [
    ("all", _l("All records")),
    ("department", _l("My department and below")),
    ("own", _l("Only my own records")),
]
RIGHT_TYPES = [("module", _l("Module")), ("menu", _l("Menu")), ("action", _l("Action"))]
GENDERS = [("男", _l("Male")), ("女", _l("Female")), ("未说明", _l("Unspecified"))]

#: what became of a login attempt (user_log.outcome)
LOGIN_OUTCOMES = [
    ("success", _l("Logged in")),
    ("password", _l("Wrong username or password")),
    ("inactive", _l("Right password, account disabled")),
    ("lockout", _l("Wrong password, account now locked")),
    ("locked", _l("Refused: account locked")),
    ("throttled", _l("Refused: too many failures from this address")),
]


class Department(Timestamps, db.Model):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, info=label("Department name"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True, info=label("Parent department")
    )
    sort_order: Mapped[int] = mapped_column(default=0, info=label("Sort order"))

    parent: Mapped[Department | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Department]] = relationship(back_populates="parent")


role_right = Table(
    "sys_role_right",
    db.Model.metadata,
    Column("role_id", ForeignKey("sys_role.id", ondelete="CASCADE"), primary_key=True),
    Column("right_id", ForeignKey("sys_right.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Right(db.Model):
    """A permission code (``client.view``) or a node above them (menu, module)."""

    __tablename__ = "sys_right"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True, info=label("Code"))
    parent_code: Mapped[str | None] = mapped_column(String(80), index=True, info=label("Parent code"))
    type: Mapped[str] = mapped_column(String(10), info=label("Type", choices=RIGHT_TYPES))
    text: Mapped[str] = mapped_column(String(100), info=label("Name"))
    text_en: Mapped[str | None] = mapped_column(String(100), info=label("English name"))
    endpoint: Mapped[str | None] = mapped_column(String(80), info=label("Endpoint"))
    tip: Mapped[str | None] = mapped_column(String(200), info=label("Tip"))
    sort_order: Mapped[int] = mapped_column(default=0, info=label("Sort order"))

    def __str__(self) -> str:
        return f"{self.text} ({self.code})"


class Role(Timestamps, Versioned, db.Model):
    __tablename__ = "sys_role"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, info=label("Role code"))
    name: Mapped[str] = mapped_column(String(60), info=label("Role name"))
    description: Mapped[str | None] = mapped_column(Text, info=label("Role description"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, info=label("Role status"))
    data_scope: Mapped[str] = mapped_column(String(12), default="own", info=label("Data scope", choices=DATA_SCOPES))

    rights: Mapped[list[Right]] = relationship(secondary=role_right, order_by=Right.sort_order, info=label("Rights"))


class User(Timestamps, SoftDelete, Versioned, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True, info=label("Username"))
    name: Mapped[str] = mapped_column(String(60), info=label("Full name"))
    password_hash: Mapped[str] = mapped_column(String(256), info=label("Password"))
    position_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_position.id", ondelete="RESTRICT"), index=True, info=label("Position")
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True, info=label("Department")
    )
    role_id: Mapped[int] = mapped_column(ForeignKey("sys_role.id", ondelete="RESTRICT"), index=True, info=label("Role"))
    mobile: Mapped[str | None] = mapped_column(String(20), info=label("Mobile", check=validators.mobile))
    email: Mapped[str | None] = mapped_column(String(120), info=label("E-mail", check=validators.email))
    gender: Mapped[str | None] = mapped_column(String(4), info=label("Gender", choices=GENDERS))
    address: Mapped[str | None] = mapped_column(String(200), info=label("Address"))
    birthday: Mapped[date | None] = mapped_column(Date, info=label("Birthday"))
    id_card: Mapped[str | None] = mapped_column(
        String(18),
        info=label(
            "ID card number", check=validators.id_card, mask=validators.masked_id_card, sensitive_right="user.sensitive"
        ),
    )
    hired_on: Mapped[date | None] = mapped_column(Date, info=label("Hired on"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, info=label("Active"))
    #: away (leave, training): automatic ticket assignment skips the user (models/assignment.py)
    absent: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False, info=label("Absent"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Last login"))
    failed_logins: Mapped[int] = mapped_column(default=0, info=label("Failed logins"))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Locked until"))
    locale: Mapped[str | None] = mapped_column(String(10), info=label("Language"))

    position = relationship("Position", info=label("Position"))
    department: Mapped[Department | None] = relationship(info=label("Department"))
    role: Mapped[Role] = relationship(lazy="joined", info=label("Role"))

    # --- Flask-Login -------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    # --- passwords and lockout -----------------------------------------------------
    def set_password(self, password: str) -> None:
        """Hash and store a password, and end every session of the user: whoever held the
        old password (or a copied cookie) is out. The caller commits."""
        if not password or len(password) < 8:
            raise ValueError(str(_l("The password must have at least 8 characters.")))
        self.password_hash = generate_password_hash(password)
        if self.id is not None:
            from .sessions import end_all_sessions  # models.sessions imports this module

            end_all_sessions(self.id)

    def check_password(self, password: str) -> bool:
        """True when ``password`` matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password or "")

    def can_log_in(self) -> bool:
        """Active, not deleted, role active."""
        return self.is_active and not self.is_deleted and self.role is not None and self.role.is_active

    def is_locked(self, now: datetime | None = None) -> bool:
        """True while a lockout after too many failures is running."""
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    # --- rights ----------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return self.role is not None and self.role.code == "admin"

    @property
    def data_scope(self) -> str:
        return self.role.data_scope if self.role else "own"

    def right_codes(self) -> frozenset[str]:
        """The codes of every right the user's role holds (one query, cached per request)."""
        from flask import g, has_request_context

        from .sessions import request_extra

        cache = g.setdefault("_right_codes", {}) if has_request_context() else {}
        if self.id not in cache:
            if self.role is None or not self.role.is_active:
                cache[self.id] = frozenset()
            elif request_extra("user_id") == self.id:  # read with the user (models.sessions)
                cache[self.id] = frozenset(filter(None, (request_extra("rights") or "").split(",")))
            else:
                rows = db.session.execute(
                    select(Right.code)
                    .join(role_right, role_right.c.right_id == Right.id)
                    .where(role_right.c.role_id == self.role_id)
                ).scalars()
                cache[self.id] = frozenset(rows)
        return cache[self.id]

    def can(self, code: str) -> bool:
        """Whether the user holds the right ``code`` (e.g. ``client.edit``)."""
        return code in self.right_codes()


class LoginLog(db.Model):
    __tablename__ = "user_log"
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), index=True, info=label("Login user"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("User")
    )
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True, info=label("Login time"))
    ip: Mapped[str | None] = mapped_column(String(45), index=True, info=label("Login IP"))
    user_agent: Mapped[str | None] = mapped_column(String(300), info=label("User agent"))
    success: Mapped[bool] = mapped_column(Boolean, default=False, info=label("Success"))
    outcome: Mapped[str] = mapped_column(
        String(12), default="password", server_default="password", info=label("Outcome", choices=LOGIN_OUTCOMES)
    )

    user: Mapped[User | None] = relationship(info=label("User"))


class SystemConfig(db.Model):
    __tablename__ = "system_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True, info=label("Setting"))
    value: Mapped[str] = mapped_column(String(500), info=label("Value"))
    description: Mapped[str | None] = mapped_column(String(300), info=label("Description"))

    @staticmethod
    def get(name: str, default: str | None = None) -> str | None:
        """The value of a setting, or ``default`` when it is not set. Never flushes: a
        setting read in the middle of building a record must not save (or fail) it."""
        with db.session.no_autoflush:
            value = db.session.execute(select(SystemConfig.value).where(SystemConfig.name == name)).scalar()
        return default if value is None else value

    def check_rules(self) -> None:
        """A declared setting with a check (a number pattern) refuses a value it cannot
        use, naming the setting and saying what to write."""
        from .settings import SETTINGS

        setting = SETTINGS.get(self.name or "")
        if setting is None or setting.problem is None or not (self.value or "").strip():
            return
        problem = setting.problem(self.value.strip())
        if problem is not None:
            raise FieldError(
                column_label(SystemConfig, "value"),
                str(_l("%(setting)s: %(problem)s", setting=self.name, problem=problem)),
            )


def department_subtree_ids(department_id: int | None) -> list[int]:
    """The id of a department and of every department below it (departments are few:
    one query, walked in Python)."""
    if department_id is None:
        return []
    rows = db.session.execute(select(Department.id, Department.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for dep_id, parent_id in rows:
        children.setdefault(parent_id, []).append(dep_id)
    result, stack = [], [department_id]
    while stack:
        current = stack.pop()
        if current in result:
            continue
        result.append(current)
        stack.extend(children.get(current, []))
    return result


def rights_tree() -> list:
    """Every right nested by ``parent_code``: ``[(right, [(child, [...]), ...]), ...]``."""
    children: dict[str | None, list[Right]] = {}
    for right in db.session.execute(select(Right).order_by(Right.sort_order, Right.id)).scalars():
        children.setdefault(right.parent_code, []).append(right)

    def build(code):
        return [(r, build(r.code)) for r in children.get(code, [])]

    return build(None)


def grant_rights(role: Role, right_ids) -> None:
    """Give ``role`` exactly the rights with these ids (none: no rights)."""
    ids = list(right_ids)
    role.rights = db.session.execute(select(Right).where(Right.id.in_(ids))).scalars().all() if ids else []
