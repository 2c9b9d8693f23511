"""Shared pieces the sales module added to the platform: the Percent column type, data
scope through a department column (sales targets), and workflow steps that take a
person (assign to…)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from models.auth import Department
from models.opportunities import Opportunity
from models.orders import Quote
from models.scope import scope_clause
from models.targets import SalesTarget
from models.workflow import WorkflowError, perform
from tests.factories import lookup, make_client, user


def _department(session, name):
    return session.execute(select(Department).where(Department.name == name)).scalar_one()


def test_percent_is_exact_and_refuses_floats(db_session):
    client = make_client(db_session, "account_manager")
    quote = Quote(client=client, owner=client.owner, discount_pct=Decimal("12.35"))
    db_session.add(quote)
    db_session.commit()
    stored = db_session.execute(text("SELECT discount_pct FROM quote WHERE id = :id"), {"id": quote.id}).scalar()
    assert stored == 1235  # hundredths of a percent, an integer
    db_session.expire_all()
    assert db_session.get(Quote, quote.id).discount_pct == Decimal("12.35")
    for bad in (12.5, "1.234"):
        quote.discount_pct = bad
        with pytest.raises(StatementError):
            db_session.flush()
        db_session.rollback()


@pytest.mark.parametrize(
    "viewer, expected",
    [
        # own scope: my target and my department's; department scope: the subtree's users and departments
        ("account_manager", {"user:account_manager", "dept:销售一部"}),
        ("am_other", {"user:am_other", "dept:销售二部"}),
        ("sales_director", {"user:account_manager", "user:am_team", "dept:销售一部"}),
        (
            "director_top",
            {"user:account_manager", "user:am_team", "user:am_other", "dept:销售一部", "dept:销售二部", "dept:销售部"},
        ),
        (
            "admin",
            {"user:account_manager", "user:am_team", "user:am_other", "dept:销售一部", "dept:销售二部", "dept:销售部"},
        ),
    ],
)
def test_sales_targets_are_scoped_by_user_and_department(db_session, viewer, expected):
    for name in ("account_manager", "am_team", "am_other"):
        db_session.add(SalesTarget(user=user(db_session, name), month="2026-11", amount=Decimal("100000.00")))
    for name in ("销售一部", "销售二部", "销售部"):
        db_session.add(
            SalesTarget(department=_department(db_session, name), month="2026-11", amount=Decimal("500000.00"))
        )
    db_session.commit()
    query = select(SalesTarget)
    clause = scope_clause(SalesTarget, user(db_session, viewer))
    if clause is not None:
        query = query.where(clause)
    seen = {
        f"user:{t.user.username}" if t.user else f"dept:{t.department.name}"
        for t in db_session.execute(query).scalars()
    }
    assert seen == expected


def test_assign_takes_the_chosen_person_and_records_the_time(db_session):
    from models.lookups import SalesStage

    opportunity = Opportunity(
        customer_name="某公司",
        title="ERP 升级",
        description="需求",
        created_by=user(db_session, "sales_director"),
        stage=lookup(db_session, SalesStage, "需求确认"),
    )
    db_session.add(opportunity)
    db_session.commit()
    assert opportunity.success_rate == 30 and opportunity.status == "unassigned"
    director = user(db_session, "sales_director")
    with pytest.raises(WorkflowError, match="choose the person"):
        perform(opportunity, "assign", director)
    db_session.rollback()
    perform(opportunity, "assign", director, assignee=user(db_session, "account_manager"))
    db_session.commit()
    assert opportunity.status == "assigned"
    assert opportunity.assigned_to.username == "account_manager" and opportunity.assigned_at is not None


def test_documents_refer_to_an_opportunity_or_quote_of_their_own_client(db_session):
    from datetime import date

    from models.customers import Contract
    from models.lookups import ContractType, SalesStage
    from models.orders import Order

    mine, other = make_client(db_session, "account_manager"), make_client(db_session, "account_manager")
    opportunity = Opportunity(
        client=other,
        title="扩容",
        description="需求",
        created_by=user(db_session, "admin"),
        stage=lookup(db_session, SalesStage),
    )
    foreign_quote = Quote(client=other, owner=other.owner)
    db_session.add_all([opportunity, foreign_quote])
    db_session.commit()
    documents = [
        ("Opportunity", Quote(client=mine, owner=mine.owner, opportunity_id=opportunity.id)),
        (
            "Opportunity",
            Contract(
                client=mine,
                owner=mine.owner,
                opportunity=opportunity,
                number="HT-X-1",
                name="合同",
                type=lookup(db_session, ContractType),
                starts_on=date(2026, 1, 1),
                ends_on=date(2026, 12, 31),
                amount=Decimal("100.00"),
            ),
        ),
        ("Quote", Order(client=mine, owner=mine.owner, quote=foreign_quote)),
    ]
    for field, document in documents:
        db_session.add(document)
        with pytest.raises(ValueError, match=f"^{field}: .*another client"):
            db_session.flush()
        db_session.rollback()
    # the same documents for the opportunity's / quote's own client are fine
    db_session.add_all(
        [
            Quote(client=other, owner=other.owner, opportunity_id=opportunity.id),
            Order(client=other, owner=other.owner, quote_id=foreign_quote.id),
        ]
    )
    db_session.commit()


def test_churn_detection_as_of_a_day_ignores_later_orders(db_session):
    """``detect_churn(today=D)`` judges the client as it stood on D: an order placed after D
    does not hide the silence before it (seed-demo builds the warning history this way)."""
    from datetime import date

    from models.churn import ClientLoss, detect_churn
    from models.orders import Order

    client = make_client(db_session, "account_manager")
    client.created_at = client.created_at.replace(year=2024)
    for day in (date(2025, 1, 10), date(2026, 3, 1)):
        db_session.add(Order(client=client, owner=client.owner, ordered_on=day, status="completed"))
    db_session.commit()
    assert detect_churn(today=date(2025, 7, 8), days=180, client_ids=[client.id]) == 0  # 179 days
    assert detect_churn(today=date(2025, 7, 9), days=180, client_ids=[client.id]) == 1  # 180 days
    warning = db_session.execute(select(ClientLoss).where(ClientLoss.client_id == client.id)).scalar_one()
    assert (warning.last_order_on, warning.detected_on) == (date(2025, 1, 10), date(2025, 7, 9))
