"""seed-demo: a realistic Chinese organisation, then its clients (seed/customers_demo.py),
finance and purchasing data, two years of sales (seed/sales_demo.py), service tickets
(seed/demo_service.py) and marketing (seed/demo_marketing.py)."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import click
from faker import Faker
from sqlalchemy import func, select

from models import db
from models.auth import Department, Role, SystemConfig, User
from models.customers import Client, Contract
from models.lookups import Position
from models.validators import id_card_check_char

from . import bulk
from . import reference as ref

#: clients written and committed together with everything that hangs off them
CHUNK = 5000
#: the system_config row recording a seed-demo run in progress: {"seed", "clients", "done"}
PROGRESS_SETTING = "seed_demo.in_progress"
PROGRESS_DESCRIPTION = "seed-demo run in progress or interrupted: run seed-demo again to finish it"

ROLE_USERNAMES = {
    "executive": "exec",
    "sales_director": "director",
    "account_manager": "am",
    "clerk": "clerk",
    "finance": "finance",
    "service": "service",
    "marketing": "marketing",
    "admin": "sysadmin",
}
AREA_CODES = ["110101", "310104", "440305", "330106", "320102", "510107", "420106"]


def _id_card(rng: random.Random, birthday: date) -> str:
    first17 = f"{rng.choice(AREA_CODES)}{birthday:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + id_card_check_char(first17)


def seed_demo(seed: int, password: str, clients: int = 200, commit=None, bulk_load: bool = False) -> str:
    """Departments and users of every role with Chinese names, then ``clients`` demo clients
    with their contacts, follow-ups, appointments and contracts; deterministic per seed.
    ``commit`` (e.g. ``db.session.commit``) is called after every chunk of clients; see
    :func:`seed_demo_data` for ``bulk_load``."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    departments = {}
    for name, parent in ref.DEMO_DEPARTMENTS:
        dep = db.session.execute(select(Department).where(Department.name == name)).scalar()
        if dep is None:
            dep = Department(name=name, parent=departments.get(parent), sort_order=len(departments) * 10)
            db.session.add(dep)
        departments[name] = dep
    db.session.flush()

    roles = {r.code: r for r in db.session.execute(select(Role)).scalars()}
    positions = {p.name: p for p in db.session.execute(select(Position)).scalars()}
    taken = set(db.session.execute(select(User.username)).scalars())
    plan = [(role, dep, i) for role, places in ref.DEMO_STAFF.items() for dep, count in places for i in range(count)]
    counters: dict[str, int] = {}
    made = 0
    password_hash = None
    with click.progressbar(plan, label="Demo users", file=None) as bar:
        for role, dep, _ in bar:
            counters[role] = counters.get(role, 0) + 1
            username = f"{ROLE_USERNAMES[role]}{counters[role]}"
            if username in taken:
                continue
            birthday = date(1970, 1, 1) + timedelta(days=rng.randint(0, 365 * 32))
            user = User(
                username=username,
                name=fake.name(),
                role=roles[role],
                department=departments[dep],
                position=positions.get(
                    {"executive": "总经理", "sales_director": "经理", "clerk": "专员"}.get(role, "专员")
                ),
                mobile=f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}",
                email=f"{username}@example.cn",
                gender=rng.choice(["男", "女"]),
                address=fake.address()[:200],
                birthday=birthday,
                id_card=_id_card(rng, birthday),
                hired_on=date(2015, 1, 1) + timedelta(days=rng.randint(0, 3600)),
                is_active=True,
            )
            if password_hash is None:  # one scrypt for all: they share the published demo password
                user.set_password(password)
                password_hash = user.password_hash
            user.password_hash = password_hash
            db.session.add(user)
            taken.add(username)
            made += 1
    db.session.flush()
    counts = seed_demo_data(seed, clients, commit, bulk_load)
    return ", ".join(
        [f"{len(departments)} departments", f"{made} users"] + [f"{n} {name}" for name, n in counts.items()]
    )


def _progress_marker() -> SystemConfig | None:
    return db.session.execute(select(SystemConfig).where(SystemConfig.name == PROGRESS_SETTING)).scalar()


def interrupted_run() -> dict | None:
    """The record of a seed-demo run that stopped before its end (None: there is none)."""
    marker = _progress_marker()
    return json.loads(marker.value) if marker is not None else None


def _save_progress(state: dict) -> None:
    marker = _progress_marker()
    if marker is None:
        marker = SystemConfig(name=PROGRESS_SETTING, value="", description=PROGRESS_DESCRIPTION)
        db.session.add(marker)
    marker.value = json.dumps(state)
    db.session.flush()


def seed_demo_data(seed: int, clients: int, commit=None, bulk_load: bool = False) -> dict[str, int]:
    """The clients and everything that hangs off them, ``CHUNK`` clients at a time: each
    chunk's clients, contacts, follow-ups, contracts, receipts, invoices, opportunities,
    quotes and orders are written together and (with ``commit``) committed together, so an
    interruption leaves whole chunks and a progress record that the next run resumes from.
    With ``bulk_load`` the big tables' secondary indexes are dropped first and built once
    at the end, with SQLite load pragmas; then ANALYZE."""
    from models.search import suspend_search_index

    from . import after_bulk_load
    from .customers_demo import DemoClients
    from .demo_marketing import seed_marketing
    from .demo_service import seed_service
    from .finance_demo import DemoFinance, finance_batch, finance_counts, finance_summary
    from .purchasing_demo import seed_purchasing
    from .sales_demo import sales_batch, sales_counts, sales_finish, sales_start

    commit = commit or db.session.flush
    state = interrupted_run() or {"seed": seed, "clients": clients, "done": 0}
    resumed = state["done"]
    remaining = state["clients"] - state["done"]
    counts = {"clients": 0, "linkmans": 0, "follow-ups": 0, "appointments": 0, "contracts": 0}
    money, sales = finance_counts(), sales_counts()
    with bulk.load_settings(bulk_load) as reapply:
        if bulk_load:
            bulk.drop_indexes()
            suspend_search_index(db.session)  # the FTS5 tables are rebuilt once, at the end
        _save_progress(state)
        commit()
        people = DemoClients(seed + resumed) if remaining > 0 else None
        finance = DemoFinance(seed + resumed)
        seller = sales_start(seed + resumed, sales)
        label = "Demo clients with contacts, contracts, receipts, orders"
        with click.progressbar(length=max(remaining, 0), label=label) as bar:
            while remaining > 0:
                size = min(CHUNK, remaining)
                last_contract = db.session.execute(select(func.max(Contract.id))).scalar() or 0
                last_client = db.session.execute(select(func.max(Client.id))).scalar() or 0
                people.batch(size, counts)
                finance_batch(finance, last_contract, money)
                if seller is not None:
                    sales_batch(seller, last_client, sales)
                remaining -= size
                state["done"] += size
                _save_progress(state)
                commit()
                reapply()
                bar.update(size)
        counts.update(finance_summary(money))
        counts.update(seed_purchasing(seed))
        counts.update(seed_service(seed))
        bulk.build_indexes()  # also those a crashed bulk run left dropped
        if seller is not None:
            click.echo("Demo sales: stock, targets, weekly reports, churn …")
            counts.update(sales_finish(seller, sales))
        else:
            counts.update(sales)
        counts.update(seed_marketing(seed))
        after_bulk_load(db.session)
        if bulk_load:
            bulk.analyze()
        db.session.delete(_progress_marker())
        commit()
    return counts
