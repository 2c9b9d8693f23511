"""seed-demo: a realistic Chinese organisation, then its clients (seed/customers_demo.py),
finance and purchasing data, and two years of sales (seed/sales_demo.py)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import click
from faker import Faker
from sqlalchemy import func, select

from models import db
from models.auth import Department, Role, User
from models.customers import Client
from models.lookups import Position
from models.validators import id_card_check_char

from . import reference as ref

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


def seed_demo(seed: int, password: str, clients: int = 200) -> str:
    """Departments and users of every role with Chinese names, then ``clients`` demo clients
    with their contacts, follow-ups, appointments and contracts; deterministic per seed."""
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
            user.set_password(password)
            db.session.add(user)
            taken.add(username)
            made += 1
    db.session.flush()
    from .customers_demo import seed_clients
    from .finance_demo import seed_finance
    from .purchasing_demo import seed_purchasing
    from .sales_demo import seed_sales

    first_client = db.session.execute(select(func.max(Client.id))).scalar() or 0
    counts = seed_clients(clients, seed)
    counts.update(seed_finance(seed))
    counts.update(seed_purchasing(seed))
    counts.update(seed_sales(seed, since_client_id=first_client))
    return ", ".join(
        [f"{len(departments)} departments", f"{made} users"] + [f"{n} {name}" for name, n in counts.items()]
    )
