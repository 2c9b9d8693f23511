"""Opportunities (销售机会, SPEC §4.4) with their development plans, and the opportunity
workflow (assign, close as won or lost, reopen), performed through :func:`models.workflow.perform`.

Rules live in ``check_rules`` (run before every flush), so views, the CLI, seed-demo and tests
obey them alike.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import clock, db, validators
from .auth import User
from .base import (
    FieldError,
    Money,
    Timestamps,
    UTCDateTime,
    Versioned,
    column_label,
    filter_indexes,
    label,
    list_indexes,
    not_negative,
    user_fk,
    utcnow,
)
from .customers import Client, client_fk
from .lookups import ClientSource, SalesStage
from .search import Searchable
from .workflow import Transition, Workflow, WorkflowError, register

OPPORTUNITY_STATUSES = [
    ("unassigned", _l("Unassigned")),
    ("assigned", _l("Assigned")),
    ("archived", _lp("opportunity", "Archived")),
]  # 已归档 (contracts: 已存档)
OUTCOMES = [("won", _l("Won")), ("lost", _l("Lost"))]


class Opportunity(Timestamps, Versioned, Searchable, db.Model):
    """销售机会: in scope for the person it is assigned to and the person who created it."""

    __tablename__ = "sal_chance"
    __search__ = ("title", "customer_name", "linkman")
    __search_pinyin__ = {"customer_name": "company", "linkman": "person"}
    __scope_owner__ = ("assigned_to_id", "created_by_id")
    #: the sort columns of its list (views/…: column_default_sort, column_sortable_list)
    __table_args__ = list_indexes(
        "sal_chance",
        "title",
        "customer_name",
        "client_id",
        "stage_id",
        "success_rate",
        "expected_amount",
        "expected_close_on",
        "assigned_to_id",
        "status",
        "outcome",
        "created_by_id",
        "created_at",
        soft_delete=False,
    ) + filter_indexes("sal_chance", "id", "source_id")  # its list's other filters are sort columns

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_source.id", ondelete="RESTRICT"), index=True, info=label("Opportunity source")
    )
    client_id: Mapped[int | None] = client_fk()
    customer_name: Mapped[str] = mapped_column(String(200), index=True, info=label("Customer name"))
    title: Mapped[str] = mapped_column(String(200), index=True, info=label("Summary"))
    success_rate: Mapped[int] = mapped_column(Integer, info=label("Success rate (%)", minimum=0, maximum=100))
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("system_stage.id", ondelete="RESTRICT"), index=True, info=label("Sales stage")
    )
    expected_amount: Mapped[Decimal | None] = mapped_column(Money(), info=label("Expected amount"))
    expected_close_on: Mapped[date | None] = mapped_column(Date, index=True, info=label("Expected close date"))
    linkman: Mapped[str | None] = mapped_column(String(60), index=True, info=label("Contact"))
    tel: Mapped[str | None] = mapped_column(String(40), info=label("Contact phone", check=validators.phone))
    description: Mapped[str] = mapped_column(Text, info=label("Opportunity description"))
    competitor: Mapped[str | None] = mapped_column(String(200), info=label("Competitor"))
    created_by_id: Mapped[int] = user_fk("Created by", required=True)
    assigned_to_id: Mapped[int | None] = user_fk("Assigned to")
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Assigned at"))
    status: Mapped[str] = mapped_column(
        String(12), default="unassigned", index=True, info=label("Status", choices=OPPORTUNITY_STATUSES)
    )
    outcome: Mapped[str | None] = mapped_column(String(8), index=True, info=label("Outcome", choices=OUTCOMES))
    lost_reason: Mapped[str | None] = mapped_column(Text, info=label("Reason lost"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Closed at"))

    source = relationship(ClientSource, info=label("Opportunity source"))
    client = relationship(Client, info=label("Client"))
    stage = relationship(SalesStage, info=label("Sales stage"))
    created_by = relationship(User, foreign_keys=[created_by_id], info=label("Created by"))
    assigned_to = relationship(User, foreign_keys=[assigned_to_id], info=label("Assigned to"))
    plans: Mapped[list[DevelopmentPlan]] = relationship(
        back_populates="opportunity",
        cascade="all, delete-orphan",
        order_by="DevelopmentPlan.planned_on",
        info=label("Development plans"),
    )

    def __str__(self) -> str:
        return f"{self.title} ({self.customer_name})" if self.customer_name else (self.title or f"#{self.id}")

    def check_rules(self) -> None:
        """A customer: a name or a client; the success rate defaults from the stage's
        probability and stays within 0–100; the expected amount is not negative; the
        customer name comes from the client when left empty; choosing an assignee on the
        form assigns the opportunity."""
        if not (self.customer_name or "").strip() and self.client is None and self.client_id is None:
            raise FieldError(
                column_label(Opportunity, "customer_name"), str(_l("enter the customer's name or choose a client"))
            )
        if self.success_rate in (None, "") and (self.stage is not None or self.stage_id is not None):
            stage = self.stage or db.session.get(SalesStage, self.stage_id)
            self.success_rate = stage.probability if stage is not None else None
        if self.success_rate is not None and not 0 <= int(self.success_rate) <= 100:
            raise FieldError(column_label(Opportunity, "success_rate"), str(_l("must be between 0 and 100")))
        not_negative(Opportunity, "expected_amount", self.expected_amount)
        if not self.customer_name:
            client = self.client or (db.session.get(Client, self.client_id) if self.client_id else None)
            if client is not None:
                self.customer_name = client.name
        if self.status in (None, "unassigned") and (self.assigned_to_id is not None or self.assigned_to is not None):
            self.status = "assigned"
            self.assigned_at = self.assigned_at or utcnow()


class DevelopmentPlan(Timestamps, db.Model):
    """客户开发计划 (inline under an opportunity; in scope through it)."""

    __tablename__ = "sal_plan"
    __scope_parent__ = "opportunity"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="CASCADE"), index=True, info=label("Opportunity")
    )
    planned_on: Mapped[date] = mapped_column(Date, index=True, info=label("Plan date"))
    todo: Mapped[str] = mapped_column(Text, info=label("Plan content"))
    result: Mapped[str | None] = mapped_column(Text, info=label("Result"))
    executed_on: Mapped[date | None] = mapped_column(Date, info=label("Executed on"))

    opportunity: Mapped[Opportunity] = relationship(back_populates="plans", info=label("Opportunity"))

    def __str__(self) -> str:
        return f"{self.planned_on or ''} {(self.todo or '')[:30]}".strip()

    def check_rules(self) -> None:
        """A result is dated: executed today when no date was given."""
        if self.result and self.executed_on is None:
            self.executed_on = clock.today()


# ----------------------------------------------------------------------- workflow
def _assign(record, actor, assignee=None, **_) -> str:
    if assignee is None:
        raise WorkflowError(str(_l("%(record)s: choose the person to assign it to.", record=str(record))))
    if not assignee.is_active:
        raise WorkflowError(
            str(_l("%(record)s: %(user)s is disabled and cannot take it.", record=str(record), user=str(assignee)))
        )
    record.assigned_to_id, record.assigned_at = assignee.id, utcnow()
    return "assigned"


def _win(record, actor, **_) -> str:
    record.outcome, record.lost_reason, record.closed_at = "won", None, utcnow()
    record.success_rate = 100
    return "archived"


def _lose(record, actor, comment=None, **_) -> str:
    record.outcome, record.lost_reason, record.closed_at = "lost", comment, utcnow()
    record.success_rate = 0
    return "archived"


def _reopen(record, actor, **_) -> str:
    stage = record.stage or (db.session.get(SalesStage, record.stage_id) if record.stage_id else None)
    record.outcome = record.lost_reason = record.closed_at = None
    record.success_rate = stage.probability if stage is not None else record.success_rate
    return "assigned" if record.assigned_to_id is not None else "unassigned"


OPPORTUNITY = Workflow(
    "opportunity",
    dict(OPPORTUNITY_STATUSES),
    [
        Transition(
            "assign",
            _l("Assign to…"),
            ("unassigned", "assigned"),
            "assigned",
            "assign",
            decide=_assign,
            pick_user="assignee",
        ),
        Transition("win", _l("Close as won"), ("unassigned", "assigned"), "archived", "edit", decide=_win),
        Transition(
            "lose",
            _l("Close as lost"),
            ("unassigned", "assigned"),
            "archived",
            "edit",
            comment_required=True,
            decide=_lose,
        ),
        Transition("reopen", _l("Reopen"), ("archived",), "assigned", "reopen", decide=_reopen),
    ],
    locked=("archived",),
)

register(Opportunity, OPPORTUNITY)
