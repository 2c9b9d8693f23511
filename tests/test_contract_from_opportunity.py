"""A contract created from an opportunity (SPEC §4.4: a won opportunity offers *create
contract* prefilled): ``/admin/contract/new/?opportunity_id=N`` fills client, opportunity,
name and amount for an opportunity in the user's scope, nothing for one outside it; the
opportunity is saved with the contract and shown on its page; the opportunity look-up is
scoped."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import object_session

from models.customers import Contract
from models.lookups import SalesStage
from models.opportunities import Opportunity
from tests.factories import contract_form, lookup, make_client, user


def make_opportunity(
    session, owner="account_manager", client_name=None, title="ERP 升级项目", amount="88000.50", with_client=True
) -> Opportunity:
    client = make_client(session, owner, name=client_name) if with_client else None
    opportunity = Opportunity(
        client=client,
        customer_name=client.name if client else "潜在客户有限公司",
        title=title,
        description="需求已确认",
        created_by=user(session, owner),
        stage=lookup(session, SalesStage),
        expected_amount=Decimal(amount) if amount else None,
    )
    session.add(opportunity)
    session.commit()
    return opportunity


def field(page: str, name: str) -> dict:
    """The attributes of the input named ``name`` on a form page."""
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag, name
    return {k: html.unescape(v) for k, v in re.findall(r'([a-z-]+)="([^"]*)"', tag.group(0))}


def test_new_contract_is_prefilled_from_an_opportunity_in_scope(client_as, db_session):
    opportunity = make_opportunity(db_session, client_name="机会来源公司")
    page = client_as("account_manager").get(f"/admin/contract/new/?opportunity_id={opportunity.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert field(text, "name")["value"] == "ERP 升级项目"
    assert field(text, "amount")["value"] == "88000.50"
    client = field(text, "client")
    assert client["value"] == str(opportunity.client_id)
    assert json.loads(client["data-json"]) == [opportunity.client_id, "机会来源公司"]
    chosen = field(text, "opportunity")
    assert chosen["value"] == str(opportunity.id)
    assert json.loads(chosen["data-json"]) == [opportunity.id, "ERP 升级项目 (机会来源公司)"]


def test_prospect_opportunity_without_client_or_amount_fills_what_it_has(client_as, db_session):
    opportunity = make_opportunity(db_session, title="潜在项目", amount=None, with_client=False)
    text = (
        client_as("account_manager").get(f"/admin/contract/new/?opportunity_id={opportunity.id}").get_data(as_text=True)
    )
    assert field(text, "name")["value"] == "潜在项目"
    assert field(text, "opportunity")["value"] == str(opportunity.id)
    assert field(text, "client").get("value", "") == "" and field(text, "amount").get("value", "") == ""


def test_opportunity_outside_the_scope_fills_nothing(client_as, db_session):
    foreign = make_opportunity(db_session, owner="am_other", client_name="二部机会公司", title="二部秘密项目")
    manager = client_as("account_manager")
    manager.get("/admin/?lang=en")
    response = manager.get(f"/admin/contract/new/?opportunity_id={foreign.id}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "二部秘密项目" not in text and "二部机会公司" not in text
    assert field(text, "name").get("value", "") == "" and field(text, "opportunity").get("value", "") == ""
    assert "not in your data scope" in html.unescape(text)
    # the director of the other team does see it
    director = client_as("director_top").get(f"/admin/contract/new/?opportunity_id={foreign.id}")
    assert field(director.get_data(as_text=True), "name")["value"] == "二部秘密项目"


def form_naming(opportunity, client, **fields) -> dict:
    """The contract create form of a contract of ``client`` naming ``opportunity``, without
    an owner field."""
    session = object_session(opportunity)
    return contract_form(session, client, opportunity=str(opportunity.id), owner=None, **fields)


def test_contract_saved_with_its_opportunity_and_shown_on_its_page(client_as, db_session):
    opportunity = make_opportunity(db_session, client_name="签约公司")
    manager = client_as("account_manager")
    response = manager.post(
        "/admin/contract/new/",
        data=form_naming(opportunity, opportunity.client, number="HT-OPP-1", name="ERP 升级项目", amount="88000.50"),
    )
    assert response.status_code == 302, response.data[:2000]
    contract = db_session.execute(select(Contract).where(Contract.number == "HT-OPP-1")).scalar_one()
    assert contract.opportunity_id == opportunity.id and contract.amount == Decimal("88000.50")
    details = manager.get(f"/admin/contract/details/?id={contract.id}").get_data(as_text=True)
    assert "ERP 升级项目 (签约公司)" in details


def test_opportunity_lookup_and_choice_are_scoped(client_as, db_session):
    mine = make_opportunity(db_session, title="我的机会甲")
    foreign = make_opportunity(db_session, owner="am_other", title="二部机会乙")
    manager = client_as("account_manager")
    found = manager.get("/admin/contract/ajax/lookup/?name=opportunity&query=机会").get_json()
    assert [row[0] for row in found] == [mine.id]
    response = manager.post(
        "/admin/contract/new/",
        data=form_naming(foreign, mine.client, number="HT-OPP-2", name="越权合同", amount="100.00"),
    )
    assert response.status_code == 200  # refused: the form again, with the error at the field
    assert db_session.execute(select(Contract).where(Contract.number == "HT-OPP-2")).scalar() is None


def test_purchase_request_names_an_opportunity_of_the_users_scope(client_as, db_session):
    """SPEC §4.5: a purchase request may name the opportunity it serves; the look-up and the
    saved choice stay within the requester's scope."""
    from models.purchasing import PurchaseRequest

    mine = make_opportunity(db_session, title="我的采购机会")
    foreign = make_opportunity(db_session, owner="am_other", title="二部采购机会")
    manager = client_as("account_manager")
    found = manager.get("/admin/purchase_request/ajax/lookup/?name=opportunity&query=采购机会").get_json()
    assert [row[0] for row in found] == [mine.id]
    for number, opportunity, saved in (("CG-OPP-1", foreign, False), ("CG-OPP-2", mine, True)):
        manager.post(
            "/admin/purchase_request/new/",
            data={"number": number, "name": "服务器采购", "opportunity": str(opportunity.id)},
        )
        db_session.expire_all()
        row = db_session.execute(select(PurchaseRequest).where(PurchaseRequest.number == number)).scalar()
        assert (row is not None) == saved
        if saved:
            assert row.opportunity_id == mine.id and row.requester.username == "account_manager"
    detail = manager.get(f"/admin/purchase_request/details/?id={row.id}").get_data(as_text=True)
    assert "我的采购机会" in detail
