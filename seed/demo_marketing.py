"""seed-demo's marketing (issue 13 item 8): two years of campaigns (about one a month, the
coming ones planned, the current one running, the rest finished) with budgets and actual
costs, their leads in every status, conversions, and the marketing e-mails sent for them
with a per-recipient ledger.

A converted lead is the origin of a demo client created soon after the campaign: the lead
carries the client's company, contact, mobile and e-mail, and records the client, its first
contact and its first opportunity and the client's creation time as its conversion — the
rows ``models.marketing.convert`` makes, so the client's orders after the conversion are the
campaign's won amount (reports/campaigns.py). Written in bulk (seed/bulk.py) like the rest of
seed-demo, not through the workflow; nothing is dated after now (a planned campaign starts in
the coming weeks and has no leads or e-mails yet). Runs once: a database with campaigns is
left as it is.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from models import clock, db
from models.auth import Role, User
from models.base import utcnow
from models.customers import Client, Linkman, normalise_name
from models.lookups import CampaignType, ClientSource
from models.marketing import Campaign, Lead
from models.marketing_mail import EmailLog, EmailUnsubscribe, MarketingEmail
from models.opportunities import Opportunity

from . import bulk

MONTHS = 24
#: type → (themes, locations)
THEMES = {
    "展会": (
        ["工业自动化展", "智能制造博览会", "进出口商品交易会", "数字经济展"],
        ["上海国家会展中心", "深圳会展中心", "广州琶洲展馆"],
    ),
    "研讨会": (
        ["数字化转型研讨会", "供应链管理沙龙", "财税合规讲座", "客户成功分享会"],
        ["北京国贸大酒店", "杭州西湖国宾馆", "成都天府酒店"],
    ),
    "线上推广": (["直播新品发布", "微信公众号推广", "行业网站专题", "短视频投放"], ["线上"]),
    "电话营销": (["老客户回访专项", "季度促销电话营销", "新区域开拓电话营销"], ["呼叫中心"]),
}
FIRMS = ["华信", "瑞丰", "新程", "远达", "恒通", "启明", "安泰", "鼎盛", "嘉禾", "东方", "联创", "天成", "宏远", "志诚"]
TRADES = ["科技", "实业", "贸易", "电子", "机械", "物流", "信息技术", "新材料"]
CITIES = ["上海", "北京", "深圳", "杭州", "苏州", "南京", "成都", "武汉", "广州"]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞"]
DOMAINS = ["163.com", "qq.com", "126.com", "sina.com", "foxmail.com"]
#: the status of a lead not converted, by the campaign's age (weights)
OPEN_RECENT = [("new", 45), ("contacted", 30), ("qualified", 15), ("disqualified", 10)]
OPEN_OLD = [("new", 5), ("contacted", 20), ("qualified", 20), ("disqualified", 55)]
REASONS = ["暂无采购计划", "预算不足", "已选择其他供应商", "联系不上", "非目标客户"]
#: what a recipient did: (status, weight); opened rows may be a machine (mail scanner)
OUTCOMES = [("failed", 2), ("bounced", 4), ("sent", 46), ("opened", 32), ("clicked", 13), ("unsubscribed", 3)]
SUBJECTS = ["诚邀您参加{name}", "{name}：最新方案与案例", "{name}回顾与资料下载"]


def _pick(rng, weighted):
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _at(day: date, rng) -> datetime:
    """A working-hours instant of the local ``day``, in UTC."""
    return clock.to_utc(datetime.combine(day, time(rng.randint(9, 17), rng.randint(0, 59))))


class DemoMarketing:
    def __init__(self, seed: int):
        self.rng = random.Random(seed * 104_729 + 13)
        self.now = utcnow()
        self.today = clock.today()
        self.mobiles: set[str] = set()

    def mobile(self) -> str:
        while True:
            number = f"1{self.rng.choice('3578')}{self.rng.randint(0, 999_999_999):09d}"
            if number not in self.mobiles:
                self.mobiles.add(number)
                return number

    def campaigns(self, owners, types) -> list[dict]:
        """About one campaign a month over MONTHS months, and two planned ones."""
        rng, rows = self.rng, []
        first = (self.today.replace(day=1) - timedelta(days=MONTHS * 30)).replace(day=1)
        month = first
        while month <= self.today:
            day = month.replace(day=rng.randint(1, 28))
            if day < self.today:
                rows.append(self.campaign(day, owners, types))
            month = (month + timedelta(days=32)).replace(day=1)
        for ahead in (rng.randint(10, 25), rng.randint(30, 50)):
            rows.append(self.campaign(self.today + timedelta(days=ahead), owners, types))
        return rows

    def campaign(self, starts: date, owners, types) -> dict:
        rng = self.rng
        kind = rng.choice([k for k in THEMES if k in types])
        themes, places = THEMES[kind]
        ends = starts + timedelta(days=rng.choice((0, 1, 2, 6, 13, 29)))
        budget = rng.randint(20, 200) * 1000
        if starts > self.today:
            status, cost = "planned", None
        elif ends >= self.today:
            status, cost = "running", Decimal(budget * rng.randint(30, 80) // 100)
        else:
            status, cost = "finished", Decimal(budget * rng.randint(70, 115) // 100)
        made = min(self.now, _at(starts - timedelta(days=rng.randint(15, 40)), rng))
        return {
            "name": f"{starts:%Y}年{starts.month}月{rng.choice(themes)}",
            "type_id": types[kind],
            "starts_on": starts,
            "ends_on": ends,
            "location": rng.choice(places),
            "budget": Decimal(budget),
            "actual_cost": cost,
            "status": status,
            "description": f"{kind}：面向潜在客户的市场活动",
            "owner_id": rng.choice(owners),
            "created_at": made,
            "updated_at": made,
            "is_deleted": False,
            "version": 1,
        }

    def open_lead(self, campaign: dict, campaign_id: int, sources, managers) -> dict:
        rng = self.rng
        starts = campaign["starts_on"]
        created = min(self.now, _at(starts + timedelta(days=rng.randint(0, 10)), rng))
        old = (self.today - starts).days > 120
        status = _pick(rng, OPEN_OLD if old else OPEN_RECENT)
        company = f"{rng.choice(CITIES)}{rng.choice(FIRMS)}{rng.choice(TRADES)}有限公司"
        contact = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.5 else "")
        n = rng.randint(1, 9999)
        return self._lead(
            campaign,
            campaign_id,
            company=company,
            contact=contact,
            mobile=self.mobile(),
            email=f"{rng.choice(('info', 'sales', 'contact', 'hr', 'li', 'wang'))}{n}@{rng.choice(DOMAINS)}"
            if rng.random() < 0.8
            else None,
            source=rng.choice(sources) if sources else None,
            assigned=rng.choice(managers) if status == "qualified" and managers and rng.random() < 0.7 else None,
            status=status,
            created=created,
            updated=min(self.now, created + timedelta(days=rng.randint(0, 20))),
        )

    def converted_lead(self, campaign, campaign_id, client, linkman_id, opportunity_id) -> dict:
        rng = self.rng
        converted = client.created_at  # after the campaign's start (the caller chose it so)
        created = min(converted, _at(campaign["starts_on"], rng))
        row = self._lead(
            campaign,
            campaign_id,
            company=client.name,
            contact=client.contact_name,
            mobile=client.contact_mobile,
            email=client.email,
            source=client.source_id,
            assigned=client.owner_id,
            status="converted",
            created=created,
            updated=converted,
        )
        row.update(
            uscc=client.uscc,
            converted_client_id=client.id,
            converted_linkman_id=linkman_id,
            converted_opportunity_id=opportunity_id,
            converted_by_id=campaign["owner_id"],
            converted_at=converted,
        )
        return row

    @staticmethod
    def _lead(campaign, campaign_id, *, company, contact, mobile, email, source, assigned, status, created, updated):
        return {
            "campaign_id": campaign_id,
            "company_name": company,
            "name_key": normalise_name(company),
            "contact_name": contact,
            "mobile": mobile,
            "email": email,
            "uscc": None,
            "source_id": source,
            "assigned_to_id": assigned,
            "status": status,
            "notes": None,
            "disqualified_reason": None,
            "converted_client_id": None,
            "converted_linkman_id": None,
            "converted_opportunity_id": None,
            "converted_by_id": None,
            "converted_at": None,
            "owner_id": campaign["owner_id"],
            "created_at": created,
            "updated_at": max(created, updated),
            "is_deleted": False,
            "version": 1,
        }

    def ledger(self, sent_at: datetime, addresses) -> list[dict]:
        """One row per address of an e-mail sent at ``sent_at``: what the recipient did."""
        rng, rows = self.rng, []
        for address, client_id, lead_id in addresses:
            status = _pick(rng, OUTCOMES)
            at = min(self.now, sent_at + timedelta(seconds=rng.randint(0, 1800)))
            row = {
                "client_id": client_id,
                "lead_id": lead_id,
                "address": address,
                "status": status,
                "skip_reason": None,
                "error": "550 5.1.1 mailbox unavailable" if status == "failed" else None,
                "token": secrets.token_urlsafe(24),
                "sent_at": None if status == "failed" else at,
                "opened_at": None,
                "machine_open": False,
                "clicked_at": None,
            }
            if status in ("opened", "clicked", "unsubscribed"):
                machine = status == "opened" and rng.random() < 0.3  # a mail scanner, seconds after delivery
                opened = at + (timedelta(seconds=rng.randint(1, 8)) if machine else timedelta(hours=rng.randint(1, 72)))
                row.update(opened_at=min(self.now, opened), machine_open=machine)
                if status == "clicked":
                    row["clicked_at"] = min(self.now, opened + timedelta(minutes=rng.randint(1, 30)))
            rows.append(row)
        return rows


def seed_marketing(seed: int) -> dict[str, int]:
    """Write the demo campaigns, leads and e-mails; returns counts (nothing when campaigns exist)."""
    session = db.session
    if session.execute(select(func.count()).select_from(Campaign)).scalar():
        return {}
    people = lambda code: list(  # noqa: E731
        session.scalars(
            select(User.id).join(Role, Role.id == User.role_id).where(Role.code == code, User.is_active.is_(True))
        )
    )
    owners, managers = people("marketing"), people("account_manager")
    types = dict(session.execute(select(CampaignType.name, CampaignType.id)).all())
    sources = list(session.scalars(select(ClientSource.id).order_by(ClientSource.id)))
    if not owners or not types:
        return {}
    gen = DemoMarketing(seed)
    rng = gen.rng
    campaigns = gen.campaigns(owners, types)
    ids = bulk.insert(Campaign.__table__, campaigns, ids=True)

    clients = session.execute(
        select(
            Client.id,
            Client.name,
            Client.uscc,
            Client.email,
            Client.contact_name,
            Client.contact_mobile,
            Client.source_id,
            Client.owner_id,
            Client.created_at,
        )
        .where(Client.live())
        .order_by(Client.created_at, Client.id)
    ).all()
    first_linkman = dict(
        session.execute(select(Linkman.client_id, func.min(Linkman.id)).group_by(Linkman.client_id)).all()
    )
    first_opportunity = dict(
        session.execute(
            select(Opportunity.client_id, func.min(Opportunity.id))
            .where(Opportunity.client_id.is_not(None))
            .group_by(Opportunity.client_id)
        ).all()
    )
    gen.mobiles.update(c.contact_mobile for c in clients if c.contact_mobile)
    taken: set[int] = set()
    leads, mails, counts = [], [], {"campaigns": len(campaigns), "leads": 0, "converted leads": 0}
    for campaign, campaign_id in zip(campaigns, ids, strict=True):
        if campaign["status"] == "planned":
            continue
        mine = []
        start = _at(campaign["starts_on"], rng)
        # the clients created in the campaign's first eight weeks: some of them came from it
        near = [c for c in clients if start <= c.created_at <= start + timedelta(days=56) and c.id not in taken]
        for client in rng.sample(near, min(len(near), rng.randint(1, 6))):
            if client.id in first_linkman and client.contact_name and client.contact_mobile:
                taken.add(client.id)
                mine.append(
                    gen.converted_lead(
                        campaign, campaign_id, client, first_linkman[client.id], first_opportunity.get(client.id)
                    )
                )
        mine += [gen.open_lead(campaign, campaign_id, sources, managers) for _ in range(rng.randint(10, 35))]
        for row in mine:
            if row["status"] == "disqualified":
                row["disqualified_reason"] = rng.choice(REASONS)
        leads.extend(mine)
        counts["converted leads"] += sum(row["status"] == "converted" for row in mine)
        mails.append((campaign, campaign_id, mine))
    lead_ids = bulk.insert(Lead.__table__, leads, ids=True)
    counts["leads"] = len(leads)
    by_row = {id(row): lead_id for row, lead_id in zip(leads, lead_ids, strict=True)}
    counts.update(_emails(gen, mails, by_row, clients))
    return counts


def _emails(gen, mails, lead_ids, clients) -> dict[str, int]:
    """One or two e-mails per campaign held (the invitation before it, a follow-up after a
    finished one) to its leads with an address and to some clients, in the order they were
    sent: the ledger, and the unsubscriptions — an address that unsubscribed is skipped by
    every later e-mail."""
    rng, now = gen.rng, gen.now
    with_address = [(c.email, c.id) for c in clients if c.email]
    sendings = []
    for campaign, campaign_id, leads in mails:
        days = [campaign["starts_on"] - timedelta(days=rng.randint(5, 14))]
        if campaign["status"] == "finished":
            days.append(campaign["ends_on"] + timedelta(days=rng.randint(2, 7)))
        for n, day in enumerate(days):
            sent_at = _at(day, rng)
            if sent_at >= now:
                continue
            addresses = {row["email"]: (row["email"], None, lead_ids[id(row)]) for row in leads if row["email"]}
            for address, client_id in rng.sample(with_address, min(len(with_address), rng.randint(10, 40))):
                addresses.setdefault(address, (address, client_id, None))
            subject = (SUBJECTS[2] if n else SUBJECTS[rng.randint(0, 1)]).format(name=campaign["name"])
            sendings.append((sent_at, campaign_id, campaign, subject, sorted(addresses.values())))
    sendings.sort(key=lambda sending: (sending[0], sending[1]))
    emails, log, gone = [], [], {}
    for sent_at, campaign_id, campaign, subject, addresses in sendings:
        rows = gen.ledger(sent_at, addresses)
        for row in rows:
            if row["address"] in gone and gone[row["address"]] < sent_at:
                row.update(status="skipped", skip_reason="unsubscribed", error=None, sent_at=None)
                row.update(opened_at=None, machine_open=False, clicked_at=None)
            elif row["status"] == "unsubscribed":
                gone.setdefault(row["address"], row["opened_at"])
        finished = max(r["sent_at"] or sent_at for r in rows)
        queued = sent_at - timedelta(minutes=rng.randint(5, 60))
        emails.append(
            {
                "campaign_id": campaign_id,
                "subject": subject,
                "body": "{{ contact_name }}，您好：\n\n诚邀{{ company }}了解" + campaign["name"] + "。\n\n市场部",
                "segment": None,
                "status": "sent",
                "queued_by_id": campaign["owner_id"],
                "queued_at": queued,
                "sent_at": finished,
                "recipient_count": len(rows),
                "sent_count": sum(r["sent_at"] is not None for r in rows),
                "failed_count": sum(r["status"] == "failed" for r in rows),
                "skipped_count": sum(r["status"] == "skipped" for r in rows),
                "owner_id": campaign["owner_id"],
                "created_at": queued - timedelta(days=1),
                "updated_at": finished,
                "version": 1,
            }
        )
        log.append(rows)
    email_ids = bulk.insert(MarketingEmail.__table__, emails, ids=True)
    ledger = [{**row, "email_id": email_id} for email_id, rows in zip(email_ids, log, strict=True) for row in rows]
    for start in range(0, len(ledger), 5000):
        bulk.insert(EmailLog.__table__, ledger[start : start + 5000])
    bulk.insert(
        EmailUnsubscribe.__table__,
        [{"address": address, "at": at, "source": "unsubscribe_page"} for address, at in sorted(gone.items())],
    )
    return {"marketing e-mails": len(emails), "e-mail recipients": len(ledger), "unsubscribed": len(gone)}
