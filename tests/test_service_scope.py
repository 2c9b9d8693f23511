"""Data scope of service tickets (SPEC §6, issue 12 item 7): a ticket is in scope through
its assignee or creator OR its client — an account manager (own) sees the tickets of their
clients and those they raised, the service lead (department) those of the service
department's people, an executive all. Service staff read — never edit — the clients of
the tickets in their scope, and nothing of other clients but name and phone in the ticket
form's client picker, where they find ANY live client to raise a ticket for. Exports keep
to the same scope."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from models.service import ServiceTicket
from tests.factories import make_client, post_ticket, service_desk, ticket, user


@pytest.fixture
def tickets(db_session):
    """mine: a client of account_manager, raised by the clerk, assigned to the service agent;
    other: a client of am_other raised by the clerk; raised: by the service lead for a client
    of am_other; stranger: on mine's client, raised by the clerk, not assigned."""
    s = db_session
    lead, agent, _ = service_desk(s)
    mine = ticket(s, client=make_client(s, "account_manager", name="甲方客户公司"), title="甲方工单")
    mine.assigned_to, mine.status = agent, "assigned"
    other = ticket(s, client=make_client(s, "am_other", name="乙方客户公司", phone="0755-88886666"), title="乙方工单")
    raised = ticket(s, client=make_client(s, "am_other", name="丙方客户公司"), creator=lead, title="丙方工单")
    stranger = ticket(s, client=mine.client, title="甲方另一工单")
    s.commit()
    return {"mine": mine, "other": other, "raised": raised, "stranger": stranger}


def titles(web, url="/admin/service/") -> set[str]:
    page = web.get(url).get_data(True)
    return {t for t in ("甲方工单", "乙方工单", "丙方工单", "甲方另一工单") if t in page}


def test_the_ticket_list_of_each_scope(client_as, tickets):
    assert titles(client_as("executive")) == {"甲方工单", "乙方工单", "丙方工单", "甲方另一工单"}
    # own: the tickets of my clients (whoever raised them)
    assert titles(client_as("account_manager")) == {"甲方工单", "甲方另一工单"}
    assert titles(client_as("am_other")) == {"乙方工单", "丙方工单"}
    # department (客服部): assigned to or raised by the service department's people
    assert titles(client_as("service")) == {"甲方工单", "丙方工单"}
    assert titles(client_as("agent")) == {"甲方工单", "丙方工单"}
    # the clerk (销售一部, department): raised by the team, or clients of the team
    assert titles(client_as("clerk")) == {"甲方工单", "乙方工单", "甲方另一工单"}


def test_details_and_steps_outside_the_scope_are_not_found(client_as, tickets):
    lead = client_as("service")
    assert lead.get(f"/admin/service/details/?id={tickets['mine'].id}").status_code == 200
    assert lead.get(f"/admin/service/details/?id={tickets['other'].id}").status_code == 404
    assert lead.get(f"/admin/service/edit/?id={tickets['stranger'].id}").status_code == 404


def test_the_service_lead_reads_the_clients_of_the_tickets_only(client_as, db_session, tickets):
    lead = client_as("service")
    page = lead.get("/admin/client/").get_data(True)
    assert "甲方客户公司" in page and "丙方客户公司" in page and "乙方客户公司" not in page
    seen = tickets["mine"].client_id
    details = lead.get(f"/admin/client/details/?id={seen}").get_data(True)
    assert "甲方客户公司" in details
    # its tickets on the page: those in the lead's scope
    section = details[details.index('id="tickets"') :]
    assert "甲方工单" in section and "甲方另一工单" not in section
    assert lead.get(f"/admin/client/edit/?id={seen}").status_code == 403
    assert lead.post("/admin/client/delete/", data={"id": str(seen)}).status_code == 403
    assert lead.get(f"/admin/client/details/?id={tickets['other'].client_id}").status_code == 404
    # the contacts of a readable client are readable too (in scope through the client)
    assert lead.get("/admin/linkman/").status_code == 200
    # an account manager (client.edit) sees no client through tickets
    manager = client_as("account_manager")
    assert manager.get(f"/admin/client/details/?id={tickets['raised'].client_id}").status_code == 404


def test_a_client_outside_the_scope_becomes_readable_with_a_ticket(client_as, db_session, tickets):
    s = db_session
    outsider = make_client(s, "am_other", name="丁方客户公司", phone="021-55554444")
    s.commit()
    lead = client_as("service")
    assert lead.get(f"/admin/client/details/?id={outsider.id}").status_code == 404
    created = post_ticket(lead, s, outsider, "丁方来电咨询", "咨询", request="询问发票开具")
    assert created.status_code == 302
    made = s.execute(select(ServiceTicket).where(ServiceTicket.title == "丁方来电咨询")).scalar_one()
    assert made.client_id == outsider.id and made.created_by_id == user(s, "service").id
    assert lead.get(f"/admin/client/details/?id={outsider.id}").status_code == 200
    assert lead.get(f"/admin/client/edit/?id={outsider.id}").status_code == 403


def _lookup(web, term):
    return web.get(f"/admin/service/ajax/lookup/?name=client&query={quote(term)}").get_json()


def test_the_picker_finds_any_live_client_by_name_or_phone_showing_name_and_phone(client_as, db_session, tickets):
    s = db_session
    other = s.get(ServiceTicket, tickets["other"].id).client
    lead = client_as("service")
    assert _lookup(lead, "乙方客户") == [[other.id, "乙方客户公司 · 0755-88886666"]]
    assert _lookup(lead, "88886666") == [[other.id, "乙方客户公司 · 0755-88886666"]]
    assert _lookup(lead, "乙") == []  # a one-character term lists nobody
    other.soft_delete(None)
    s.commit()
    assert _lookup(lead, "乙方客户") == []  # deleted clients are not offered
    # who owns clients picks from their scope, as everywhere
    manager = client_as("account_manager")
    assert _lookup(manager, "丙方") == []
    assert [text for _, text in _lookup(manager, "甲方")] == ["甲方客户公司 · 010-12345678"]


def test_exports_keep_to_the_scope(client_as, tickets):
    lead = client_as("service").get("/admin/service/export/csv/").get_data(True)
    assert "甲方工单" in lead and "丙方工单" in lead and "乙方工单" not in lead and "甲方另一工单" not in lead
    everything = client_as("executive").get("/admin/service/export/csv/").get_data(True)
    assert all(t in everything for t in ("甲方工单", "乙方工单", "丙方工单", "甲方另一工单"))
    assert client_as("account_manager").get("/admin/service/export/csv/").status_code == 403  # VC
    clients = client_as("service").get("/admin/client/export/csv/")
    assert clients.status_code == 403  # service holds client.view only (SPEC §6: V)
