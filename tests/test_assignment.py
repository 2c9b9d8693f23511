"""Automatic ticket assignment (models/assignment.py) under the ``service_assignment``
setting: by hand gives None; round-robin picks the agent assigned longest ago (never first);
least-busy the fewest open tickets; ties by id; absent, inactive, other-department and
non-service users are never chosen; sub-departments count."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models.assignment import choose_assignee
from models.auth import Department, Role, SystemConfig, User
from models.lookups import ServiceType
from models.service import ServiceTicket
from tests.factories import lookup, make_client, user


@pytest.fixture
def desk(db_session):
    s = db_session
    service = s.execute(select(Role).where(Role.code == "service")).scalar_one()
    clerk = s.execute(select(Role).where(Role.code == "clerk")).scalar_one()
    top = Department(name="客服部测试")
    team = Department(name="客服一组测试", parent=top)
    elsewhere = Department(name="客服二部测试")
    s.add_all([top, team, elsewhere])
    people = {}
    for name, role, department, extra in (
        ("away", service, top, {"absent": True}),  # lowest id, never assigned, but absent
        ("s1", service, top, {}),
        ("s2", service, top, {}),
        ("s3", service, team, {}),
        ("gone", service, top, {"is_active": False}),
        ("far", service, elsewhere, {}),
        ("desk_clerk", clerk, top, {}),
        ("lead", service, top, {}),
    ):
        people[name] = User(username=f"as_{name}", name=name, role=role, department=department, password_hash="x")
        for key, value in extra.items():
            setattr(people[name], key, value)
        s.add(people[name])
    s.flush()
    people["lead"].absent = True  # the actor: a service lead of 客服部 (not a candidate while away)
    s.commit()
    return people


def give(session, agent, when, status="assigned"):
    row = ServiceTicket(
        type=lookup(session, ServiceType, "咨询"),
        title="t",
        client=make_client(session, "account_manager"),
        request="x",
        created_by=user(session, "clerk"),
        assigned_to=agent,
        assigned_at=when,
        status=status,
    )
    session.add(row)
    session.commit()
    return row


def setting(session, value):
    session.execute(select(SystemConfig).where(SystemConfig.name == "service_assignment")).scalar_one().value = value
    session.commit()


def day(n):
    return datetime(2026, 11, n, 10, tzinfo=UTC)


def test_by_hand_gives_no_one(db_session, desk):
    assert choose_assignee(None, desk["lead"]) is None  # the seeded default is manual
    setting(db_session, "round_robin")
    assert choose_assignee(None, desk["lead"]) is not None
    setting(db_session, "manual")
    assert choose_assignee(None, desk["lead"]) is None


def test_round_robin_never_assigned_first_then_the_longest_ago(db_session, desk):
    setting(db_session, "round_robin")
    give(db_session, desk["s1"], day(5))
    give(db_session, desk["s2"], day(3))
    give(db_session, desk["s2"], day(1), status="handled")  # s2's last assignment is the 3rd
    # s3 (in the sub-department) never had one; "away" neither, but is absent
    assert choose_assignee(None, desk["lead"]) == desk["s3"]
    give(db_session, desk["s3"], day(6))
    assert choose_assignee(None, desk["lead"]) == desk["s2"]
    give(db_session, desk["s2"], day(7))
    assert choose_assignee(None, desk["lead"]) == desk["s1"]
    desk["away"].absent = False
    db_session.commit()
    assert choose_assignee(None, desk["lead"]) == desk["away"]  # back: never assigned, lowest id


def test_least_busy_counts_open_tickets_only(db_session, desk):
    setting(db_session, "least_busy")
    assert choose_assignee(None, desk["lead"]) == desk["s1"]  # all at 0: the lowest id
    give(db_session, desk["s1"], day(1))
    give(db_session, desk["s1"], day(2), status="waiting")
    give(db_session, desk["s2"], day(1))
    for n in range(3):
        give(db_session, desk["s3"], day(n + 1), status="handled")
    assert choose_assignee(None, desk["lead"]) == desk["s3"]  # 0 open (3 handled)
    give(db_session, desk["s3"], day(4))
    give(db_session, desk["s3"], day(5))
    assert choose_assignee(None, desk["lead"]) == desk["s2"]  # s1 2, s2 1, s3 2
    give(db_session, desk["s2"], day(6))
    assert choose_assignee(None, desk["lead"]) == desk["s1"]  # 2 each: the lowest id


def test_only_the_actors_department_tree(db_session, desk):
    setting(db_session, "least_busy")
    team_lead = User(
        username="as_team_lead", name="组长", role=desk["s3"].role, department=desk["s3"].department, password_hash="x"
    )
    db_session.add(team_lead)
    db_session.commit()
    # from the sub-department: s3 and the team lead only (s3 has the lower id)
    assert choose_assignee(None, team_lead) == desk["s3"]
    desk["s3"].absent = True
    db_session.commit()
    assert choose_assignee(None, team_lead) == team_lead
    assert choose_assignee(None, desk["far"]) == desk["far"]
    assert choose_assignee(None, desk["lead"]) not in (desk["far"], desk["gone"], desk["desk_clerk"], desk["away"])


def test_the_assign_step_left_empty_follows_the_setting(db_session, desk):
    from models.workflow import perform

    setting(db_session, "least_busy")
    give(db_session, desk["s1"], day(1))
    row = give(db_session, None, None, status="created")
    perform(row, "assign", desk["lead"])
    db_session.commit()
    assert (row.status, row.assigned_to) == ("assigned", desk["s2"])  # s1 has one open ticket
