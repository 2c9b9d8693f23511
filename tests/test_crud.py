"""The mechanisms of views/crud read the declarations of the module views: prefill within
the user's scope, record links only with the target's view right, rights declared on
actions and pages, derived labels of dotted columns, status filters and records locked
by their state."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from models.customers import Contract, Linkman
from models.finance import RECEIPT_STATUSES, Invoice, Receipt
from models.lookups import ContractType, PaymentMethod
from tests.factories import add_children, lookup, make_client, person, user
from views.crud import attr_info, status_filter
from views.crud.labels import dotted_label


def client_field(html: str) -> str:
    match = re.search(r'<input[^>]*name="client"[^>]*>', html)
    assert match, "no client field"
    return match.group(0)


# ------------------------------------------------------------------------- prefill
def test_prefill_fills_a_client_in_scope_and_nothing_outside_it(client_as, db_session):
    own = make_client(db_session, "account_manager")
    foreign = make_client(db_session, "am_other")
    db_session.commit()
    manager = client_as("account_manager")
    for endpoint in ("linkman", "receipt"):
        page = manager.get(f"/admin/{endpoint}/new/?client_id={own.id}")
        if page.status_code == 403:  # account managers may not record receipts
            continue
        assert f'value="{own.id}"' in client_field(page.get_data(as_text=True)), endpoint
        field = client_field(manager.get(f"/admin/{endpoint}/new/?client_id={foreign.id}").get_data(as_text=True))
        assert "value=" not in field.replace("data-", ""), endpoint
    finance = client_as("finance")  # scope "all": the same client is filled in
    page = finance.get(f"/admin/receipt/new/?client_id={foreign.id}").get_data(as_text=True)
    assert f'value="{foreign.id}"' in client_field(page)


# --------------------------------------------------------------------- record_link
def test_record_link_only_with_the_target_view_right(client_as, db_session):
    client = make_client(db_session, "admin", name="链接测试客户有限公司")
    add_children(db_session, client)
    db_session.commit()
    link = f'href="/admin/client/details/?id={client.id}"'
    with_right = client_as(person(db_session, "linkman.view", "client.view"))
    without = client_as(person(db_session, "linkman.view"))
    page = with_right.get("/admin/linkman/").get_data(as_text=True)
    assert link in page and "链接测试客户有限公司" in page
    page = without.get("/admin/linkman/").get_data(as_text=True)
    assert "链接测试客户有限公司" in page and link not in page


# ----------------------------------------------------------------- declared rights
def test_crm_action_and_crm_page_refuse_without_the_declared_right(client_as, db_session):
    client = make_client(db_session, "admin")
    db_session.commit()
    plain = client_as(person(db_session, "client.view"))
    allowed = client_as(person(db_session, "client.view", "client.reassign"))
    form = {"action": "reassign", "rowid": str(client.id)}
    assert plain.post("/admin/client/action/", data=form).status_code == 403
    assert plain.get(f"/admin/client/reassign/?ids={client.id}").status_code == 403
    response = allowed.post("/admin/client/action/", data=form)
    assert response.status_code == 302 and "/admin/client/reassign/" in response.headers["Location"]
    page = allowed.get(f"/admin/client/reassign/?ids={client.id}")
    assert page.status_code == 200 and client.name in page.get_data(as_text=True)


def test_the_list_offers_a_declared_action_only_to_holders(client_as, db_session):
    make_client(db_session, "admin")
    db_session.commit()
    plain = client_as(person(db_session, "client.view")).get("/admin/client/").get_data(as_text=True)
    allowed = client_as(person(db_session, "client.view", "client.merge")).get("/admin/client/")
    assert 'data-crm-action="merge"' not in plain
    assert 'data-crm-action="merge"' in allowed.get_data(as_text=True)


# ------------------------------------------------------------------ dotted labels
def test_dotted_column_labels_are_derived_from_the_model(app):
    def text(value):
        return str(value) if value is not None else None

    with app.test_request_context(headers={"Accept-Language": "en"}):
        # the column that shows a related record → the relationship's label
        assert text(dotted_label(Linkman, "client.name")) == text(attr_info(Linkman.client)["label"]) == "Client"
        # any other column → that column's label on the related model
        assert text(dotted_label(Invoice, "contract.number")) == text(attr_info(Contract.number)["label"])
        assert text(dotted_label(Invoice, "contract.client")) == text(attr_info(Contract.client)["label"])
        assert dotted_label(Linkman, "nothing.name") is None
        views = {view.endpoint: view for view in app.extensions["admin"][0]._views}
        assert text(views["linkman"].column_labels["client.name"]) == "Client"
        assert text(views["receipt"].column_labels["client.name"]) == "Client"
        assert text(views["invoice"].column_labels["contract.number"]) == "Contract number"
        assert text(views["invoice"].column_labels["contract.name"]) == "Contract name"  # declared: not derived


# ------------------------------------------------------------------ status_filter
def test_status_filter_offers_the_translated_states_and_filters(app, client_as, db_session):
    flt = status_filter(Receipt.status, RECEIPT_STATUSES)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(flt.name) == "Status"
        assert list(flt.get_options(None)) == [("recorded", "Recorded"), ("confirmed", "Confirmed")]
    client = make_client(db_session, "admin")
    for number, status in (("HK-CRUD-1", "recorded"), ("HK-CRUD-2", "confirmed")):
        db_session.add(
            Receipt(
                number=number,
                client=client,
                amount=Decimal("10.00"),
                received_on=date(2026, 3, 1),
                method=lookup(db_session, PaymentMethod),
                recorded_by=user(db_session, "finance"),
                status=status,
            )
        )
    db_session.commit()
    finance = client_as("finance")
    page = finance.get("/admin/receipt/?flt0_status_equals=confirmed").get_data(as_text=True)
    assert "HK-CRUD-2" in page and "HK-CRUD-1" not in page


# ------------------------------------------------------------------- can_change
def test_can_change_refuses_editing_and_deleting_a_locked_record(en_client, db_session):
    client = make_client(db_session, "admin")
    signed = Contract(
        client=client,
        type=lookup(db_session, ContractType),
        number="HT-CRUD-1",
        name="锁定合同",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        amount=Decimal("100.00"),
        owner=client.owner,
        status="signed",
    )
    db_session.add(signed)
    db_session.commit()
    admin = en_client("admin")
    response = admin.get(f"/admin/contract/edit/?id={signed.id}")
    assert response.status_code == 302 and "/admin/contract/details/" in response.headers["Location"]
    details = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "it can no longer be changed or deleted" in details
    response = admin.post("/admin/contract/delete/", data={"id": str(signed.id)}, follow_redirects=True)
    assert "it can no longer be changed or deleted" in response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Contract, signed.id).is_deleted is False
