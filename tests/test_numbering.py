"""Numbering by pattern (issue 14 item 2) and dependent pickers (item 4): one mechanism
for every document type (models/numbering.py), its patterns in the settings, checked when
an admin saves one; a typed number kept when unique; a contract's or follow-up's contact
only among the chosen client's. Parallel creates: tests/test_races.py."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from models.auth import SystemConfig
from models.base import FieldError
from models.customers import Contract, FollowUp, Linkman
from models.finance import Invoice, Receipt
from models.lookups import FollowUpType, InvoiceType, PaymentMethod
from models.numbering import next_number, pattern_of, pattern_problem, render
from models.orders import Order
from tests.conftest import flashes
from tests.factories import add_children, contract_form, lookup, make_client, make_contract, user


def set_setting(s, name: str, value: str) -> None:
    row = s.execute(select(SystemConfig).where(SystemConfig.name == name)).scalar_one_or_none()
    if row is None:
        s.add(SystemConfig(name=name, value=value))
    else:
        row.value = value
    s.flush()


def page_text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


# ------------------------------------------------------------------ patterns
@pytest.mark.parametrize(
    "pattern", ["HT{yyyy}{seq:05}", "DD{yyyy}{mm}{dd}-{seq:03}", "{seq}", "R-{yy}{mm}/{seq:04}-X", "合同{seq:02}"]
)
def test_usable_patterns(pattern):
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("HT{yyyy}", "must contain the serial exactly once"),
        ("HT{seq}{seq:03}", "must contain the serial exactly once"),
        ("HT{year}{seq:05}", "unknown token {year}"),
        ("HT{seq:5}", "unknown token {seq:5}"),
        ("HT{yyyy{seq}", "a brace without its pair"),
        ("HT}{seq}", "a brace without its pair"),
        ("X" * 40 + "{seq}", "longer than 40 characters"),
    ],
)
def test_unusable_patterns_say_what_is_wrong(app, pattern, says):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert says in str(pattern_problem(pattern))


def test_rendering_fills_the_date_and_pads_the_serial():
    rendered = render("R-{yy}{mm}{dd}/{seq:04}-X", date(2026, 3, 9))
    assert rendered.stem == "R-260309/{seq}-X"
    assert rendered.number(7) == "R-260309/0007-X"
    assert rendered.serial_of("R-260309/0012-X") == 12
    assert rendered.serial_of("R-260309/12-Y") is None


def test_the_period_follows_the_pattern(db_session):
    s = db_session
    # the default contract pattern HT{yyyy}{seq:05}: restarts every year, not every day
    numbers = [next_number(Contract, day=d) for d in (date(2026, 3, 1), date(2026, 12, 31), date(2027, 1, 1))]
    assert numbers == ["HT202600001", "HT202600002", "HT202700001"]
    # no date token: one sequence for ever
    set_setting(s, "number_pattern_contract", "C{seq:03}")
    assert [next_number(Contract, day=d) for d in (date(2026, 1, 1), date(2031, 5, 5))] == ["C001", "C002"]
    # {dd}: every day
    set_setting(s, "number_pattern_receipt", "HK{mm}{dd}-{seq}")
    days = (date(2026, 5, 1), date(2026, 5, 1), date(2026, 5, 2))
    assert [next_number(Receipt, day=d) for d in days] == ["HK0501-1", "HK0501-2", "HK0502-1"]
    # an unusable stored pattern (written past the settings page) numbers by the default
    s.execute(update(SystemConfig).where(SystemConfig.name == "number_pattern_contract").values(value="HT{oops}"))
    assert next_number(Contract, day=date(2026, 6, 1)) == "HT202600003"
    s.rollback()


def test_a_document_without_a_declared_pattern_numbers_by_its_prefix():
    # e.g. shipments (assign_number(record, "FH")): <prefix><yyyymmdd>-<nnn>
    from models.finance import ContractReceipt

    assert pattern_of(ContractReceipt, "FH") == "FH{yyyy}{mm}{dd}-{seq:03}"
    assert render(pattern_of(ContractReceipt, "FH"), date(2026, 2, 3)).number(4) == "FH20260203-004"
    with pytest.raises(LookupError):
        pattern_of(ContractReceipt)


def test_existing_numbers_of_a_stem_are_counted_on(db_session):
    s = db_session
    client = make_client(s, "account_manager")
    make_contract(s, client, number="HT202600041")
    make_contract(s, client, number="HT2026-999")  # not of the stem: not a serial
    s.commit()
    assert next_number(Contract, day=date(2026, 8, 8)) == "HT202600042"
    s.rollback()


# ------------------------------------------------------------- the settings page
def test_a_pattern_is_checked_when_an_admin_saves_it(en_client, db_session):
    from models.clock import today

    s = db_session
    row = s.execute(select(SystemConfig).where(SystemConfig.name == "number_pattern_contract")).scalar_one()
    assert row.value == "HT{yyyy}{seq:05}"
    admin = en_client("admin")
    url = f"/admin/config/edit/?id={row.id}"
    form = {"name": row.name, "value": "HT{year}{seq:05}", "description": row.description or ""}
    refused = admin.post(url, data=form, follow_redirects=True)
    assert refused.status_code == 200
    assert "number_pattern_contract: unknown token {year}" in page_text(refused)
    s.expire_all()
    assert s.get(SystemConfig, row.id).value == "HT{yyyy}{seq:05}"
    refused = admin.post(url, data={**form, "value": "HT{yyyy}"}, follow_redirects=True)
    assert "number_pattern_contract: must contain the serial exactly once" in page_text(refused)
    saved = admin.post(url, data={**form, "value": "HT-{yy}-{seq:04}"})
    assert saved.status_code == 302
    s.expire_all()
    assert s.get(SystemConfig, row.id).value == "HT-{yy}-{seq:04}"
    # the new pattern holds at once
    client = make_client(s, "account_manager")
    s.commit()
    am = en_client("account_manager")
    assert am.post("/admin/contract/new/", data=contract_form(s, client, number="")).status_code == 302
    assert s.execute(select(Contract.number).where(Contract.client_id == client.id)).scalar() == (
        f"HT-{today():%y}-0001"
    )


def test_the_settings_page_lists_a_pattern_per_document_type(db_session):
    names = set(db_session.execute(select(SystemConfig.name)).scalars())
    assert {f"number_pattern_{d}" for d in ("contract", "receipt", "invoice", "quote", "order")} <= names
    assert {"number_pattern_purchase_request", "number_pattern_expense_contract"} <= names


# ---------------------------------------------------- left empty / typed by hand
def test_contract_receipt_and_invoice_forms_number_themselves(en_client, db_session):
    from models.clock import today

    s = db_session
    client = make_client(s, "account_manager")
    s.commit()
    am = en_client("account_manager")
    page = am.get(f"/admin/contract/new/?client_id={client.id}").get_data(as_text=True)
    assert "Left empty, a number is given on saving." in page
    assert re.search(r'<input[^>]*name="number"[^>]*>', page) and "required" not in re.search(
        r'<input[^>]*name="number"[^>]*>', page
    ).group(0)
    assert am.post("/admin/contract/new/", data=contract_form(s, client, number="")).status_code == 302
    contract = s.execute(select(Contract).where(Contract.client_id == client.id)).scalar_one()
    assert re.fullmatch(rf"HT{today():%Y}\d{{5}}", contract.number)

    finance = en_client("finance")
    receipt_form = {
        "client": str(client.id),
        "number": "",
        "amount": "10.00",
        "received_on": "2026-04-05",
        "method": str(lookup(s, PaymentMethod).id),
    }
    response = finance.post("/admin/receipt/new/", data=receipt_form)
    assert response.status_code == 302, flashes(response)
    numbers = s.execute(select(Receipt.number).where(Receipt.client_id == client.id)).scalars().all()
    assert numbers == ["HK20260405-001"]  # dated by the day received

    contract.status = "approved"
    s.commit()
    invoice_form = {
        "contract": str(contract.id),
        "type": str(lookup(s, InvoiceType).id),
        "number": "",
        "amount": "100.00",
        "tax_rate": "13",
        "issued_on": "2026-04-06",
    }
    response = finance.post("/admin/invoice/new/", data=invoice_form)
    assert response.status_code == 302, flashes(response)
    assert s.execute(select(Invoice.number).where(Invoice.contract_id == contract.id)).scalar() == "FP20260406-001"


def test_a_typed_number_is_kept_when_unique_and_refused_naming_the_field_when_taken(en_client, db_session):
    s = db_session
    client = make_client(s, "account_manager")
    s.commit()
    am = en_client("account_manager")
    assert am.post("/admin/contract/new/", data=contract_form(s, client, number="HT-手写-001")).status_code == 302
    again = am.post("/admin/contract/new/", data=contract_form(s, client, number="HT-手写-001"))
    assert again.status_code == 200
    field = re.search(
        r'name="number"[^>]*>\s*<div class="invalid-feedback">(.*?)</div>', again.get_data(as_text=True), re.S
    )
    assert field and "Already exists." in field.group(1)
    s.expire_all()
    assert s.execute(select(Contract.number).where(Contract.client_id == client.id)).scalars().all() == ["HT-手写-001"]
    # outside forms (CLI, imports, other code) the domain refuses it naming the field
    make_contract(s, client, number="HT-DOUBLE")
    s.commit()
    with pytest.raises(FieldError, match="Contract number: HT-DOUBLE is already taken — type another number"):
        make_contract(s, client, number="HT-DOUBLE")
    s.rollback()
    s.add(
        Receipt(
            number="HT-DOUBLE",  # another table's number: free here
            client=client,
            amount=Decimal("1.00"),
            received_on=date(2026, 1, 2),
            method=lookup(s, PaymentMethod),
            recorded_by=user(s, "finance"),
        )
    )
    s.flush()
    s.rollback()


def test_order_numbers_keep_their_default_pattern(db_session):
    assert next_number(Order, day=date(2026, 7, 1)) == "DD20260701-001"
    db_session.rollback()


# ------------------------------------------------------------- dependent pickers
def test_a_contract_contact_must_be_one_of_the_clients(en_client, db_session):
    s = db_session
    mine, other = make_client(s, "account_manager"), make_client(s, "account_manager")
    my_contact = add_children(s, mine)["linkman"]
    their_contact = add_children(s, other)["linkman"]
    s.commit()
    am = en_client("account_manager")
    refused = am.post("/admin/contract/new/", data=contract_form(s, mine, linkman=str(their_contact.id)))
    text = page_text(refused)
    assert refused.status_code == 200
    assert f"Contact: {their_contact} is about another client; choose one of this client's." in text
    assert s.execute(select(Contract).where(Contract.linkman_id == their_contact.id)).first() is None
    saved = am.post("/admin/contract/new/", data=contract_form(s, mine, linkman=str(my_contact.id)))
    assert saved.status_code == 302
    assert s.execute(select(Contract.client_id).where(Contract.linkman_id == my_contact.id)).scalar() == mine.id


def test_a_follow_up_contact_must_be_one_of_the_clients(en_client, db_session):
    s = db_session
    mine, other = make_client(s, "account_manager"), make_client(s, "account_manager")
    their_contact = add_children(s, other)["linkman"]
    s.commit()
    am = en_client("account_manager")
    form = {
        "client": str(mine.id),
        "type": str(lookup(s, FollowUpType).id),
        "followed_at": "2026-05-06 10:00",
        "content": "电话回访",
        "linkman": str(their_contact.id),
    }
    refused = am.post("/admin/followup/new/", data=form)
    assert "Contact: " in page_text(refused) and "is about another client" in page_text(refused)
    assert s.execute(select(FollowUp).where(FollowUp.linkman_id == their_contact.id)).first() is None
    # the domain holds outside forms too
    s.add(FollowUp(client=mine, type=lookup(s, FollowUpType), content="x", linkman=their_contact, user=mine.owner))
    with pytest.raises(FieldError, match="is about another client"):
        s.flush()
    s.rollback()


def test_the_contact_picker_follows_the_client(client_as, db_session):
    s = db_session
    mine, other = make_client(s, "account_manager"), make_client(s, "account_manager")
    mine_contacts = [add_children(s, mine)["linkman"] for _ in range(2)]
    add_children(s, other)
    hidden = make_client(s, "sales_director")  # outside the account manager's scope
    add_children(s, hidden)
    s.commit()
    am = client_as("account_manager")
    page = am.get("/admin/contract/new/").get_data(as_text=True)
    select_tag = re.search(r'<select[^>]*name="linkman"[^>]*>', page).group(0)
    assert 'data-follows="client"' in select_tag and 'data-choices-url="/admin/contract/choices/linkman/"' in select_tag
    assert "/static/pickers.js" in page
    choices = am.get(f"/admin/contract/choices/linkman/?parent_id={mine.id}").get_json()
    assert sorted(c["id"] for c in choices) == sorted(c.id for c in mine_contacts)
    assert {c["text"] for c in choices} == {str(c) for c in mine_contacts}
    assert am.get(f"/admin/contract/choices/linkman/?parent_id={hidden.id}").get_json() == []
    assert am.get("/admin/contract/choices/linkman/?parent_id=x").get_json() == []
    assert am.get("/admin/contract/choices/owner/?parent_id=1").status_code == 404
    follow_up = am.get(f"/admin/followup/choices/linkman/?parent_id={mine.id}").get_json()
    assert len(follow_up) == 2
    assert s.execute(select(Linkman).where(Linkman.client_id == mine.id)).scalars().all()
