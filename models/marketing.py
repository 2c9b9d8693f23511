"""Marketing (市场营销, SPEC §4.7): campaigns and the leads they bring.

The tables of the marketing e-mail and its per-recipient ledger are in
models/marketing_mail.py.

A campaign goes planned → running → finished (:data:`CAMPAIGN`); a lead new → contacted →
qualified, or disqualified with a reason (:data:`LEAD`), and is *converted* by
:func:`convert` in one transaction into a client (or linked to an existing one), a contact
and an opportunity. The second conversion of a lead is refused by the database: the
conditional UPDATE of :func:`convert` changes no row once the lead is converted.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import Date, ForeignKey, String, Text, and_, select, text, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import base, db, validators
from .audit import audit_note
from .auth import User
from .base import (
    FieldError,
    Money,
    Owned,
    SoftDelete,
    Timestamps,
    UTCDateTime,
    Versioned,
    column_label,
    label,
    not_negative,
    user_fk,
    utcnow,
)
from .customers import Client, Linkman, find_duplicates, normalise_name
from .lookups import CampaignType, ClientSource, SalesStage
from .workflow import Transition, Workflow, WorkflowError, register

CAMPAIGN_STATUSES = [("planned", _l("Planned")), ("running", _lp("campaign", "Running")), ("finished", _l("Finished"))]
LEAD_STATUSES = [
    ("new", _lp("lead", "New")),
    ("contacted", _l("Contacted")),
    ("qualified", _l("Qualified")),
    ("converted", _l("Converted")),
    ("disqualified", _l("Disqualified")),
]
#: the states of a lead still being worked on: converted from them, and the duplicate
#: guard compares with the leads in them
OPEN_LEAD = ("new", "contacted", "qualified")


class Campaign(Timestamps, SoftDelete, Versioned, Owned, db.Model):
    """市场活动: an exhibition, seminar or promotion, with its budget and what it cost."""

    __tablename__ = "campaign"
    __table_args__ = base.list_indexes("campaign", "name", "starts_on", "ends_on") + base.filter_indexes(
        "campaign", "starts_on", "type_id", "owner_id", live=("status",)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), info=label("Campaign name"))
    type_id: Mapped[int] = mapped_column(
        ForeignKey("system_campaign.id", ondelete="RESTRICT"), index=True, info=label("Campaign type")
    )
    starts_on: Mapped[date] = mapped_column(Date, info=label("Campaign start date"))
    ends_on: Mapped[date | None] = mapped_column(Date, info=label("Campaign end date"))
    location: Mapped[str | None] = mapped_column(String(200), info=label("Campaign location"))
    budget: Mapped[Decimal | None] = mapped_column(Money(), info=label("Budget"))
    actual_cost: Mapped[Decimal | None] = mapped_column(Money(), info=label("Actual cost"))
    status: Mapped[str] = mapped_column(
        String(10), default="planned", nullable=False, info=label("Status", choices=CAMPAIGN_STATUSES)
    )
    description: Mapped[str | None] = mapped_column(Text, info=label("Description"))

    type = relationship(CampaignType, info=label("Campaign type"))
    owner = relationship(User, foreign_keys="Campaign.owner_id", info=label("Owner"))

    def check_rules(self) -> None:
        """The end no earlier than the start; budget and cost not negative."""
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise FieldError(column_label(Campaign, "ends_on"), str(_l("must not be before the start date")))
        not_negative(Campaign, "budget", self.budget)
        not_negative(Campaign, "actual_cost", self.actual_cost)


class Lead(Timestamps, SoftDelete, Versioned, Owned, db.Model):
    """营销线索: a company met through a campaign (or otherwise), worked on by marketing and
    handed to an account manager (``assigned_to``), until converted or disqualified."""

    __tablename__ = "lead"
    # in scope for its owner (marketing) and for the account manager it is assigned to
    __scope_owner__ = ("owner_id", "assigned_to_id")
    __table_args__ = (
        *base.list_indexes("lead", "created_at", "company_name", "contact_name"),
        # the list's filters, partial on live rows (what the list shows); the foreign keys
        # keep single-column indexes for their own checks, which read deleted rows too
        *base.filter_indexes(
            "lead", "created_at", live=("campaign_id", "source_id", "owner_id", "assigned_to_id", "status")
        ),
        # only the rows of a running import (see clients.import_job_id)
        db.Index(
            "ix_lead_import_job_id",
            "import_job_id",
            sqlite_where=text("import_job_id IS NOT NULL"),
            postgresql_where=text("import_job_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="RESTRICT"), index=True, info=label("Campaign")
    )
    company_name: Mapped[str] = mapped_column(String(200), info=label("Company name"))
    name_key: Mapped[str] = mapped_column(String(200), index=True, default="", info=label("Name key"))
    contact_name: Mapped[str] = mapped_column(String(60), info=label("Contact"))
    mobile: Mapped[str | None] = mapped_column(String(20), index=True, info=label("Mobile", check=validators.mobile))
    email: Mapped[str | None] = mapped_column(String(120), index=True, info=label("E-mail", check=validators.email))
    uscc: Mapped[str | None] = mapped_column(
        String(18), index=True, info=label("Unified social credit code", check=validators.uscc)
    )
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_source.id", ondelete="RESTRICT"), index=True, info=label("Lead source")
    )
    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Account manager")
    )
    status: Mapped[str] = mapped_column(
        String(12), default="new", nullable=False, info=label("Status", choices=LEAD_STATUSES)
    )
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    disqualified_reason: Mapped[str | None] = mapped_column(Text, info=label("Reason disqualified"))
    converted_client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Converted to client")
    )
    converted_linkman_id: Mapped[int | None] = mapped_column(
        ForeignKey("linkmans.id", ondelete="SET NULL"), index=True, info=label("Converted to contact")
    )
    converted_opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="SET NULL"), index=True, info=label("Converted to opportunity")
    )
    converted_by_id: Mapped[int | None] = user_fk("Converted by")
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Converted at"))
    #: set while the import job that creates the row runs (models/imports/job.py)
    import_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), info=label("Import job")
    )

    campaign = relationship(Campaign, info=label("Campaign"))
    source = relationship(ClientSource, info=label("Lead source"))
    owner = relationship(User, foreign_keys="Lead.owner_id", info=label("Owner"))
    assigned_to = relationship(User, foreign_keys=[assigned_to_id], info=label("Account manager"))
    converted_client = relationship(Client, info=label("Converted to client"))
    converted_linkman = relationship(Linkman, info=label("Converted to contact"))
    converted_opportunity = relationship("Opportunity", info=label("Converted to opportunity"))
    converted_by = relationship(User, foreign_keys=[converted_by_id], info=label("Converted by"))

    def __str__(self) -> str:
        return f"{self.company_name} · {self.contact_name}" if self.contact_name else (self.company_name or "")

    def check_rules(self) -> None:
        """Keep the name key in step with the company name."""
        self.name_key = normalise_name(self.company_name)


# ----------------------------------------------------------------------- workflows
CAMPAIGN = Workflow(
    "campaign",
    dict(CAMPAIGN_STATUSES),
    [
        Transition("start", _l("Start campaign"), ("planned",), "running", "edit"),
        Transition("finish", _l("Finish campaign"), ("running",), "finished", "edit"),
    ],
)
register(Campaign, CAMPAIGN)


def _disqualify(lead, actor, comment=None, **_) -> str:
    lead.disqualified_reason = comment
    return "disqualified"


LEAD = Workflow(
    "lead",
    dict(LEAD_STATUSES),
    [
        Transition("contact", _l("Mark as contacted"), ("new",), "contacted", "edit"),
        Transition("qualify", _l("Qualify"), ("new", "contacted"), "qualified", "edit"),
        Transition(
            "disqualify",
            _l("Disqualify"),
            OPEN_LEAD,
            "disqualified",
            "edit",
            comment_required=True,
            decide=_disqualify,
        ),
    ],
    locked=("converted",),
)
register(Lead, LEAD)


# ------------------------------------------------------------------ duplicate guard
def find_lead_duplicates(company_name, uscc=None, mobile=None, email=None, exclude_id=None):
    """Open live leads (new, contacted, qualified) that look like the same company: the same
    USCC, normalised company name, mobile or e-mail. Returns [(lead, [reasons])]; one
    indexed query per rule, as :func:`models.customers.find_duplicates`."""
    live = (Lead.live(), Lead.status.in_(OPEN_LEAD))
    rules = []
    if uscc:
        rules.append((_l("same unified social credit code"), Lead.uscc == uscc.strip().upper()))
    if normalise_name(company_name):
        rules.append((_l("same company name"), Lead.name_key == normalise_name(company_name)))
    if mobile:
        rules.append((_l("same contact mobile"), Lead.mobile == mobile))
    if email:
        try:
            email = validators.email(email)  # as the column stores it
        except ValueError:
            pass
        rules.append((_l("same e-mail"), Lead.email == email))
    reasons: dict[int, list[str]] = {}
    for reason, clause in rules:
        for lead_id in db.session.execute(select(Lead.id).where(*live, clause).limit(20)).scalars():
            if lead_id != exclude_id and str(reason) not in reasons.setdefault(lead_id, []):
                reasons[lead_id].append(str(reason))
    if not reasons:
        return []
    leads = db.session.execute(select(Lead).where(Lead.id.in_(list(reasons)[:20])).order_by(Lead.id)).scalars()
    return [(lead, reasons[lead.id]) for lead in leads]


def lead_client_duplicates(lead: Lead):
    """The live clients the lead's company may already be (USCC, name, mobile):
    :func:`models.customers.find_duplicates` on the lead's columns."""
    return find_duplicates(lead.company_name, lead.uscc, [lead.mobile] if lead.mobile else [])


