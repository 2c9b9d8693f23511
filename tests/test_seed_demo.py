"""seed-demo --clients: realistic, valid, deterministic demo clients (SPEC §2.2, §4.3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload, undefer

from models import validators
from models.auth import Role, User, department_subtree_ids
from models.base import check_row, round_money
from models.churn import ClientLoss, detect_churn
from models.clock import today as _local_today
from models.customers import Appointment, Client, Contract, FollowUp, Linkman, normalise_name
from models.lookups import SalesStage
from models.opportunities import DevelopmentPlan, Opportunity
from models.orders import Order, OrderLine, Quote, QuoteLine, discount_threshold
from models.products import Product, Stock, stock_on_hand
from models.targets import SalesTarget, WeeklyReport, WeeklyReportItem
from tests.conftest import fresh_database, make_app


def _seed(app, *args):
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _clients(app):
    """The clients and the sales story a run left (what the same seed must repeat)."""
    from models import db

    with app.app_context():
        names = db.session.execute(select(Client.name, Client.uscc, Client.contact_mobile).order_by(Client.id)).all()
        orders = db.session.execute(
            select(Order.number, Order.client_id, Order.status, Order.total).order_by(Order.id)
        ).all()
        quotes = db.session.execute(
            select(Quote.number, Quote.status, Quote.discount_pct, Quote.total).order_by(Quote.id)
        ).all()
        opportunities = db.session.execute(
            select(Opportunity.title, Opportunity.status, Opportunity.outcome, Opportunity.expected_amount).order_by(
                Opportunity.id
            )
        ).all()
        targets = db.session.execute(
            select(SalesTarget.user_id, SalesTarget.department_id, SalesTarget.month, SalesTarget.amount).order_by(
                SalesTarget.id
            )
        ).all()
        churn = db.session.execute(select(ClientLoss.client_id, ClientLoss.status).order_by(ClientLoss.id)).all()
        db.session.remove()
        db.engine.dispose()
    return names, orders, quotes, opportunities, targets, churn


def test_seed_demo_clients(app, db_session, client_as):
    output = _seed(app, "--clients", "50", "--seed", "3")
    assert "50 clients" in output
    s = db_session
    clients = s.execute(select(Client).order_by(Client.id)).scalars().all()
    assert len(clients) == 50

    # contacts: 1-4 per client, the first one is the client's contact
    per_client = dict(s.execute(select(Linkman.client_id, func.count()).group_by(Linkman.client_id)).all())
    assert set(per_client) == {c.id for c in clients}
    assert all(1 <= n <= 4 for n in per_client.values()) and len(set(per_client.values())) > 1
    followups = dict(s.execute(select(FollowUp.client_id, func.count()).group_by(FollowUp.client_id)).all())
    assert set(followups) == {c.id for c in clients} and all(1 <= n <= 5 for n in followups.values())

    # every value passes the checks the forms and the flush hook would run
    linkmans = s.execute(select(Linkman)).scalars().all()
    appointments = s.execute(select(Appointment)).scalars().all()
    contracts = s.execute(select(Contract)).scalars().all()
    for row in clients + linkmans + appointments + contracts:
        check_row(row)
        assert not s.is_modified(row), row
    s.rollback()

    usccs = [c.uscc for c in clients]
    assert len(set(usccs)) == 50
    for client in clients:
        assert validators.uscc(client.uscc) == client.uscc and client.uscc[:2] == "91"
        assert client.name_key == normalise_name(client.name)
        assert client.name.endswith("公司") and client.contact_mobile
        assert client.area is not None and client.version == 1 and client.is_deleted is False
        assert client.created_at <= client.updated_at
    assert len({c.name_key for c in clients}) == 50
    for mobile in [c.contact_mobile for c in clients] + [lm.mobile for lm in linkmans]:
        assert re.fullmatch(r"1[3-9]\d{9}", mobile) and validators.mobile(mobile) == mobile

    # owners: account managers and sales directors only; follow-ups by the owner
    owner_roles = set(
        s.execute(
            select(Role.code).join(User, User.role_id == Role.id).where(User.id.in_({c.owner_id for c in clients}))
        ).scalars()
    )
    assert owner_roles <= {"account_manager", "sales_director"} and "account_manager" in owner_roles
    owners = {c.id: c.owner_id for c in clients}
    assert all(f.user_id == owners[f.client_id] for f in s.execute(select(FollowUp)).scalars())

    # appointments: reminder before the appointment, some reminders already due
    now = datetime.now(UTC)
    assert appointments and all(a.remind_at <= a.scheduled_at for a in appointments)
    assert any(a.status == "待办" and a.remind_at <= now for a in appointments)
    assert {"待办", "已完成"} <= {a.status for a in appointments}

    # contracts: unique numbers, positive 2-place amounts, dates in order, owner = client owner
    numbers = [c.number for c in contracts]
    assert contracts and len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"HT-\d{4}-\d{6}", n) for n in numbers)
    for contract in contracts:
        assert contract.starts_on <= contract.ends_on and contract.amount > 0
        assert contract.amount == contract.amount.quantize(contract.amount.__class__("0.01"))
        assert contract.owner_id == owners[contract.client_id]

    # the list page shows them (newest update first)
    newest = max(clients, key=lambda c: c.updated_at)
    page = client_as("admin").get("/admin/client/")
    assert page.status_code == 200
    assert newest.name in page.get_data(as_text=True)

    # a second run adds more clients without clashing on USCCs, names or contract numbers
    _seed(app, "--clients", "20", "--seed", "3")
    s.expire_all()
    assert s.execute(select(func.count()).select_from(Client)).scalar() == 70
    assert s.execute(select(func.count(func.distinct(Client.uscc)))).scalar() == 70
    assert s.execute(select(func.count(func.distinct(Client.name_key)))).scalar() == 70


def test_same_seed_gives_the_same_clients_and_sales(database_url, template_db, tmp_path):
    runs = []
    with fresh_database(template_db, tmp_path) as second:
        for url in (database_url, second):
            app = make_app(url, tmp_path)
            _seed(app, "--clients", "30", "--seed", "3")
            runs.append(_clients(app))
    names, orders, quotes, opportunities, targets, churn = runs[0]
    assert len(names) == 30 and orders and quotes and opportunities and targets and churn
    assert runs[0] == runs[1]


def test_seed_demo_sales_story(app, db_session):
    """seed-demo tells a two-year sales story: every opportunity state and stage, quotes in
    every status (four-eyes above the discount threshold), orders over the last two years
    growing with the seasons, stock never negative, targets, weekly reports, churn."""
    output = _seed(app, "--clients", "60", "--seed", "4")
    s = db_session
    today = _local_today()
    owners = dict(s.execute(select(Client.id, Client.owner_id)).all())
    role_of = dict(s.execute(select(User.id, Role.code).join(Role, User.role_id == Role.id)).all())
    department_of = dict(s.execute(select(User.id, User.department_id)).all())
    assert re.search(r"\d+ orders, \d+ order lines", output) and "churn warnings" in output

    # every row passes the checks the forms and the flush hook would run, unchanged
    models = (
        Product,
        Stock,
        Opportunity,
        DevelopmentPlan,
        Quote,
        QuoteLine,
        Order,
        OrderLine,
        SalesTarget,
        WeeklyReport,
        WeeklyReportItem,
    )
    for model in models:
        rows = s.execute(select(model)).scalars().all()
        assert rows, model
        for row in rows:
            check_row(row)
            assert not s.is_modified(row), row
    s.rollback()

    # products: a realistic catalogue in the trade categories, stock in three warehouses, none negative
    products = s.execute(select(Product)).scalars().all()
    assert 40 <= len(products) <= 60 and all(p.price > 0 and p.category is not None for p in products)
    assert {p.unit for p in products} == {"台", "套", "件", "箱", "年"}
    stock = s.execute(select(Stock)).scalars().all()
    assert {r.warehouse for r in stock} == {"华东仓", "华南仓", "北京仓"}
    assert all(r.quantity >= 0 for r in stock) and any(r.quantity == 0 for r in stock)
    on_hand = {p.id: stock_on_hand(p.id) for p in products}
    assert any(n == 0 for n in on_hand.values()) and any(0 < n <= 5 for n in on_hand.values())
    assert sum(n > 5 for n in on_hand.values()) > len(products) * 0.6  # a few sold out or low, not most
    assert sum(n == 0 for n in on_hand.values()) < len(products) * 0.1

    # opportunities: every state and stage, created by sales people, success rate from the stage
    opportunities = s.execute(select(Opportunity).options(selectinload(Opportunity.stage))).scalars().all()
    assert {(o.status, o.outcome) for o in opportunities} == {
        ("unassigned", None),
        ("assigned", None),
        ("archived", "won"),
        ("archived", "lost"),
    }
    stages = s.execute(select(SalesStage).where(SalesStage.is_active.is_(True))).scalars().all()
    assert {o.stage_id for o in opportunities} == {stage.id for stage in stages}
    assert any(o.client_id is None for o in opportunities) and any(o.client_id for o in opportunities)
    assert {role_of[o.created_by_id] for o in opportunities} == {"sales_director", "account_manager"}
    for o in opportunities:
        assert o.customer_name and o.title and o.description and o.expected_amount > 0
        if o.status == "unassigned":
            assert o.assigned_to_id is None and o.assigned_at is None
        else:
            assert o.assigned_to_id and o.assigned_at >= o.created_at
            assert role_of[o.assigned_to_id] in ("account_manager", "sales_director")
        if o.status == "archived":
            assert o.closed_at >= o.created_at
            assert o.success_rate == (100 if o.outcome == "won" else 0)
            assert (o.lost_reason is not None) == (o.outcome == "lost")
        else:
            assert o.success_rate == o.stage.probability and o.closed_at is None
            assert o.expected_close_on > today
        if o.client_id is not None:
            assert o.assigned_to_id in (None, owners[o.client_id])
    plans = s.execute(select(DevelopmentPlan)).scalars().all()
    assert any(p.planned_on > today for p in plans) and any(p.planned_on < today for p in plans)
    for plan in plans:
        if plan.planned_on < today:
            assert plan.result and plan.executed_on >= plan.planned_on
        else:
            assert plan.result is None and plan.executed_on is None

    # quotes: every status; four-eyes above the discount threshold; some from won opportunities
    threshold = discount_threshold()
    quotes = s.execute(select(Quote).options(undefer(Quote.total), selectinload(Quote.lines))).scalars().all()
    assert {q.status for q in quotes} == {"draft", "submitted", "approved", "rejected", "accepted"}
    for q in quotes:
        above = q.discount_pct > threshold
        assert q.owner_id == owners[q.client_id] and q.lines
        if q.status == "draft":
            assert q.submitted_by_id is None
        else:
            assert q.submitted_by_id == q.owner_id and q.submitted_at >= q.created_at
        if q.status == "submitted" or q.status == "rejected":
            assert above and q.approved_by_id is None
        if q.status == "rejected":
            assert q.approval_comment
        if q.status in ("approved", "accepted"):
            if above:
                assert q.approved_by_id not in (None, q.submitted_by_id)
                assert role_of[q.approved_by_id] == "sales_director"
            else:
                assert q.approved_by_id is None and q.approved_at == q.submitted_at
    assert any(q.status == "approved" and q.discount_pct > threshold for q in quotes)
    won = {o.id for o in opportunities if o.outcome == "won"}
    assert any(q.opportunity_id in won and q.status == "accepted" for q in quotes)

    # orders: 1-5 lines, owner = client owner, over the last two years, growing, seasonal
    orders = s.execute(select(Order).options(undefer(Order.total), selectinload(Order.lines))).scalars().all()
    assert len(orders) > 200
    quote_totals = {q.id: q.total for q in quotes}
    assert any(order.quote_id for order in orders)
    for order in orders:
        # 1-5 products (a converted quote line may be split in two to total the quote exactly)
        assert 1 <= len({line.product_id for line in order.lines}) <= 5
        if order.quote_id is not None:
            assert order.total == quote_totals[order.quote_id], order.number
        assert order.total == sum((line.unit_price * line.quantity for line in order.lines), Decimal("0.00"))
        assert order.owner_id == owners[order.client_id] and order.delivery_address
        assert today - timedelta(days=730) <= order.ordered_on <= today
        age = (today - order.ordered_on).days
        if order.status == "pending":
            assert age <= 8 and order.shipped_at is None
        if order.status in ("shipped", "completed"):
            assert order.shipped_at is not None and order.shipped_by_id == order.owner_id
        if age > 30:
            assert order.status in ("completed", "cancelled")
    statuses = [o.status for o in orders]
    assert {"pending", "shipped", "completed", "cancelled"} <= set(statuses)
    assert statuses.count("cancelled") < len(orders) * 0.1
    monthly: dict[str, Decimal] = {}
    for order in orders:
        if order.status != "cancelled":
            key = f"{order.ordered_on:%Y-%m}"
            monthly[key] = monthly.get(key, Decimal(0)) + order.total
    assert len(monthly) >= 20
    months = sorted(monthly)
    assert max(monthly.values()) > 2 * min(monthly.values())  # not flat
    assert sum(monthly[m] for m in months[-12:]) > sum(monthly[m] for m in months[:12])  # growing
    # accepted quotes converted to orders: same products and quantities, the discount in the unit price
    converted = [o for o in orders if o.quote_id is not None]
    assert converted and len(converted) < len(orders)
    quote_by_id = {q.id: q for q in quotes}
    for order in converted:
        quote = quote_by_id[order.quote_id]
        assert quote.status == "accepted" and order.ordered_on >= quote.created_at.date() - timedelta(days=1)
        factor = (Decimal(100) - quote.discount_pct) / 100
        assert [(ql.product_id, ql.quantity, round_money(ql.unit_price * factor)) for ql in quote.lines] == [
            (ol.product_id, ol.quantity, ol.unit_price) for ol in order.lines
        ]
    assert any(q.status == "accepted" and q.id not in {o.quote_id for o in converted} for q in quotes) or len(
        converted
    ) == sum(q.status == "accepted" for q in quotes)

    # targets: per account manager and per sales department per month, a bit above what was sold
    targets = s.execute(select(SalesTarget)).scalars().all()
    managers = {u for u, code in role_of.items() if code == "account_manager"}
    by_user = {(t.user_id, t.month) for t in targets if t.user_id}
    assert {u for u, _ in by_user} == managers
    assert {m for _, m in by_user} >= set(months) and len({m for _, m in by_user}) >= 24
    assert {t.department_id for t in targets if t.department_id} >= {department_of[m] for m in managers}
    sold = sum((o.total for o in orders if o.status != "cancelled" and o.owner_id in managers), Decimal(0))
    planned = sum(t.amount for t in targets if t.user_id)
    assert sold < planned < sold * 2

    # weekly reports: Mondays, about the author's opportunities, reviewed by their director
    reports = s.execute(select(WeeklyReport).options(selectinload(WeeklyReport.items))).scalars().all()
    assert {r.status for r in reports} == {"draft", "submitted", "reviewed"}
    assert {r.user_id for r in reports} == managers
    mine = {(o.id, u) for o in opportunities for u in (o.assigned_to_id, o.created_by_id)}
    for report in reports:
        assert report.week_start.weekday() == 0 and report.week_start > today - timedelta(days=70)
        assert report.items and all(
            i.opportunity_id is None or (i.opportunity_id, report.user_id) in mine for i in report.items
        )
        if report.status == "reviewed":
            assert role_of[report.reviewed_by_id] == "sales_director" and report.review_comment
            assert report.reviewed_at >= report.submitted_at
            directors_department = department_of[report.reviewed_by_id]
            assert department_of[report.user_id] in department_subtree_ids(directors_department)
        if report.status == "draft":
            assert report.submitted_at is None
    assert any(i.opportunity_id for r in reports for i in r.items)

    # churn: warnings for clients without a recent order, a few delayed (measure) and confirmed (reason)
    losses = s.execute(select(ClientLoss)).scalars().all()
    assert {x.status for x in losses} == {"warning", "delayed", "confirmed"}
    assert any(x.last_order_on is not None and x.last_order_on <= today - timedelta(days=180) for x in losses)
    assert all(x.measures for x in losses if x.status == "delayed")
    assert all(x.reason and x.confirmed_by_id for x in losses if x.status == "confirmed")
    # warnings have a history (detection as of the first of each month), each one justified then
    assert len({x.detected_on.strftime("%Y-%m") for x in losses}) >= 6
    assert all(x.last_order_on is None or x.last_order_on <= x.detected_on - timedelta(days=180) for x in losses)
    assert detect_churn() == 0  # nothing left to find: the run detected them all
    s.rollback()


def test_seed_demo_marketing(app, db_session, client_as):
    """seed-demo's marketing (issue 13 item 8): two years of campaigns with statuses that
    follow their dates, leads in every status, conversions that are the demo clients' origin
    (client, contact, opportunity, orders after them), sent e-mails with a consistent ledger,
    unsubscribed addresses never mailed again, nothing dated after now; the campaign report
    shows them."""
    from models.marketing import Campaign, Lead
    from models.marketing_mail import EmailLog, EmailUnsubscribe, MarketingEmail

    output = _seed(app, "--clients", "80", "--seed", "5")
    assert re.search(r"\d+ campaigns, \d+ leads, \d+ converted leads, \d+ marketing e-mails", output)
    s = db_session
    now, today = datetime.now(UTC), _local_today()
    campaigns = s.execute(select(Campaign)).scalars().all()
    leads = s.execute(select(Lead)).scalars().all()
    for row in campaigns + leads:
        check_row(row)
        assert not s.is_modified(row), row
    s.rollback()

    # campaigns: about one a month over two years, the status by the dates, costs within reason
    assert 20 <= len(campaigns) <= 30
    assert min(c.starts_on for c in campaigns) <= today - timedelta(days=600)
    assert {"planned", "finished"} <= {c.status for c in campaigns}
    for c in campaigns:
        assert c.owner.role.code == "marketing" and c.created_at <= now and c.budget > 0
        if c.status == "planned":
            assert c.starts_on > today and c.actual_cost is None
        elif c.status == "running":
            assert c.starts_on <= today <= c.ends_on and 0 < c.actual_cost <= c.budget
        else:
            assert c.ends_on < today and 0 < c.actual_cost <= c.budget * Decimal("1.15")
    planned = {c.id for c in campaigns if c.status == "planned"}

    # leads: every status; none for a planned campaign; converted ones are their clients' origin
    assert {lead.status for lead in leads} == {"new", "contacted", "qualified", "converted", "disqualified"}
    assert not [lead for lead in leads if lead.campaign_id in planned]
    converted = [lead for lead in leads if lead.status == "converted"]
    assert converted and len({lead.converted_client_id for lead in converted}) == len(converted)
    for lead in converted:
        client = lead.converted_client
        assert client.name == lead.company_name and client.contact_mobile == lead.mobile
        assert lead.converted_at == client.created_at and lead.created_at <= lead.converted_at
        assert lead.converted_at.astimezone(ZoneInfo("Asia/Shanghai")).date() >= lead.campaign.starts_on
        assert lead.converted_linkman.client_id == client.id and lead.assigned_to_id == client.owner_id
        if lead.converted_opportunity is not None:
            assert lead.converted_opportunity.client_id == client.id
    orders = s.execute(select(Order.client_id, Order.ordered_on)).all()
    firsts = {lead.converted_client_id: lead.converted_at.date() for lead in converted}
    assert any(day >= firsts[client] for client, day in orders if client in firsts)  # orders came of it
    assert all(lead.disqualified_reason for lead in leads if lead.status == "disqualified")
    assert all(lead.created_at <= now and lead.updated_at <= now for lead in leads)

    # the ledger: times in order and in the past, statuses that match the times, counts that add up
    log = s.execute(select(EmailLog)).scalars().all()
    emails = s.execute(select(MarketingEmail)).scalars().all()
    assert emails and all(e.status == "sent" and e.campaign_id not in planned for e in emails)
    assert {r.status for r in log} >= {"sent", "failed", "opened", "clicked", "unsubscribed", "bounced"}
    for r in log:
        assert (r.sent_at is None) == (r.status in ("failed", "skipped")), r.status
        assert (r.opened_at is not None) == (r.status in ("opened", "clicked", "unsubscribed"))
        assert (r.clicked_at is not None) == (r.status == "clicked")
        assert not r.machine_open or r.opened_at is not None
        assert (r.skip_reason == "unsubscribed") == (r.status == "skipped")
        for at in (r.sent_at, r.opened_at, r.clicked_at):
            assert at is None or at <= now
        assert r.opened_at is None or r.opened_at >= r.sent_at
        assert r.clicked_at is None or r.clicked_at >= r.opened_at
    assert any(r.machine_open for r in log) and any(r.opened_at and not r.machine_open for r in log)
    for e in emails:
        mine = [r for r in log if r.email_id == e.id]
        assert e.recipient_count == len(mine) and e.sent_count == sum(r.sent_at is not None for r in mine)
        assert e.failed_count == sum(r.status == "failed" for r in mine) and e.sent_at <= now
    gone = dict(s.execute(select(EmailUnsubscribe.address, EmailUnsubscribe.at)).all())
    assert set(gone) == {r.address for r in log if r.status == "unsubscribed"}
    assert any(r.status == "skipped" for r in log)
    for r in log:  # never mailed after unsubscribing (a row is sent within 30 minutes of its e-mail)
        if r.address in gone and r.sent_at is not None:
            assert r.sent_at - timedelta(minutes=30) <= gone[r.address]

    # the campaign report shows them (executives see every campaign)
    page = client_as("executive").get(
        f"/admin/reports/campaigns/?date_from={today - timedelta(days=800)}&date_to={today}&lang=en"
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    started = [c for c in campaigns if c.status != "planned"]
    assert all(c.name in html for c in started)
