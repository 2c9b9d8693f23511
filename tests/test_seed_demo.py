"""seed-demo --clients: realistic, valid, deterministic demo clients (SPEC §2.2, §4.3)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import func, select

from models import validators
from models.auth import Role, User
from models.base import check_row
from models.customers import Appointment, Client, Contract, FollowUp, Linkman, normalise_name
from tests.conftest import fresh_database, make_app


def _seed(app, *args):
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _clients(app):
    from models import db
    with app.app_context():
        names = db.session.execute(select(Client.name, Client.uscc, Client.contact_mobile)
                                   .order_by(Client.id)).all()
        db.session.remove()
        db.engine.dispose()
    return names


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
    owner_roles = set(s.execute(select(Role.code).join(User, User.role_id == Role.id)
                                .where(User.id.in_({c.owner_id for c in clients}))).scalars())
    assert owner_roles <= {"account_manager", "sales_director"} and "account_manager" in owner_roles
    owners = {c.id: c.owner_id for c in clients}
    assert all(f.user_id == owners[f.client_id] for f in s.execute(select(FollowUp)).scalars())

    # appointments: reminder before the appointment, some reminders already due
    now = datetime.now(timezone.utc)
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


def test_same_seed_gives_the_same_clients(database_url, template_db, tmp_path):
    runs = []
    with fresh_database(template_db, tmp_path) as second:
        for url in (database_url, second):
            app = make_app(url, tmp_path)
            _seed(app, "--clients", "30", "--seed", "3")
            runs.append(_clients(app))
    assert len(runs[0]) == 30 and runs[0] == runs[1]
