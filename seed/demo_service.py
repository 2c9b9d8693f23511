"""seed-demo's service tickets (issue 12 item 8): two years of tickets, about one per eight
clients a year, more after the Spring Festival (Feb–Mar) and in Q4; every status, reopenings,
complaints (type 投诉, ~15 %), feedback answers whose satisfaction follows the outcome.
Written in bulk (seed/bulk.py) like the rest of seed-demo — not through the workflow, so
demo rows are not audited — with consistent times: created < assigned < first response <
handled < feedback."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from models import db
from models.auth import Role, User
from models.base import utcnow
from models.customers import Client
from models.lookups import ServiceType
from models.service import ServiceTicket

from . import bulk

YEARS = 2
#: month → relative weight (after 春节 and the year-end rush more tickets)
SEASON = {1: 0.8, 2: 1.4, 3: 1.5, 10: 1.3, 11: 1.4, 12: 1.5}
#: the status by the ticket's age: the newest tickets are the open backlog (each open status
#: in turn), the last three weeks' mostly handled, older ones handled or archived
BACKLOG = ("created", "assigned", "waiting", "assigned", "created", "assigned")
WEEKS = [("archived", 45), ("handled", 40), ("assigned", 10), ("waiting", 5)]
OLDER = [("archived", 88), ("handled", 12)]
PRIORITIES = [("low", 20), ("normal", 55), ("high", 18), ("urgent", 7)]
TITLES = {
    "投诉": ["发货延迟投诉", "服务态度投诉", "发票开错投诉", "产品质量投诉"],
    "咨询": ["价格咨询", "交付周期咨询", "合同条款咨询"],
    "建议": ["包装改进建议", "对账流程建议"],
    "售后": ["设备故障报修", "退换货申请", "安装调试"],
}


def _pick(rng, weighted):
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _created_at(rng, start, now):
    span = (now - start).total_seconds()
    while True:
        at = start + timedelta(seconds=rng.random() * span)
        if rng.random() * 1.5 <= SEASON.get(at.month, 1.0):
            at = at.replace(hour=rng.randint(1, 10), minute=rng.randint(0, 59))  # UTC: 09–18 local
            return at if at < now else at - timedelta(days=1)


def ticket_rows(rng, clients, agents, creators, types, now) -> list[dict]:
    start = now - timedelta(days=365 * YEARS)
    raised = []
    for client_id, since in clients:
        if rng.random() >= YEARS / 8:
            continue
        begin = max(start, since) if since and since < now - timedelta(days=21) else start
        for _ in range(1 + (rng.random() < 0.25)):
            raised.append((_created_at(rng, begin, now), client_id))
    raised.sort()
    backlog = max(len(BACKLOG), len(raised) // 25)
    rows = []
    for n, (created, client_id) in enumerate(raised):
        newest = len(raised) - 1 - n
        if newest < backlog:
            status = BACKLOG[newest % len(BACKLOG)]
        else:
            status = _pick(rng, WEEKS if now - created < timedelta(days=21) else OLDER)
        row = _ticket(rng, client_id, status, created, agents, creators, types, now)
        for key in ("assigned_at", "first_response_at", "on_hold_since", "handled_at", "feedback_at", "updated_at"):
            if row.get(key) is not None and row[key] > now:  # the newest tickets: nothing after now
                row[key] = now
        rows.append(row)
    return rows


def _ticket(rng, client_id, status, created, agents, creators, types, now) -> dict:
    kind = "投诉" if rng.random() < 0.15 else rng.choice(["咨询", "建议", "售后", "售后"])
    row = {
        "type_id": types[kind],
        "title": rng.choice(TITLES[kind]),
        "client_id": client_id,
        "priority": "high" if kind == "投诉" and rng.random() < 0.5 else _pick(rng, PRIORITIES),
        "request": "客户来电反映：" + rng.choice(TITLES[kind]),
        "created_by_id": rng.choice(creators),
        "status": status,
        "created_at": created,
        "updated_at": created,
        "reopen_count": 0,
    }
    if status == "created":
        return row
    at = created + timedelta(minutes=rng.randint(5, 240))
    row.update(assigned_to_id=rng.choice(agents), assigned_at=at)
    if status != "assigned" or rng.random() < 0.6:
        at += timedelta(minutes=rng.randint(10, 600))
        row["first_response_at"] = at
    if status in ("assigned", "waiting"):
        row["updated_at"] = at
        if status == "waiting":  # asked the customer after the first response
            row["on_hold_since"] = at
        return row
    hours = rng.expovariate(1 / 20)
    at = row["first_response_at"] + timedelta(hours=hours)
    reopened = rng.random() < 0.08
    row.update(
        handled_by_id=row["assigned_to_id"],
        handled_at=at,
        handling="已联系客户并处理完毕",
        result="问题已解决" if not reopened else "二次处理后解决",
        reopen_count=(1 + (rng.random() < 0.2)) if reopened else 0,
        reopen_reason="客户对首次处理不满意" if reopened else None,
        updated_at=at,
    )
    if status == "archived" and rng.random() < 0.6:
        bad = reopened or hours > 24 or kind == "投诉"
        stars = rng.choices([1, 2, 3, 4, 5], [3, 4, 4, 3, 1] if bad else [1, 1, 3, 8, 12])[0]
        feedback_at = at + timedelta(hours=rng.randint(1, 72))
        row.update(
            satisfaction=stars,
            feedback_reasons=("slow" if hours > 24 else "professional") if rng.random() < 0.7 else None,
            feedback_at=min(feedback_at, now),
            updated_at=min(feedback_at, now),
        )
    return row


def seed_service(seed: int) -> dict[str, int]:
    """Write the demo tickets for the clients there are; returns {"service tickets": n}."""
    rng = random.Random(seed * 7919 + 12)
    session = db.session
    agents = list(session.scalars(select(User.id).join(Role, Role.id == User.role_id).where(Role.code == "service")))
    creators = agents + list(
        session.scalars(select(User.id).join(Role, Role.id == User.role_id).where(Role.code == "clerk"))
    )
    types = dict(session.execute(select(ServiceType.name, ServiceType.id)).all())
    if not agents or not all(name in types for name in TITLES):
        return {}
    clients = session.execute(select(Client.id, Client.created_at).where(Client.live()).order_by(Client.id)).all()
    rows = ticket_rows(rng, clients, agents, creators, types, utcnow())
    rows = with_clocks(session, rows, utcnow())
    for start in range(0, len(rows), 5000):
        bulk.insert(ServiceTicket.__table__, rows[start : start + 5000])
    return {"service tickets": len(rows)}


#: the columns models.sla reads or writes, empty unless the generator set them
CLOCK_COLUMNS = (
    "assigned_to_id",
    "assigned_at",
    "first_response_at",
    "handled_at",
    "on_hold_since",
    "response_due_at",
    "due_at",
    "response_seconds",
    "sla_seconds_used",
    "sla_state",
    "sla_warned",
    "sla_held_seconds",
)


def with_clocks(session, rows: list[dict], now) -> list[dict]:
    """The SLA clocks of the generated rows by the same rules as a ticket written by hand
    (models.sla.recompute over plain objects: the seeded policies, hours and calendar)."""
    from types import SimpleNamespace

    from models.sla import recompute

    keys = dict.fromkeys(CLOCK_COLUMNS)
    for row in rows:  # every row the same keys: bulk.insert takes its columns from the first
        keys.update(dict.fromkeys(row))
    tickets = [SimpleNamespace(**{**keys, **row}) for row in rows]
    recompute(session, tickets, now)
    return [vars(ticket) for ticket in tickets]
