"""Customers (客户管理, SPEC §4.3): clients, their contacts, follow-ups, appointments and
contracts, and the domain rules around them (duplicates, delete guard, merge, reassign)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, String, Text, func, select, text
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from . import base, db, validators
from .audit import audit_note
from .auth import User
from .base import FieldError, Money, Owned, SoftDelete, Timestamps, UTCDateTime, Versioned, column_label, label, utcnow
from .lookups import (
    AppointmentType,
    Area,
    BusinessModel,
    CapitalBand,
    ClientSource,
    ClientType,
    CompanySize,
    ContractType,
    FollowUpType,
    RevenueBand,
    StarRating,
    Trade,
)
from .numbering import assign_number
from .search import Searchable
from .workflow import Approval

GENDERS = [("男", _l("Male")), ("女", _l("Female")), ("未说明", _l("Unspecified"))]
APPOINTMENT_STATUSES = [("待办", _l("To do")), ("已完成", _l("Done")), ("已取消", _l("Cancelled"))]
SCORES = [(i, str(i)) for i in range(1, 6)]


def normalise_name(name: str | None) -> str:
    """The comparison key of a company name: full-width → half-width, trimmed, case-folded,
    no spaces, and 有限责任公司 treated like 有限公司."""
    if not name:
        return ""
    key = unicodedata.normalize("NFKC", name).casefold()
    key = re.sub(r"\s+", "", key)
    return key.replace("有限责任公司", "有限公司")


def _lookup(target: str, info: dict, required: bool = False):
    return mapped_column(ForeignKey(f"{target}.id", ondelete="RESTRICT"), index=True, nullable=not required, info=info)


class StoredFile(db.Model):
    """An uploaded file, kept under the upload folder with a random name and served only
    through /files/<id> to users who may see the record that points at it."""

    __tablename__ = "stored_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    original_name: Mapped[str] = mapped_column(String(255), info=label("File name"))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True, info=label("Stored as"))
    content_type: Mapped[str] = mapped_column(String(100), info=label("Content type"))
    size: Mapped[int] = mapped_column(Integer, info=label("Size (bytes)"))
    sha256: Mapped[str] = mapped_column(String(64), info=label("SHA-256"))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Uploaded by")
    )
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, info=label("Uploaded at"))

    def __str__(self) -> str:
        return self.original_name


class Client(Timestamps, SoftDelete, Versioned, Owned, Searchable, db.Model):
    """企业客户."""

    __tablename__ = "clients"
    __search__ = ("name", "uscc", "phone", "contact_name", "contact_mobile")
    __search_pinyin__ = {"name": "company", "contact_name": "person"}
    #: service staff (no client.edit) read the clients of the tickets in their scope (models/scope.py)
    __scope_also__ = (("ServiceTicket", "client_id", "client.edit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True, info=label("Company name"))
    name_key: Mapped[str] = mapped_column(String(200), index=True, default="", info=label("Name key"))
    uscc: Mapped[str | None] = mapped_column(
        String(18), unique=True, info=label("Unified social credit code", check=validators.uscc)
    )
    address: Mapped[str] = mapped_column(String(300), info=label("Company address"))
    phone: Mapped[str] = mapped_column(String(40), index=True, info=label("Phone", check=validators.phone))
    fax: Mapped[str | None] = mapped_column(String(40), info=label("Fax", check=validators.phone))
    zip_code: Mapped[str | None] = mapped_column(String(6), info=label("Zip code", check=validators.zip_code))
    website: Mapped[str | None] = mapped_column(String(200), info=label("Website", check=validators.website))
    email: Mapped[str | None] = mapped_column(String(120), info=label("E-mail", check=validators.email))
    trade_id: Mapped[int | None] = _lookup("system_trade", label("Product category"))
    area_id: Mapped[int] = _lookup("system_area", label("Area"), required=True)
    contact_name: Mapped[str] = mapped_column(String(60), index=True, info=label("Contact"))
    contact_gender: Mapped[str | None] = mapped_column(String(4), info=label("Gender", choices=GENDERS))
    contact_position: Mapped[str | None] = mapped_column(String(60), info=label("Position"))
    contact_mobile: Mapped[str] = mapped_column(
        String(20), index=True, info=label("Usual mobile", check=validators.mobile)
    )
    type_id: Mapped[int | None] = _lookup("system_type", label("Client type"))
    star_id: Mapped[int | None] = _lookup("system_start", label("Star rating"))
    source_id: Mapped[int | None] = _lookup("system_source", label("Client source"))
    main_business: Mapped[str | None] = mapped_column(String(300), info=label("Main business"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Other notes"))
    revenue_band_id: Mapped[int | None] = _lookup("system_scale", label("Annual revenue"))
    capital_band_id: Mapped[int | None] = _lookup("system_fund", label("Registered capital"))
    size_id: Mapped[int | None] = _lookup("system_size", label("Company size"))
    model_id: Mapped[int | None] = _lookup("system_model", label("Business model"))
    satisfaction: Mapped[int | None] = mapped_column(Integer, info=label("Satisfaction", choices=SCORES))
    credit: Mapped[int | None] = mapped_column(Integer, info=label("Credit", choices=SCORES))
    #: set while the import job that creates the row runs: hidden until the whole file is in
    #: (models/imports/job.py), then cleared in one UPDATE
    import_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), info=label("Import job")
    )

    trade = relationship(Trade)
    area = relationship(Area)
    type = relationship(ClientType)
    star = relationship(StarRating)
    source = relationship(ClientSource)
    revenue_band = relationship(RevenueBand)
    capital_band = relationship(CapitalBand)
    size = relationship(CompanySize)
    model = relationship(BusinessModel)
    linkmans: Mapped[list[Linkman]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="Linkman.id", info=label("Contacts")
    )
    followups: Mapped[list[FollowUp]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        order_by="FollowUp.followed_at.desc()",
        info=label("Follow-ups"),
    )
    appointments: Mapped[list[Appointment]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        order_by="Appointment.scheduled_at.desc()",
        info=label("Appointments"),
    )
    contracts: Mapped[list[Contract]] = relationship(
        back_populates="client", order_by="Contract.id", info=label("Contracts")
    )

    __table_args__ = (
        # the list's filters (revenue band: the composition report's drill-through, 0013);
        # owner also serves the data scope (§6)
        *base.filter_indexes("clients", "updated_at", "owner_id", "type_id", "star_id", "source_id"),
        *base.filter_indexes("clients", "updated_at", "area_id", "trade_id", "size_id", "revenue_band_id"),
        # only the rows of a running import: every query's ``import_job_id IS NULL`` (the
        # rows of no import) must not look like a selective equality to the planner
        db.Index(
            "ix_clients_import_job_id",
            "import_job_id",
            sqlite_where=text("import_job_id IS NOT NULL"),
            postgresql_where=text("import_job_id IS NOT NULL"),
        ),
        *base.list_indexes("clients", "updated_at", "name", "area_id", "type_id", "star_id"),  # its sort columns
        *base.list_indexes("clients", "owner_id", "contact_name", "contact_mobile"),
    )

    def check_rules(self) -> None:
        """Keep the name key in step with the name."""
        self.name_key = normalise_name(self.name)


def client_fk():
    """The ``client_id`` of a record kept under a client: indexed, and RESTRICT (a client
    with records is never deleted under them); nullable as its ``Mapped`` annotation says."""
    return mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Client"))


class Linkman(Timestamps, Versioned, Searchable, db.Model):
    """企业联系人."""

    __tablename__ = "linkmans"
    __search__ = ("name", "english_name", "mobile", "phone", "email")
    __search_pinyin__ = {"name": "person"}
    __scope_parent__ = "client"
    #: the sort columns and filters of its list (views/…: column_default_sort, column_sortable_list, column_filters)
    __table_args__ = base.list_indexes("linkmans", "name", "position", "mobile", soft_delete=False) + (
        base.filter_indexes("linkmans", "id", "gender")
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = client_fk()
    name: Mapped[str] = mapped_column(String(60), index=True, info=label("Contact name"))
    english_name: Mapped[str | None] = mapped_column(String(60), info=label("English name"))
    position: Mapped[str] = mapped_column(String(60), info=label("Position"))
    gender: Mapped[str] = mapped_column(String(4), info=label("Gender", choices=GENDERS))
    mobile: Mapped[str] = mapped_column(String(20), index=True, info=label("Mobile", check=validators.mobile))
    phone: Mapped[str | None] = mapped_column(String(40), info=label("Phone", check=validators.phone))
    email: Mapped[str | None] = mapped_column(String(120), info=label("E-mail", check=validators.email))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    client: Mapped[Client] = relationship(back_populates="linkmans", info=label("Client"))

    def __str__(self) -> str:
        return f"{self.name} {self.mobile or ''}".strip()


class FollowUp(Timestamps, db.Model):
    """跟单记录 (交往记录)."""

    __tablename__ = "documentary"
    __scope_parent__ = "client"
    #: the sort columns and filters of its list (views/…: column_default_sort, column_sortable_list, column_filters)
    __table_args__ = base.list_indexes("documentary", "followed_at", "next_follow_at", soft_delete=False) + (
        base.filter_indexes("documentary", "followed_at", "type_id", "user_id")
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = client_fk()
    type_id: Mapped[int] = _lookup("system_records", label("Follow-up type"), required=True)
    followed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, index=True, info=label("Follow-up time")
    )
    content: Mapped[str] = mapped_column(Text, info=label("Follow-up content"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, info=label("Followed up by")
    )
    linkman_id: Mapped[int | None] = mapped_column(
        ForeignKey("linkmans.id", ondelete="SET NULL"), index=True, info=label("Contact")
    )
    next_follow_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, info=label("Next follow-up"))

    client: Mapped[Client] = relationship(back_populates="followups", info=label("Client"))
    type = relationship(FollowUpType, info=label("Follow-up type"))
    user = relationship(User, info=label("Followed up by"))
    linkman = relationship(Linkman, info=label("Contact"))

    def check_rules(self) -> None:
        """The contact is one of the client's."""
        same_client(self, "linkman", FollowUp)

    def __str__(self) -> str:
        return f"{self.followed_at:%Y-%m-%d} {self.content[:20]}" if self.followed_at else self.content[:20]


