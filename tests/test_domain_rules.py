"""Domain rules that hold without a view (issue 9, the domain layer): each is enforced at
flush or in a domain function, so the CLI, imports and tests meet the same refusal as a
form. One app for the module; every test works in one transaction, rolled back after it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select, update

from models import db
from models.auth import SystemConfig
from models.base import FieldError, utcnow
from models.churn import ClientLoss, detect_churn
from models.contracts import CONTRACT
from models.customers import Appointment
from models.lookups import AppointmentType, SalesStage
from models.opportunities import Opportunity
from models.orders import QUOTE, Quote, QuoteLine
from models.products import Product
from models.purchasing import EXPENSE_CONTRACT, PURCHASE_REQUEST
from models.reminders import DONE, TODO, due_count, due_reminders
from models.targets import WeeklyReport
from models.uploads import remember_written_file
from models.workflow import WorkflowError, approve, perform, redraft
from tests.conftest import module_app
from tests.factories import add_children, lookup, make_client, user

MONDAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def domain_app(template_db, tmp_path_factory):
    with module_app(template_db, tmp_path_factory) as app:
        yield app


@pytest.fixture
def session(domain_app):
    """The app's session in English; whatever a test wrote is rolled back after it."""
    with domain_app.app_context(), force_locale("en"):
        yield db.session
        db.session.rollback()
        db.session.remove()


# ------------------------------------------------------------------------ opportunities
def _opportunity(session, **fields) -> Opportunity:
    return Opportunity(
        title="ERP 升级",
        description="客户需要升级 ERP 系统",
        created_by=user(session, "sales_director"),
        stage=lookup(session, SalesStage),
        **fields,
    )


@pytest.mark.parametrize("name", [None, "", "   "])
def test_opportunity_needs_a_customer_name_or_a_client(session, name):
    session.add(_opportunity(session, customer_name=name))
    with pytest.raises(FieldError) as refused:
        session.flush()
    assert (refused.value.field, refused.value.message) == (
        "Customer name",
        "enter the customer's name or choose a client",
    )


def test_opportunity_with_a_client_takes_its_name(session):
    client = make_client(session, "account_manager")
    opportunity = _opportunity(session, client=client)
    session.add(opportunity)
    session.flush()
    assert opportunity.customer_name == client.name


# ------------------------------------------------------------------------------- churn
def _warning(client, status="warning") -> ClientLoss:
    return ClientLoss(client=client, owner_id=client.owner_id, detected_on=date(2026, 11, 1), status=status)


def test_two_open_warnings_in_one_flush_are_refused(session):
    client = make_client(session, "account_manager", name="两次预警公司")
    session.add_all([_warning(client), _warning(client)])
    with pytest.raises(FieldError, match="两次预警公司 already has an open churn warning"):
        session.flush()


@pytest.mark.parametrize("status", ["warning", "delayed"])
def test_a_second_open_warning_is_refused(session, status):
    client = make_client(session, "account_manager", name="已有预警公司")
    session.add(_warning(client, status))
    session.flush()
    session.add(_warning(client))
    with pytest.raises(FieldError) as refused:
        session.flush()
    assert refused.value.field == "Client"
    assert refused.value.message == "已有预警公司 already has an open churn warning."


def test_after_a_confirmed_loss_a_new_warning_may_open(session):
    client = make_client(session, "account_manager")
    session.add(_warning(client, "confirmed"))
    session.flush()
    session.add(_warning(client))
    session.flush()  # not refused: the earlier one is settled
    open_ones = session.execute(
        select(ClientLoss).where(ClientLoss.client_id == client.id, ClientLoss.status == "warning")
    ).scalars()
    assert len(list(open_ones)) == 1


def test_detect_churn_leaves_a_client_with_an_open_warning_alone(session):
    quiet = make_client(session, "account_manager")
    warned = make_client(session, "account_manager")
    session.add(_warning(warned, "delayed"))
    session.flush()
    later = date.today() + timedelta(days=400)  # both clients are older than churn_days then
    assert detect_churn(today=later, client_ids=[quiet.id, warned.id]) == 1
    assert detect_churn(today=later, client_ids=[quiet.id, warned.id]) == 0  # idempotent
    counts = {
        client.id: len(session.execute(select(ClientLoss.id).where(ClientLoss.client_id == client.id)).all())
        for client in (quiet, warned)
    }
    assert counts == {quiet.id: 1, warned.id: 1}


# ----------------------------------------------------------------------- weekly reports
def test_one_weekly_report_per_person_and_week(session):
    author = user(session, "account_manager")
    session.add(WeeklyReport(user=author, week_start=MONDAY))
    session.flush()
    session.add(WeeklyReport(user=author, week_start=MONDAY))
    with pytest.raises(FieldError) as refused:
        session.flush()
    assert refused.value.field == "Week starting (Monday)"
    assert "there is already a weekly report of" in refused.value.message and str(MONDAY) in refused.value.message


def test_weekly_reports_of_other_people_or_weeks_are_fine_and_moving_onto_a_taken_week_is_not(session):
    author = user(session, "account_manager")
    first = WeeklyReport(user=author, week_start=MONDAY)
    other_week = WeeklyReport(user=author, week_start=MONDAY + timedelta(days=7))
    colleague = WeeklyReport(user=user(session, "am_team"), week_start=MONDAY)
    session.add_all([first, other_week, colleague])
    session.flush()
    other_week.week_start = MONDAY
    with pytest.raises(FieldError, match="already a weekly report"):
        session.flush()


