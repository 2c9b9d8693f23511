"""Marketing (issue 13, SPEC §4.7): campaigns and leads — the models' rules, the campaign and
lead workflows (allowed and refused steps), the one-step conversion (all or nothing, the
duplicate guard, the second conversion refused by the database even for two parallel
requests), bulk assignment, scope per role and the seeded rights."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text

from models.base import FieldError
from models.customers import Client, Linkman
from models.lookups import Area, CampaignType, ClientSource
from models.marketing import Campaign, ConversionError, Lead, assign_leads, convert
from models.marketing_mail import EmailLog, MarketingEmail
from models.opportunities import Opportunity
from models.workflow import WorkflowError, perform
from tests.conftest import flashes, make_app, transition
from tests.factories import lookup, make_client, user

_n = iter(range(1, 10_000))


def make_campaign(session, owner="marketing", **fields) -> Campaign:
    campaign = Campaign(
        name=fields.pop("name", f"春季展会{next(_n)}"),
        type=lookup(session, CampaignType),
        starts_on=fields.pop("starts_on", date(2026, 3, 1)),
        owner=user(session, owner),
        **fields,
    )
    session.add(campaign)
    session.flush()
    return campaign


def make_lead(session, owner="marketing", campaign=None, **fields) -> Lead:
    n = next(_n)
    lead = Lead(
        campaign=campaign,
        company_name=fields.pop("company_name", f"线索公司{n}有限公司"),
        contact_name=fields.pop("contact_name", "李四"),
        mobile=fields.pop("mobile", f"137{n:08d}"),
        source=lookup(session, ClientSource),
        owner=user(session, owner),
        **fields,
    )
    session.add(lead)
    session.flush()
    return lead


def _details(area) -> dict:
    return {"area_id": area.id, "address": "上海市浦东新区世纪大道100号", "phone": "021-12345678"}


# ------------------------------------------------------------------------ models
def test_campaign_end_before_start_is_refused_by_name(db_session):
    with force_locale("en"), pytest.raises(FieldError) as refused:
        make_campaign(db_session, starts_on=date(2026, 5, 2), ends_on=date(2026, 5, 1))
    assert refused.value.field == "Campaign end date"
    db_session.rollback()


def test_campaign_money_is_exact_fen(db_session):
    campaign = make_campaign(db_session, budget=Decimal("12345.67"), actual_cost="9000.10")
    db_session.commit()
    db_session.expire_all()
    stored = db_session.execute(
        text("SELECT budget, actual_cost FROM campaign WHERE id = :id"), {"id": campaign.id}
    ).one()
    assert tuple(stored) == (1234567, 900010)
    assert db_session.get(Campaign, campaign.id).budget == Decimal("12345.67")


def test_email_log_queues_a_recipient_once(db_session):
    email = MarketingEmail(subject="新品发布", body="{{ contact_name }} 您好", owner=user(db_session, "marketing"))
    db_session.add(email)
    db_session.flush()
    db_session.add(EmailLog(email=email, address="a@example.com", token="t1"))
    db_session.flush()
    db_session.add(EmailLog(email=email, address="a@example.com", token="t2"))
    with pytest.raises(Exception, match="(?i)unique"):
        db_session.flush()
    db_session.rollback()


# ---------------------------------------------------------------------- workflows
def test_campaign_runs_planned_running_finished(db_session):
    campaign = make_campaign(db_session)
    actor = user(db_session, "marketing")
    assert perform(campaign, "start", actor) == "running"
    with force_locale("en"), pytest.raises(WorkflowError, match="is Running: cannot Start campaign"):
        perform(campaign, "start", actor)
    assert perform(campaign, "finish", actor) == "finished"
    with force_locale("en"), pytest.raises(WorkflowError, match="lack the right"):
        perform(make_campaign(db_session), "start", user(db_session, "account_manager"))


def test_lead_steps_and_disqualify_needs_a_reason(db_session):
    lead = make_lead(db_session)
    actor = user(db_session, "marketing")
    assert perform(lead, "contact", actor) == "contacted"
    assert perform(lead, "qualify", actor) == "qualified"
    with force_locale("en"), pytest.raises(WorkflowError, match="needs a comment"):
        perform(lead, "disqualify", actor)
    assert perform(lead, "disqualify", actor, "没有预算") == "disqualified"
    assert lead.disqualified_reason == "没有预算"
    with force_locale("en"), pytest.raises(WorkflowError, match="is Disqualified: cannot Qualify"):
        perform(lead, "qualify", actor)


def test_lead_steps_through_the_list_action(en_client, db_session):
    leads = [make_lead(db_session), make_lead(db_session)]
    perform(leads[1], "disqualify", user(db_session, "marketing"), "重复")
    db_session.commit()
    response = transition(en_client("marketing"), "lead", "qualify", leads)
    assert "1 done, 1 refused" in flashes(response)
    db_session.expire_all()
    assert [db_session.get(Lead, lead.id).status for lead in leads] == ["qualified", "disqualified"]


# --------------------------------------------------------------------- conversion
def test_convert_creates_client_contact_and_opportunity(db_session):
    campaign = make_campaign(db_session, name="秋季研讨会")
    lead = make_lead(db_session, campaign=campaign, email="li@example.com", assigned_to=user(db_session, "am_team"))
    actor = user(db_session, "marketing")
    client, linkman, opportunity = convert(lead, actor, **_details(lookup(db_session, Area, "上海")))
    db_session.commit()
    db_session.expire_all()
    lead = db_session.get(Lead, lead.id)
    assert lead.status == "converted" and lead.converted_by_id == actor.id and lead.converted_at is not None
    assert (lead.converted_client_id, lead.converted_linkman_id, lead.converted_opportunity_id) == (
        client.id,
        linkman.id,
        opportunity.id,
    )
    client = db_session.get(Client, client.id)
    assert client.name == lead.company_name and client.owner.username == "am_team"
    assert client.contact_mobile == lead.mobile and client.source_id == lead.source_id
    assert client.linkmans[0].name == "李四" and client.linkmans[0].email == "li@example.com"
    opportunity = db_session.get(Opportunity, opportunity.id)
    assert opportunity.client_id == client.id and opportunity.assigned_to.username == "am_team"
    assert opportunity.status == "assigned" and opportunity.source_id == lead.source_id
    assert opportunity.title == f"{lead.company_name} · 秋季研讨会"
    from models.audit import AuditLog

    entry = db_session.execute(
        select(AuditLog).where(
            AuditLog.table_name == "lead", AuditLog.record_id == lead.id, AuditLog.action == "convert_lead"
        )
    ).scalar_one()
    assert entry.changes["status"] == ["new", "converted"] and entry.changes["converted_client_id"][1] == client.id


def test_convert_refuses_a_duplicate_client_unless_linked_or_confirmed(db_session):
    existing = make_client(db_session, "account_manager", name="华星科技有限公司")
    lead = make_lead(db_session, company_name="华星科技有限责任公司")
    db_session.commit()
    actor = user(db_session, "marketing")
    with force_locale("en"), pytest.raises(ConversionError, match="similar clients exist") as refused:
        convert(lead, actor, **_details(lookup(db_session, Area, "上海")))
    assert [client.id for client, _ in refused.value.matches] == [existing.id]
    db_session.rollback()
    client, _, opportunity = convert(db_session.get(Lead, lead.id), actor, db_session.get(Client, existing.id))
    db_session.commit()
    assert client.id == existing.id and opportunity.client_id == existing.id
    assert (
        db_session.execute(
            select(func.count()).select_from(Client).where(Client.name_key == existing.name_key)
        ).scalar()
        == 1
    )


def test_convert_all_or_nothing(db_session):
    """A failure after the lead is claimed (no address for the new client) leaves nothing."""
    lead = make_lead(db_session)
    db_session.commit()
    before = [db_session.execute(select(func.count()).select_from(m)).scalar() for m in (Client, Linkman, Opportunity)]
    with force_locale("en"), pytest.raises(ConversionError, match="Company address: required"):
        convert(lead, user(db_session, "marketing"), area_id=lookup(db_session, Area, "北京").id, phone="010-1")
    db_session.rollback()
    after = [db_session.execute(select(func.count()).select_from(m)).scalar() for m in (Client, Linkman, Opportunity)]
    assert after == before
    lead = db_session.get(Lead, lead.id)
    assert lead.status == "new" and lead.converted_at is None and lead.converted_client_id is None


def test_second_conversion_is_refused(db_session):
    lead = make_lead(db_session)
    actor = user(db_session, "marketing")
    convert(lead, actor, **_details(lookup(db_session, Area, "上海")))
    db_session.commit()
    with force_locale("en"), pytest.raises(ConversionError, match="is Converted: cannot Convert"):
        convert(lead, actor, **_details(lookup(db_session, Area, "上海")))


def _convert_in_thread(app, lead_id, area_id, barrier, results, index):
    from models import db

    try:
        with app.app_context(), force_locale("en"):
            try:
                lead = db.session.get(Lead, lead_id)
                actor = user(db.session, "marketing")
                db.session.commit()  # both have read an open lead
                barrier.wait()
                client, _, _ = convert(
                    lead, actor, area_id=area_id, address="深圳市南山区科技园1号", phone="0755-1234567"
                )
                db.session.commit()
                results[index] = ("converted", client.id)
            except ConversionError as exc:
                db.session.rollback()
                results[index] = ("refused", str(exc))
            finally:
                db.session.remove()
                db.engine.dispose()
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        import traceback

        results[index] = ("crashed", exc, traceback.format_exc())


@pytest.mark.parametrize("round_", range(2))
def test_two_parallel_conversions_make_one_client(database_url, tmp_path, db_session, round_):
    lead = make_lead(db_session)
    area_id = lookup(db_session, Area, "深圳").id
    db_session.commit()
    apps = [make_app(database_url, tmp_path), make_app(database_url, tmp_path)]  # built before the threads
    barrier = threading.Barrier(2, timeout=30)
    results: list = [None, None]
    threads = [
        threading.Thread(target=_convert_in_thread, args=(apps[i], lead.id, area_id, barrier, results, i))
        for i in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r[0] for r in results) == ["converted", "refused"], results
    assert "is Converted: cannot Convert" in next(r[1] for r in results if r[0] == "refused")
    db_session.expire_all()
    named = select(func.count()).select_from(Client).where(Client.name == lead.company_name)
    assert db_session.execute(named).scalar() == 1
    assert db_session.get(Lead, lead.id).converted_client_id == next(r[1] for r in results if r[0] == "converted")


def test_convert_page_offers_the_match_and_converts(en_client, db_session):
    existing = make_client(db_session, "marketing", name="远航物流有限公司")
    lead = make_lead(db_session, company_name="远航物流有限公司", assigned_to=user(db_session, "account_manager"))
    db_session.commit()
    web = en_client("marketing")
    page = web.get(f"/admin/lead/convert/?id={lead.id}").get_data(as_text=True)
    assert f'value="{existing.id}"' in page and "Link to the existing client" in page
    refused = web.post(
        f"/admin/lead/convert/?id={lead.id}",
        data={"id": lead.id, "client_id": "", **_details(lookup(db_session, Area, "上海"))},
    )
    assert "similar clients exist" in flashes(refused)
    done = web.post(
        f"/admin/lead/convert/?id={lead.id}", data={"id": lead.id, "client_id": existing.id}, follow_redirects=True
    )
    assert "converted" in flashes(done)
    db_session.expire_all()
    lead = db_session.get(Lead, lead.id)
    assert lead.status == "converted" and lead.converted_client_id == existing.id
    # the account manager sees the opportunity made for them
    opportunities = en_client("account_manager").get("/admin/opportunity/").get_data(as_text=True)
    assert lead.converted_opportunity.title in opportunities


def test_convert_needs_the_right(en_client, db_session):
    lead = make_lead(db_session, assigned_to=user(db_session, "account_manager"))
    db_session.commit()
    assert en_client("account_manager").get(f"/admin/lead/convert/?id={lead.id}").status_code == 403


# ------------------------------------------------------------------ duplicate guard
def test_lead_form_warns_of_similar_clients_and_leads(en_client, db_session):
    make_client(db_session, "marketing", name="青松教育有限公司")
    other = make_lead(db_session, company_name="蓝海软件有限公司", email="x@lanhai.cn")
    db_session.commit()
    web = en_client("marketing")
    form = {"company_name": "青松教育有限公司", "contact_name": "王五", "mobile": "13912345678"}
    response = web.post("/admin/lead/new/", data=form)
    text = response.get_data(as_text=True)
    assert "Similar clients already exist" in text and "same company name" in text
    response = web.post(
        "/admin/lead/new/", data={"company_name": "新公司", "contact_name": "王五", "email": "x@lanhai.cn"}
    )
    assert "Similar leads already exist" in response.get_data(as_text=True)
    assert f"/admin/lead/details/?id={other.id}" in response.get_data(as_text=True)
    assert db_session.execute(select(func.count()).select_from(Lead).where(Lead.company_name == "新公司")).scalar() == 0
    web.post(
        "/admin/lead/new/",
        data={"company_name": "新公司", "contact_name": "王五", "email": "x@lanhai.cn", "save_anyway": "y"},
    )
    assert db_session.execute(select(func.count()).select_from(Lead).where(Lead.company_name == "新公司")).scalar() == 1


# ------------------------------------------------------------------ bulk assignment
def test_bulk_assign_counts_the_refused(en_client, db_session):
    open_lead, converted = make_lead(db_session), make_lead(db_session)
    converted.status = "converted"
    db_session.commit()
    web = en_client("marketing")
    manager = user(db_session, "am_other")
    response = web.post(
        "/admin/lead/assign/",
        data={"ids": f"{open_lead.id},{converted.id}", "manager_id": manager.id},
        follow_redirects=True,
    )
    assert "1 done, 1 refused" in flashes(response)
    db_session.expire_all()
    assert db_session.get(Lead, open_lead.id).assigned_to_id == manager.id
    assert db_session.get(Lead, converted.id).assigned_to_id is None
    with force_locale("en"), pytest.raises(WorkflowError, match="not an active account manager"):
        assign_leads([open_lead], user(db_session, "marketing"))


# ------------------------------------------------------------------ scope and rights
def test_scope_per_role(en_client, db_session):
    mine = make_lead(db_session, company_name="本部线索有限公司")
    far = make_lead(db_session, owner="am_other", company_name="外部线索有限公司")
    handed = make_lead(db_session, company_name="交给经理有限公司", assigned_to=user(db_session, "account_manager"))
    campaign = make_campaign(db_session, name="本部门活动")
    far_campaign = make_campaign(db_session, owner="am_other", name="别部门活动")
    db_session.commit()
    marketing = en_client("marketing").get("/admin/lead/").get_data(as_text=True)
    assert mine.company_name in marketing and handed.company_name in marketing and far.company_name not in marketing
    campaigns = en_client("marketing").get("/admin/campaign/").get_data(as_text=True)
    assert campaign.name in campaigns and far_campaign.name not in campaigns
    assert en_client("marketing").get(f"/admin/lead/details/?id={far.id}").status_code in (302, 404)
    manager = en_client("account_manager").get("/admin/lead/").get_data(as_text=True)
    assert handed.company_name in manager and mine.company_name not in manager
    everything = en_client("executive").get("/admin/lead/").get_data(as_text=True)
    assert far.company_name in everything and mine.company_name in everything


def test_converted_client_is_visible_to_its_new_owner(en_client, db_session):
    lead = make_lead(db_session, company_name="转化可见有限公司", assigned_to=user(db_session, "account_manager"))
    client, _, _ = convert(lead, user(db_session, "marketing"), **_details(lookup(db_session, Area, "上海")))
    db_session.commit()
    assert en_client("account_manager").get(f"/admin/client/details/?id={client.id}").status_code == 200
    assert en_client("am_team").get(f"/admin/client/details/?id={client.id}").status_code in (302, 404)


@pytest.mark.parametrize(
    "role, held, lacked",
    [
        (
            "marketing",
            {"campaign.create", "lead.delete", "lead.convert", "lead.import", "marketing_email.export"},
            set(),
        ),
        ("executive", {"campaign.view", "lead.export"}, {"lead.create", "lead.convert"}),
        ("sales_director", {"lead.view"}, {"lead.create", "lead.export"}),
        ("account_manager", {"campaign.view", "lead.view"}, {"lead.edit", "lead.convert"}),
        ("admin", {"lead.convert", "lead.assign", "campaign.delete"}, set()),
        ("clerk", set(), {"lead.view", "campaign.view"}),
    ],
)
def test_rights_matrix_rows(db_session, role, held, lacked):
    account = user(db_session, role)
    assert all(account.can(code) for code in held), [c for c in held if not account.can(c)]
    assert not any(account.can(code) for code in lacked)


def test_campaign_details_show_its_leads_and_budget(en_client, db_session):
    campaign = make_campaign(db_session, budget=Decimal("10000.00"), actual_cost=Decimal("12500.50"))
    make_lead(db_session, campaign=campaign, company_name="展会线索有限公司")
    db_session.commit()
    page = en_client("marketing").get(f"/admin/campaign/details/?id={campaign.id}").get_data(as_text=True)
    assert "展会线索有限公司" in page and 'id="campaign-leads"' in page
    assert "¥-2,500.50" in page  # budget left: over budget
    assert "wf-start" in page


def test_seed_grants_the_marketing_rights_on_an_upgraded_database(db_session):
    """A database seeded before issue 13: its roles get the new rights by the matrix."""
    from models.auth import Right, Role
    from seed import seed_reference

    codes = [c for c in db_session.execute(select(Right.code)).scalars() if c.split(".")[0] in ("campaign", "lead")]
    for role in db_session.execute(select(Role)).scalars():
        role.rights = [r for r in role.rights if r.code not in codes]
    db_session.flush()
    db_session.execute(Right.__table__.delete().where(Right.code.in_(codes)))
    db_session.commit()
    assert not user(db_session, "marketing").can("lead.convert")
    made = seed_reference(echo=lambda *_: None)
    db_session.commit()
    db_session.expire_all()
    assert made["rights"] == len(codes)
    assert user(db_session, "marketing").can("lead.convert") and user(db_session, "marketing").can("campaign.delete")
    assert user(db_session, "executive").can("lead.export") and not user(db_session, "executive").can("lead.edit")
    assert user(db_session, "account_manager").can("campaign.view")


@pytest.mark.parametrize("endpoint", ["lead", "campaign"])
def test_list_pages_take_the_same_few_statements_whatever_the_rows(app, client_as, db_session, endpoint):
    """The count of statements does not grow with the rows (a marketing user: department
    scope, whose department tree models/scope.py reads per scoped statement, and the
    campaign drop-down read per page — so more than tests/test_sql_counts.py's four)."""
    from tests.conftest import count_queries

    web = client_as("marketing")

    def statements(url):
        web.get(url)  # filter options are read once per process
        with count_queries(app) as seen:
            assert web.get(url).status_code == 200
        return len(seen)

    campaign = make_campaign(db_session)
    make_lead(db_session, campaign=campaign, assigned_to=user(db_session, "account_manager"))
    db_session.commit()
    few = statements(f"/admin/{endpoint}/")
    for _ in range(25):
        make_lead(db_session, campaign=make_campaign(db_session), assigned_to=user(db_session, "am_team"))
    db_session.commit()
    assert statements(f"/admin/{endpoint}/?page_size=50") == few
    assert statements(f"/admin/{endpoint}/?page_size=50&search=公司") == few


def test_parallel_convert_requests_make_one_client(http_user, db_session):
    """Three people press *Convert* on one lead at the same moment, over real HTTP."""
    from tests.conftest import run_parallel

    people = [http_user("marketing") for _ in range(3)]  # log in before holding a write transaction
    lead = make_lead(db_session, company_name="并发转化有限公司")
    db_session.commit()
    form = {
        "id": str(lead.id),
        "client_id": "",
        **{k: str(v) for k, v in _details(lookup(db_session, Area, "上海")).items()},
    }
    results = run_parallel([lambda u=u: u.post("/admin/lead/convert/", form, follow=True) for u in people])
    assert all(not isinstance(r, Exception) and r[0] == 200 for r in results), results
    texts = [body for _, body, _ in results]
    assert sum("converted: client 并发转化有限公司" in text for text in texts) == 1
    assert sum("is Converted: cannot Convert it." in text for text in texts) == 2
    db_session.expire_all()
    count = select(func.count()).select_from(Client).where(Client.name == "并发转化有限公司")
    assert db_session.execute(count).scalar() == 1
    assert (
        db_session.execute(
            select(func.count()).select_from(Opportunity).where(Opportunity.customer_name == "并发转化有限公司")
        ).scalar()
        == 1
    )
