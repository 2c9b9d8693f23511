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
STATUSES = [("archived", 64), ("handled", 14), ("assigned", 9), ("waiting", 5), ("created", 8)]
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
            return at.replace(hour=rng.randint(1, 10), minute=rng.randint(0, 59))  # UTC: 09–18 local


def ticket_rows(rng, clients, agents, creators, types, now) -> list[dict]:
    start = now - timedelta(days=365 * YEARS)
    rows = []
    for client_id, since in clients:
        if rng.random() >= YEARS / 8:
            continue
        begin = max(start, since) if since and since < now - timedelta(days=21) else start
        for _ in range(1 + (rng.random() < 0.25)):
            rows.append(_ticket(rng, client_id, agents, creators, types, begin, now))
    return rows


def _ticket(rng, client_id, agents, creators, types, start, now) -> dict:
    kind = "投诉" if rng.random() < 0.15 else rng.choice(["咨询", "建议", "售后", "售后"])
    status = _pick(rng, STATUSES)
    created = _created_at(rng, now - timedelta(days=20) if status in ("created", "assigned", "waiting") else start, now)
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
        "sla_state": "running",
        "sla_warned": 0,
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
        sla_state="met" if hours <= 24 else "breached",
        sla_seconds_used=int(hours * 3600 * 0.4),
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
    for start in range(0, len(rows), 5000):
        bulk.insert(ServiceTicket.__table__, rows[start : start + 5000])
    # lead: models.sla.recompute(session, <the tickets written>, now) — the SLA targets and states
    return {"service tickets": len(rows)}