# ---------------------------------------------------------------------------- reminders
def test_due_reminders_of_a_user_at_a_time(session):
    now = utcnow()
    manager, colleague = user(session, "account_manager"), user(session, "am_team")
    live, gone = make_client(session, manager), make_client(session, manager)
    gone.is_deleted = True
    kind = lookup(session, AppointmentType)

    def appointment(client, who, remind_in, status=TODO):
        row = Appointment(
            client=client,
            type=kind,
            user=who,
            status=status,
            content=f"预约 {remind_in}",
            remind_at=now + remind_in,
            scheduled_at=now + timedelta(days=2),
        )
        session.add(row)
        return row

    older = appointment(live, manager, -timedelta(hours=2))
    newer = appointment(live, manager, -timedelta(minutes=5))
    future = appointment(live, manager, timedelta(hours=1))
    appointment(live, manager, -timedelta(hours=3), status=DONE)
    appointment(gone, manager, -timedelta(hours=1))
    theirs = appointment(live, colleague, -timedelta(hours=1))
    session.flush()

    rows = due_reminders(session, manager, now)
    assert [row.id for row in rows] == [older.id, newer.id]  # oldest first; done, deleted client, others' left out
    assert rows[0].client_name == live.name and rows[0].type_name == kind.name
    assert due_count(session, manager, now) == 2
    assert [row.id for row in due_reminders(session, colleague, now)] == [theirs.id]
    later = now + timedelta(hours=2)
    assert [row.id for row in due_reminders(session, manager, later)] == [older.id, newer.id, future.id]
    assert [row.id for row in due_reminders(session, manager, later, limit=1)] == [older.id]


# --------------------------------------------------------------- one approval engine
def test_quote_contract_and_purchasing_share_one_approve_and_one_redraft_step():
    for workflow in (QUOTE, CONTRACT, PURCHASE_REQUEST, EXPENSE_CONTRACT):
        steps = workflow.transitions
        assert steps["redraft"].decide is redraft, workflow.endpoint
        assert steps["approve"].four_eyes and steps["reject"].four_eyes, workflow.endpoint
    for workflow in (QUOTE, PURCHASE_REQUEST, EXPENSE_CONTRACT):
        assert workflow.transitions["approve"].decide is approve, workflow.endpoint


def _submitted_quote(session, submitter):
    product = Product(name="测试产品", unit="台", price=Decimal("100.00"))
    quote = Quote(
        client=make_client(session, "account_manager"),
        owner=user(session, "account_manager"),
        discount_pct=Decimal("30"),  # above the approval threshold: waits for a director
        lines=[QuoteLine(product=product, quantity=1)],
    )
    session.add(quote)
    session.flush()
    assert perform(quote, "submit", user(session, submitter)) == "submitted"
    return quote


def _submitted_contract(session, submitter, amount="1000.00"):
    contract = add_children(session, make_client(session, "account_manager"))["contract"]
    contract.amount = Decimal(amount)
    session.flush()
    assert perform(contract, "submit", user(session, submitter)) == "submitted"
    return contract


@pytest.mark.parametrize("make", [_submitted_quote, _submitted_contract])
def test_four_eyes_approve_reject_and_redraft_alike(session, make):
    own = make(session, "sales_director")
    director = user(session, "sales_director")
    for action in ("approve", "reject"):
        with pytest.raises(WorkflowError, match="you submitted it, so someone else must .*four-eyes rule"):
            perform(own, action, director, "理由")
        assert {t.name for t in own.__workflow__.available(own, director)} & {"approve", "reject"} == set()
    assert own.status == "submitted" and own.approved_by_id is None

    record = make(session, "account_manager")
    assert perform(record, "approve", director, "同意") == "approved"
    assert (record.approved_by_id, record.approval_comment) == (director.id, "同意")

    rejected = make(session, "account_manager")
    assert perform(rejected, "reject", director, "不同意") == "rejected"
    rejected.approved_by_id, rejected.approved_at = director.id, utcnow()  # an earlier approval
    assert perform(rejected, "redraft", user(session, "account_manager")) == "draft"
    assert (rejected.approved_by_id, rejected.approved_at) == (None, None)


def test_the_first_approver_takes_no_second_decision(session):
    session.execute(update(SystemConfig).where(SystemConfig.name == "contract_approval_threshold").values(value="500"))
    contract = _submitted_contract(session, "account_manager")
    director = user(session, "sales_director")
    assert perform(contract, "approve", director, "一审同意") == "submitted"  # waits for an executive
    assert {t.name for t in CONTRACT.available(contract, director)} & {"approve", "reject"} == set()
    with pytest.raises(WorkflowError, match="executive must give the second approval"):
        perform(contract, "approve", director)  # the step's own refusal says what is needed
    with pytest.raises(WorkflowError, match="you approved it already, so someone else must Reject it"):
        perform(contract, "reject", director, "改主意了")
    assert perform(contract, "reject", user(session, "executive"), "金额过高") == "rejected"


# ------------------------------------------------------------------------------ uploads
def test_a_file_written_in_a_transaction_that_does_not_commit_is_removed(session, tmp_path):
    kept, dropped = tmp_path / "kept.pdf", tmp_path / "dropped.pdf"
    for path in (kept, dropped):
        user(session, "clerk")  # the writer's transaction: it read something first
        path.write_bytes(b"%PDF-1.4")
        remember_written_file(session, path)
        if path is kept:
            session.commit()
        else:
            session.rollback()
    assert kept.exists() and not dropped.exists()
