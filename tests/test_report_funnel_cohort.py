"""销售漏斗, cohort mode (/admin/reports/funnel/?mode=cohort, issue 11 item 2): the
opportunities created in a period, how far each got and how long it spent per stage, from
the audit history of its stage — on a fixed history written by real edits (the audit
hooks, the workflow's win / lose) at times set by the test's clock, against durations
computed by hand; the drill-through of the current-stage figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.conftest import report_table as rows
from tests.factories import make_opportunity, stage, user

URL = "/admin/reports/funnel/?mode=cohort&date_from=2026-11-01&date_to=2026-11-30&lang=en"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
NAME = re.compile(r"队列\w号有限公司")

#: name: (created after T0 (days), [(days after T0, new stage)], end: None open / ("win"|"lose", day))
HISTORY = {
    "A": (0, [(2, "需求确认"), (5, "方案报价")], None),
    "B": (1, [], None),  # never moved: its whole life so far in its first stage
    "C": (0, [(1, "需求确认")], ("win", 4)),
    "D": (0, [(1, "初步接洽"), (3, "需求确认")], ("lose", 6)),  # back and forth
    "E": (-12, [], None),  # created before the period: not in the cohort
}
FIRST = {"A": "初步接洽", "B": "初步接洽", "C": "初步接洽", "D": "需求确认", "E": "初步接洽"}
#: by hand: stage → (reached, still there, moved on, won, lost, days per opportunity)
EXPECTED = {
    "初步接洽": (4, 1, 3, 0, 0, [2, 9, 1, 2]),  # A 0→2, B 1→10 (now), C 0→1, D 1→3
    "需求确认": (3, 0, 1, 1, 1, [3, 3, 4]),  # A 2→5, C 1→4 (won), D 0→1 + 3→6 (lost)
    "方案报价": (1, 1, 0, 0, 0, [5]),  # A 5→10 (now)
    "谈判审核": (0, 0, 0, 0, 0, []),
}


@pytest.fixture
def history(db_session, monkeypatch):
    """The opportunities of HISTORY, each edit at its own time (the audit log's and the
    workflow's clock set by the test), the report's now = NOW."""
    import models.audit
    import models.opportunities
    from models import clock
    from models.workflow import perform

    at = {"now": T0}
    monkeypatch.setattr(models.audit, "utcnow", lambda: at["now"])
    monkeypatch.setattr(models.opportunities, "utcnow", lambda: at["now"])
    monkeypatch.setattr(clock, "now", lambda: NOW)
    s = db_session
    made = {}
    for name, (created, _, _) in HISTORY.items():
        at["now"] = T0 + timedelta(days=created)
        made[name] = make_opportunity(
            s,
            assigned_to="account_manager",
            stage_name=FIRST[name],
            customer_name=f"队列{name}号有限公司",
            created_at=at["now"],
        )
    events = sorted(
        [(day, name, new) for name, (_, moves, _) in HISTORY.items() for day, new in moves]
        + [(end[1], name, end[0]) for name, (_, _, end) in HISTORY.items() if end]
    )
    for day, name, what in events:
        at["now"] = T0 + timedelta(days=day)
        opportunity = made[name]
        if what in ("win", "lose"):
            perform(opportunity, what, user(s, "sales_director"), comment="价格" if what == "lose" else None)
        else:
            opportunity.stage = stage(s, what)
        s.commit()
    return made


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / Decimal(2)


def test_cohort_stages_and_durations_from_the_audit_history(history, client_as):
    from models.audit import AuditLog

    web = client_as("executive")
    got = rows(web.get(URL).get_data(as_text=True))
    assert list(got) == list(EXPECTED)
    for name, (reached, still, moved, won, lost, spent) in EXPECTED.items():
        row = got[name]
        counts = tuple(int(row[key][0]) for key in ("reached", "still", "moved", "won", "lost"))
        assert counts == (reached, still, moved, won, lost), name
        if spent:
            average = (Decimal(sum(spent)) / len(spent)).quantize(Decimal("0.01"))
            assert Decimal(row["average"][0]) == average, name
            assert Decimal(row["median"][0]) == Decimal(median([Decimal(d) for d in spent])).quantize(Decimal("0.01"))
        else:
            assert row["average"][0] == row["median"][0] == "—"
    assert got["初步接洽"]["average"][0] == "3.50" and got["初步接洽"]["median"][0] == "2.00"
    # the history really is the audit log's: a stage change of A is there with its time
    with web.application.app_context():
        from models import db

        changes = db.session.query(AuditLog).filter_by(table_name="sal_chance", record_id=history["A"].id).all()
        moved = [c for c in changes if (c.changes or {}).get("stage_id", [None])[0] is not None]
        assert [c.at.replace(tzinfo=UTC) for c in moved] == [T0 + timedelta(days=2), T0 + timedelta(days=5)]


def test_cohort_drill_through_of_the_current_stage(history, client_as):
    web = client_as("executive")
    got = rows(web.get(URL).get_data(as_text=True))
    listed = lambda url: set(NAME.findall(web.get(url + "&lang=en").get_data(as_text=True)))  # noqa: E731
    assert listed(got["初步接洽"]["still"][1]) == {"队列B号有限公司"}
    assert listed(got["方案报价"]["still"][1]) == {"队列A号有限公司"}
    assert listed(got["需求确认"]["won"][1]) == {"队列C号有限公司"}
    assert listed(got["需求确认"]["lost"][1]) == {"队列D号有限公司"}
    assert got["初步接洽"]["reached"][1] is None  # no list filter holds the stage history


def test_cohort_scope_and_downloads(history, client_as):
    import csv
    import io

    assert int(rows(client_as("am_other").get(URL).get_data(as_text=True))["初步接洽"]["reached"][0]) == 0
    web = client_as("executive")
    lines = list(csv.reader(io.StringIO(web.get(URL + "&format=csv").data.decode("utf-8-sig"))))
    at = next(i for i, line in enumerate(lines) if line[:2] == ["Sales stage", "Reached"])
    assert [line[:6] for line in lines[at + 1 : at + 3]] == [
        ["初步接洽", "4", "1", "3", "0", "0"],
        ["需求确认", "3", "0", "1", "1", "1"],
    ]
