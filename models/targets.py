"""Sales targets (销售计划) and weekly reports (销售周报) with their items, and the weekly
report workflow (submit, review or send back), performed through :func:`models.workflow.perform`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, String, Text, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .auth import Department, User, department_subtree_ids
from .base import FieldError, Money, Timestamps, UTCDateTime, column_label, format_money, label, user_fk, utcnow
from .opportunities import Opportunity
from .workflow import Transition, Workflow, WorkflowError, register

REPORT_STATUSES = [("draft", _l("Draft")), ("submitted", _l("Submitted")), ("reviewed", _l("Reviewed"))]
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class SalesTarget(Timestamps, db.Model):
    """销售计划: a monthly amount for one user or one department."""

    __tablename__ = "sales_target"
    __scope_owner__ = ("user_id",)
    __scope_department__ = "department_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, info=label("Salesperson")
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True, info=label("Department")
    )
    month: Mapped[str] = mapped_column(String(7), index=True, info=label("Month (YYYY-MM)"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Target amount"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    user = relationship(User, info=label("Salesperson"))
    department = relationship(Department, info=label("Department"))

    __table_args__ = (
        db.UniqueConstraint("user_id", "month", name="uq_sales_target_user_month"),
        db.UniqueConstraint("department_id", "month", name="uq_sales_target_department_month"),
    )

    def __str__(self) -> str:
        return f"{self.month} {self.user or self.department or ''} {format_money(self.amount)}".strip()

    def check_rules(self) -> None:
        """Exactly one of salesperson and department; a month written YYYY-MM; an amount above 0."""
        has_user = self.user is not None or self.user_id is not None
        has_department = self.department is not None or self.department_id is not None
        if has_user == has_department:
            raise FieldError(
                column_label(SalesTarget, "user_id"), str(_l("choose either a salesperson or a department, not both"))
            )
        month = (self.month or "").strip()
        if not MONTH.match(month):
            raise FieldError(column_label(SalesTarget, "month"), str(_l("write the month as YYYY-MM, e.g. 2026-03")))
        self.month = month
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(SalesTarget, "amount"), str(_l("must be greater than 0")))


class WeeklyReport(Timestamps, db.Model):
    """销售周报: written by a salesperson, submitted, reviewed by their sales director."""

    __tablename__ = "weekly_report"
    __scope_owner__ = ("user_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk("Salesperson", required=True)
    week_start: Mapped[date] = mapped_column(Date, index=True, info=label("Week starting (Monday)"))
    summary: Mapped[str | None] = mapped_column(Text, info=label("Summary"))
    status: Mapped[str] = mapped_column(
        String(12), default="draft", index=True, info=label("Status", choices=REPORT_STATUSES)
    )
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Submitted at"))
    reviewed_by_id: Mapped[int | None] = user_fk("Reviewed by")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Reviewed at"))
    review_comment: Mapped[str | None] = mapped_column(Text, info=label("Review comment"))

    user = relationship(User, foreign_keys=[user_id], info=label("Salesperson"))
    reviewed_by = relationship(User, foreign_keys=[reviewed_by_id], info=label("Reviewed by"))
    items: Mapped[list[WeeklyReportItem]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="WeeklyReportItem.id",
        info=label("Report items"),
    )

    __table_args__ = (db.UniqueConstraint("user_id", "week_start", name="uq_weekly_report_user_week"),)

    def __str__(self) -> str:
        return f"{self.user} {self.week_start}" if self.week_start else f"#{self.id}"

    def check_rules(self) -> None:
        """The week starts on a Monday; one report per person and week."""
        if self.week_start is not None and self.week_start.weekday() != 0:
            monday = self.week_start - timedelta(days=self.week_start.weekday())
            raise FieldError(
                column_label(WeeklyReport, "week_start"),
                str(_l("must be a Monday (that week's Monday is %(monday)s)", monday=monday)),
            )
        state = sa_inspect(self)
        moved = state.pending or any(
            state.attrs[key].history.has_changes() for key in ("user", "user_id", "week_start")
        )
        user_id = self.user.id if self.user is not None else self.user_id
        if moved and weekly_report_taken(db.session, user_id, self.week_start, self.id):
            author = self.user or (db.session.get(User, user_id) if user_id is not None else None)
            raise FieldError(
                column_label(WeeklyReport, "week_start"),
                str(
                    _l(
                        "there is already a weekly report of %(user)s for the week of %(week)s",
                        user=str(author or ""),
                        week=self.week_start,
                    )
                ),
            )


def weekly_report_taken(session, user_id: int | None, week_start: date | None, exclude_id: int | None = None) -> bool:
    """Whether ``user_id`` has a weekly report for the week of ``week_start`` already
    (other than ``exclude_id``): one report per person and week."""
    if user_id is None or week_start is None:
        return False
    with session.no_autoflush:
        return (
            session.execute(
                select(WeeklyReport.id).where(
                    WeeklyReport.user_id == user_id,
                    WeeklyReport.week_start == week_start,
                    WeeklyReport.id != (exclude_id or 0),
                )
            ).first()
            is not None
        )


class WeeklyReportItem(db.Model):
    """销售周报内容: one line per opportunity."""

    __tablename__ = "weekly_report_item"
    __scope_parent__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("weekly_report.id", ondelete="CASCADE"), index=True, info=label("Weekly report")
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="SET NULL"), index=True, info=label("Opportunity")
    )
    progress: Mapped[str] = mapped_column(Text, info=label("Progress this week"))
    next_plan: Mapped[str | None] = mapped_column(Text, info=label("Plan for next week"))
    issues: Mapped[str | None] = mapped_column(Text, info=label("Issues to resolve"))
    support_needed: Mapped[str | None] = mapped_column(Text, info=label("Technical support needed"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    report: Mapped[WeeklyReport] = relationship(back_populates="items", info=label("Weekly report"))
    opportunity = relationship(Opportunity, info=label("Opportunity"))

    def __str__(self) -> str:
        return (self.progress or "")[:40]


# ----------------------------------------------------------------------- workflow
def _report_submit(record, actor, **_) -> str:
    if actor.id != record.user_id:
        raise WorkflowError(str(_l("%(record)s: only its author submits a weekly report.", record=str(record))))
    record.submitted_at = utcnow()
    return "submitted"


def _report_review(record, actor, comment=None, **_) -> str:
    """The reviewer is a sales director whose department (or a sub-department) is the
    author's; nobody reviews their own report."""
    author = record.user or db.session.get(User, record.user_id)
    is_director = actor.role is not None and actor.role.code in ("sales_director", "admin")
    if (
        actor.id == record.user_id
        or not is_director
        or (
            actor.role.code != "admin"
            and (author is None or author.department_id not in department_subtree_ids(actor.department_id))
        )
    ):
        raise WorkflowError(
            str(_l("%(record)s: only the sales director of the author's department reviews it.", record=str(record)))
        )
    record.reviewed_by_id, record.reviewed_at, record.review_comment = actor.id, utcnow(), comment
    return "reviewed"


def _report_return(record, actor, comment=None, **_) -> str:
    _report_review(record, actor, comment)
    record.reviewed_by_id = record.reviewed_at = None
    return "draft"


WEEKLY_REPORT = Workflow(
    "weekly_report",
    dict(REPORT_STATUSES),
    [
        Transition("submit", _l("Submit"), ("draft",), "submitted", "edit", decide=_report_submit),
        Transition(
            "review", _l("Review"), ("submitted",), "reviewed", "review", comment_required=True, decide=_report_review
        ),
        Transition(
            "send_back",
            _l("Send back"),
            ("submitted",),
            "draft",
            "review",
            comment_required=True,
            decide=_report_return,
        ),
    ],
    locked=("submitted", "reviewed"),
)

register(WeeklyReport, WEEKLY_REPORT)