# -------------------------------------------------------------------- conversion
class ConversionError(WorkflowError):
    """A conversion was refused; ``matches`` holds the similar clients when that is why."""

    def __init__(self, message: str, matches=()):
        super().__init__(message)
        self.matches = list(matches)


def convert(
    lead: Lead,
    actor: User,
    client: Client | None = None,
    *,
    area_id: int | None = None,
    address: str | None = None,
    phone: str | None = None,
    title: str | None = None,
    stage_id: int | None = None,
    expected_amount=None,
    save_anyway: bool = False,
) -> tuple[Client, Linkman, object]:
    """Convert ``lead`` in the caller's transaction: a new client (from the lead, with
    ``area_id``, ``address`` and ``phone``, which a lead does not hold) or the existing
    ``client`` chosen, a contact under it and an opportunity (owner: the lead's account
    manager, else the actor; source: the lead's source). Who and when are recorded and the
    lead becomes *converted*.

    Refused (:class:`ConversionError`, nothing written — the caller rolls back) when the
    lead is not open, when a new client would duplicate live clients (``matches``; pass
    ``save_anyway`` or choose one of them), and — by the database — when the lead was
    converted meanwhile: the UPDATE that claims the lead (who and when) is conditional on
    the lead being open and unclaimed, and changes no row for the second of two parallel
    conversions."""
    if lead.status not in OPEN_LEAD:
        raise ConversionError(_refused(lead))
    if client is None and not save_anyway:
        matches = lead_client_duplicates(lead)
        if matches:
            raise ConversionError(
                str(
                    _l(
                        "%(record)s: similar clients exist; choose one of them or confirm a new client.",
                        record=str(lead),
                    )
                ),
                matches,
            )
    now = utcnow()
    claimed = db.session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.status.in_(OPEN_LEAD), Lead.converted_at.is_(None))
        .values(converted_by_id=actor.id, converted_at=now, version=Lead.version + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.refresh(lead)
        raise ConversionError(_refused(lead))
    db.session.refresh(lead)
    owner_id = lead.assigned_to_id or actor.id
    audit_note(db.session, "convert_lead", str(lead))
    with db.session.no_autoflush:
        client, linkman, opportunity = _converted_records(lead, actor, client, owner_id, area_id, address, phone)
        opportunity.title = title or _opportunity_title(lead)
        opportunity.stage = db.session.get(SalesStage, stage_id) if stage_id else _first_stage()
        opportunity.expected_amount = expected_amount
    db.session.add_all([linkman, opportunity])
    db.session.flush()
    lead.converted_client_id, lead.converted_linkman_id = client.id, linkman.id
    lead.converted_opportunity_id, lead.status = opportunity.id, "converted"  # in the history
    db.session.flush()
    return client, linkman, opportunity


def _refused(lead: Lead) -> str:
    return str(
        _l(
            "%(record)s is %(state)s: cannot %(action)s it.",
            record=str(lead),
            state=LEAD.state_label(lead.status),
            action=str(_l("Convert")),
        )
    )


def _require(record, columns, model=Client) -> None:
    for column in columns:
        if getattr(record, column) in (None, ""):
            raise ConversionError(
                str(_l("%(field)s: required to convert the lead.", field=column_label(model, column)))
            )


def _first_stage():
    return db.session.execute(
        select(SalesStage).where(SalesStage.is_active.is_(True)).order_by(SalesStage.sort_order, SalesStage.id)
    ).scalar()


def _opportunity_title(lead: Lead) -> str:
    campaign = lead.campaign.name if lead.campaign is not None else None
    return f"{lead.company_name} · {campaign}" if campaign else lead.company_name


def account_manager_clause():
    """SQL on users: to whom leads may be handed — active users whose role takes on
    opportunities (``opportunity.create``), in any department: marketing hands its leads to
    the sales teams."""
    from .auth import Right, Role

    takes = User.role.has(Role.rights.any(Right.code == "opportunity.create"))
    return and_(User.is_active.is_(True), User.live(), takes)


def assign_leads(leads, manager: User) -> tuple[int, list[str]]:
    """Hand leads (already scope-checked by the caller) to the account manager ``manager``;
    converted and disqualified leads are refused by name. Returns (assigned, refusals)."""
    assigned, refused = 0, []
    if db.session.execute(select(User.id).where(User.id == manager.id, account_manager_clause())).first() is None:
        raise WorkflowError(
            str(_l("%(user)s is not an active account manager.", user=manager.name or manager.username))
        )
    for lead in leads:
        if lead.status not in OPEN_LEAD:
            refused.append(
                str(
                    _l(
                        "%(record)s is %(state)s: cannot %(action)s it.",
                        record=str(lead),
                        state=LEAD.state_label(lead.status),
                        action=str(_l("Assign to account manager")),
                    )
                )
            )
            continue
        lead.assigned_to_id = manager.id
        assigned += 1
    audit_note(db.session, "assign_lead", manager.name or manager.username)
    db.session.flush()
    return assigned, refused


def _converted_records(lead, actor, client, owner_id, area_id, address, phone):
    """The (new or chosen) client, the contact and the opportunity a conversion makes."""
    from .opportunities import Opportunity

    if client is None:
        client = Client(
            name=lead.company_name,
            uscc=lead.uscc,
            email=lead.email,
            area_id=area_id,
            address=address,
            phone=phone or lead.mobile,
            contact_name=lead.contact_name,
            contact_mobile=lead.mobile,
            source_id=lead.source_id,
            owner_id=owner_id,
        )
        _require(client, ("area_id", "address", "phone", "contact_mobile"))
        db.session.add(client)
    linkman = Linkman(
        client=client,
        name=lead.contact_name,
        position=str(_l("Contact")),
        gender="未说明",
        mobile=lead.mobile,
        email=lead.email,
    )
    _require(linkman, ("mobile",), model=Linkman)
    opportunity = Opportunity(
        client=client,
        customer_name=client.name,
        source_id=lead.source_id,
        linkman=lead.contact_name,
        tel=lead.mobile,
        description=lead.notes or str(lead),
        created_by_id=actor.id,
        assigned_to_id=owner_id,
    )
    return client, linkman, opportunity
