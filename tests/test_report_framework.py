"""The report framework (reports/framework.py, views/reports.py): every declared report gets
a page, a right ``report.<slug>`` seeded by its groups (SPEC §6), a menu entry for holders
only, 403 for the others; filters parse with named errors; an upgraded database gets the
rights by migration 0013 and ``flask seed``."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models.auth import Right, Role
from reports.framework import ROLE_GROUPS, parse
from reports.registry import REPORTS

ROLES = ["admin", "executive", "sales_director", "account_manager", "clerk", "finance", "service", "marketing"]

#: SPEC §6 "reports, dashboard": who holds which report (receivables: issue 11 item 7)
HOLDERS = {
    "receivables": {"admin", "executive", "finance", "sales_director", "account_manager"},
    "contribution": {"admin", "executive", "sales_director", "account_manager"},
    "composition": {"admin", "executive", "sales_director", "account_manager"},
    "churn": {"admin", "executive", "sales_director", "account_manager"},
    "funnel": {"admin", "executive", "sales_director", "account_manager"},
    "performance": {"admin", "executive", "sales_director", "account_manager"},
    "service": {"admin", "executive", "service"},  # issue 12 item 6
    "campaigns": {"admin", "executive", "marketing"},  # issue 13 item 6
}


def role_rights(session, code) -> set[str]:
    role = session.execute(select(Role).where(Role.code == code)).scalar_one()
    return {r.code for r in role.rights if r.code.startswith("report.")}


def test_every_report_is_declared_with_its_holders():
    assert {r.slug for r in REPORTS} == set(HOLDERS)
    for report in REPORTS:
        assert report.right == f"report.{report.slug}" and report.endpoint == f"reports_{report.slug}"
        assert set(report.groups) <= set().union(*ROLE_GROUPS.values())


def test_seeded_rights_follow_the_groups(db_session):
    for role in ROLES:
        want = {f"report.{slug}" for slug, holders in HOLDERS.items() if role in holders}
        assert role_rights(db_session, role) == want, role


@pytest.mark.parametrize("role", ROLES)
def test_menu_and_right_check_for_every_report(client_as, role):
    web = client_as(role)
    menu = web.get("/admin/?lang=en").get_data(as_text=True)
    for slug, holders in HOLDERS.items():
        url = f"/admin/reports/{slug}/"
        assert (f'href="{url}"' in menu) == (role in holders), (role, slug)
        assert web.get(url).status_code == (200 if role in holders else 403), (role, slug)


def test_anonymous_goes_to_login(app):
    response = app.test_client().get("/admin/reports/contribution/?format=csv")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_unknown_download_format_is_refused(client_as):
    assert client_as("executive").get("/admin/reports/contribution/?format=doc").status_code == 400


def test_parse_names_bad_values_and_swaps_a_reversed_period(app):
    report = next(r for r in REPORTS if r.slug == "contribution")
    with app.test_request_context():
        values, errors = parse(
            report.fields,
            {"date_from": "2026-09-30", "date_to": "2026-07-01", "owner": "x1", "cut_a": "101", "area": "3"},
            date(2026, 12, 1),
        )
    assert values.date_from == date(2026, 7, 1) and values.date_to == date(2026, 9, 30)
    assert values.owner is None and values.cut_a == 80 and values.area == 3  # invalid → the default
    assert len(errors) == 3 and any("x1" in e for e in errors) and any("101" in e for e in errors)


def test_defaults_are_this_year_to_today(app):
    report = next(r for r in REPORTS if r.slug == "contribution")
    with app.test_request_context():
        values, errors = parse(report.fields, {}, date(2026, 12, 1))
    assert errors == [] and values.date_from == date(2026, 1, 1) and values.date_to == date(2026, 12, 1)
    assert (values.cut_a, values.cut_b, values.owner) == (80, 15, None)


def test_upgrade_path_for_an_existing_database(app, db_session):
    """A database seeded before the framework: the sales roles lack report.receivables and
    the contribution right does not exist. Migration 0013 grants the first, ``flask seed``
    creates the second and grants it by the matrix; a second run changes nothing."""
    from flask_migrate import downgrade, upgrade

    from seed import seed_reference

    s = db_session
    s.execute(
        Right.__table__.delete().where(
            Right.code.in_(
                ["report.contribution", "report.composition", "report.churn", "report.funnel", "report.performance"]
            )
        )
    )
    s.commit()
    with app.app_context():
        downgrade(revision="0012_filter_indexes")
    s.expire_all()
    assert role_rights(s, "sales_director") == set() and role_rights(s, "account_manager") == set()
    s.commit()
    with app.app_context():
        upgrade()
    s.expire_all()
    assert role_rights(s, "account_manager") == {"report.receivables"}
    assert seed_reference()["rights"] == 5
    s.commit()
    for role in ROLES:
        want = {f"report.{slug}" for slug, holders in HOLDERS.items() if role in holders}
        assert role_rights(s, role) == want, role
    assert seed_reference()["rights"] == 0