class Appointment(Timestamps, db.Model):
    """预约记录, with a reminder for its user."""

    __tablename__ = "appointment"
    __scope_parent__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = client_fk()
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, info=label("Appointment time"))
    type_id: Mapped[int] = _lookup("system_appointment", label("Appointment type"), required=True)
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, info=label("Reminder time"))
    content: Mapped[str] = mapped_column(Text, info=label("Appointment content"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Appointed by")
    )
    status: Mapped[str] = mapped_column(
        String(8), default="待办", index=True, info=label("Status", choices=APPOINTMENT_STATUSES)
    )

    client: Mapped[Client] = relationship(back_populates="appointments", info=label("Client"))
    type = relationship(AppointmentType, info=label("Appointment type"))
    user = relationship(User, info=label("Appointed by"))

    __table_args__ = (
        db.Index("ix_appointment_due", "user_id", "status", "remind_at"),
        *base.list_indexes("appointment", "scheduled_at", "remind_at", "status", soft_delete=False),
        *base.filter_indexes("appointment", "scheduled_at", "type_id", "status", "user_id"),  # its list's filters
    )

    def check_rules(self) -> None:
        """The reminder comes no later than the appointment."""
        if self.remind_at and self.scheduled_at and self.remind_at > self.scheduled_at:
            raise FieldError(
                column_label(Appointment, "remind_at"), str(_l("must not be later than the appointment time"))
            )

    def __str__(self) -> str:
        return self.content[:30] if self.content else f"#{self.id}"


class Contract(Timestamps, SoftDelete, Versioned, Owned, Approval, Searchable, db.Model):
    """企业合同 (收入合同), with the approval workflow of SPEC §5.1."""

    __tablename__ = "contract"
    __search__ = ("number", "name")
    __scope_parent__ = "client"
    #: the sort columns and filters of its list (views/…: column_default_sort, column_sortable_list, column_filters)
    __table_args__ = base.list_indexes("contract", "number", "name", "amount", "starts_on", "ends_on") + (
        base.filter_indexes("contract", "id", "type_id", "owner_id", "client_id", live=("status",))
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = client_fk()
    type_id: Mapped[int] = _lookup("system_contract", label("Contract type"), required=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Contract number"))
    name: Mapped[str] = mapped_column(String(200), info=label("Contract name"))
    starts_on: Mapped[date] = mapped_column(Date, index=True, info=label("Start date"))
    ends_on: Mapped[date] = mapped_column(Date, index=True, info=label("End date"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Contract amount"))
    content: Mapped[str | None] = mapped_column(Text, info=label("Contract content"))
    scan_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("stored_file.id", ondelete="SET NULL"), index=True, info=label("Contract scan")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, info=label("Recorded at"))
    linkman_id: Mapped[int | None] = mapped_column(
        ForeignKey("linkmans.id", ondelete="SET NULL"), index=True, info=label("Contact")
    )
    payment_plan: Mapped[str | None] = mapped_column(Text, info=label("Payment plan"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="SET NULL"), index=True, info=label("Opportunity")
    )
    second_approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Second approval by")
    )
    second_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Second approval at"))

    client: Mapped[Client] = relationship(back_populates="contracts", info=label("Client"))
    second_approved_by = relationship(User, foreign_keys=[second_approved_by_id], info=label("Second approval by"))
    type = relationship(ContractType, info=label("Contract type"))
    scan_file = relationship(StoredFile, info=label("Contract scan"))
    linkman = relationship(Linkman, info=label("Contact"))
    opportunity = relationship("Opportunity", info=label("Opportunity"))

    def check_rules(self) -> None:
        """A number when none was typed; end on or after the start; a positive amount; an
        opportunity about the same client; a contact of the client."""
        assign_number(self)
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise FieldError(column_label(Contract, "ends_on"), str(_l("must not be before the start date")))
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(Contract, "amount"), str(_l("must be greater than 0")))
        if self.opportunity_id is not None or self.opportunity is not None:
            same_client(self, "opportunity", Contract)
        same_client(self, "linkman", Contract)


def same_client(record, parent_key: str, model) -> None:
    """A document's opportunity or quote must be about the document's client."""
    parent = getattr(record, parent_key)
    if parent is None and getattr(record, f"{parent_key}_id", None) is not None:
        with db.session.no_autoflush:
            parent = db.session.get(
                getattr(type(record), parent_key).property.mapper.class_, getattr(record, f"{parent_key}_id")
            )
    client_id = record.client.id if record.client is not None else record.client_id
    if parent is None or parent.client_id is None or client_id is None:
        return
    if parent.client_id != client_id:
        raise FieldError(
            column_label(model, f"{parent_key}_id"),
            str(_l("%(document)s is about another client; choose one of this client's.", document=str(parent))),
        )


# 客户数量: computed in SQL, loaded only where asked for (views undefer it)
User.client_count = column_property(
    select(func.count(Client.id))
    .where(Client.owner_id == User.id, Client.live())
    .correlate_except(Client)
    .scalar_subquery(),
    deferred=True,
    info=label("Number of clients"),
)


# ------------------------------------------------------------------------ domain rules
def find_duplicates(name: str | None, uscc: str | None = None, mobiles=(), exclude_id: int | None = None):
    """Live clients that look like the same company: same USCC, same normalised name,
    or a contact mobile in ``mobiles`` (client contact or linkman). Returns
    [(client, [reasons])]. One indexed query per rule (no OR across tables), so it
    stays fast on a million clients."""
    mobiles = sorted({m for m in mobiles if m})
    key = normalise_name(name)
    uscc = uscc.strip().upper() if uscc else None
    live = Client.live()
    rules = []
    if uscc:
        rules.append((_l("same unified social credit code"), select(Client.id).where(live, Client.uscc == uscc)))
    if key:
        rules.append((_l("same company name"), select(Client.id).where(live, Client.name_key == key)))
    if mobiles:
        rules.append((_l("same contact mobile"), select(Client.id).where(live, Client.contact_mobile.in_(mobiles))))
        rules.append(
            (_l("same contact mobile"), select(Linkman.client_id).join(Client).where(live, Linkman.mobile.in_(mobiles)))
        )
    reasons: dict[int, list[str]] = {}
    for reason, query in rules:
        for client_id in db.session.execute(query.limit(20)).scalars():
            if client_id != exclude_id and str(reason) not in reasons.setdefault(client_id, []):
                reasons[client_id].append(str(reason))
    if not reasons:
        return []
    clients = db.session.execute(select(Client).where(Client.id.in_(list(reasons)[:20])).order_by(Client.id)).scalars()
    return [(client, reasons[client.id]) for client in clients]


def flag_visible(matches, user) -> list[tuple]:
    """find_duplicates' matches as (client, reasons, visible): ``visible`` when the
    client is in ``user``'s data scope. Only then may its name, contact and link be
    shown; otherwise only that it exists and who owns it (so the user can ask)."""
    from .scope import scope_clause

    ids = [client.id for client, _ in matches]
    clause = scope_clause(Client, user)
    visible = (
        set(ids)
        if clause is None
        else set(db.session.execute(select(Client.id).where(Client.id.in_(ids), clause)).scalars())
    )
    return [(client, reasons, client.id in visible) for client, reasons in matches]


def delete_blockers(client: Client) -> list[str]:
    """Why a client may not be deleted: the numbers of its live contracts, then of its
    live orders (soft-deleted ones do not count)."""
    from .orders import Order  # models.orders imports this module

    contracts = db.session.execute(
        select(Contract.number).where(Contract.client_id == client.id, Contract.live()).order_by(Contract.number)
    ).scalars()
    orders = db.session.execute(
        select(Order.number).where(Order.client_id == client.id, Order.live()).order_by(Order.number)
    ).scalars()
    return list(contracts) + list(orders)


def reassign_clients(clients, new_owner: User, comment: str | None = None) -> int:
    """Give clients (already scope-checked by the caller) to ``new_owner``; audited as
    ``reassign``. Returns how many changed."""
    changed = 0
    for client in clients:
        if client.owner_id != new_owner.id:
            client.owner_id = new_owner.id
            changed += 1
    audit_note(db.session, "reassign", comment)
    db.session.flush()
    return changed


#: client columns that merge fills on the kept client when they are empty there
MERGE_FILL = (
    "uscc",
    "fax",
    "zip_code",
    "website",
    "email",
    "trade_id",
    "contact_gender",
    "contact_position",
    "type_id",
    "star_id",
    "source_id",
    "main_business",
    "notes",
    "revenue_band_id",
    "capital_band_id",
    "size_id",
    "model_id",
    "satisfaction",
    "credit",
)


def merge_clients(keep: Client, others: list[Client]) -> dict[str, int]:
    """Merge ``others`` into ``keep`` in the caller's transaction: every row of every
    table that points at an other client moves to ``keep`` (one audit entry each, action
    ``merge``), empty fields of ``keep`` are filled, and the others are soft-deleted."""
    from flask_login import current_user

    moved: dict[str, int] = {}
    others = [o for o in others if o.id != keep.id]
    if not others:
        raise ValueError(str(_l("Choose at least two different clients to merge.")))
    other_ids = [o.id for o in others]
    audit_note(db.session, "merge", f"→ #{keep.id} {keep.name}")
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        table = getattr(cls, "__table__", None)
        if table is None or cls is Client:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is not Client.__table__:
                continue
            attr = next(p.key for p in mapper.column_attrs if p.columns[0] is fk.parent)
            rows = db.session.execute(select(cls).where(fk.parent.in_(other_ids))).scalars().all()
            for row in rows:
                setattr(row, attr, keep.id)
            if rows:
                moved[table.name] = moved.get(table.name, 0) + len(rows)
    for other in others:
        for column in MERGE_FILL:
            if getattr(keep, column) in (None, "") and getattr(other, column) not in (None, ""):
                value = getattr(other, column)
                if column == "uscc":
                    other.uscc = None  # unique: the code moves to the kept client
                    db.session.flush()
                setattr(keep, column, value)
        other.soft_delete(getattr(current_user, "id", None) if current_user else None)
    db.session.flush()
    for other in others:  # the relationships loaded before the move are stale now
        db.session.expire(other)
    db.session.expire(keep, ["linkmans", "followups", "appointments", "contracts"])
    return moved
