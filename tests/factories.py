"""Small builders for test data (inside an app context / db_session)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from models.auth import User
from models.base import utcnow
from models.customers import Appointment, Client, Contract, FollowUp, Linkman
from models.lookups import AppointmentType, Area, ContractType, FollowUpType, SalesStage
from models.opportunities import Opportunity
from models.orders import Order, OrderLine, Quote, QuoteLine
from models.products import Product, Stock
from models.workflow import perform

_seq = itertools.count(1)


def user(session, username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def lookup(session, model, name: str | None = None):
    query = select(model).order_by(model.id)
    if name:
        query = query.where(model.name == name)
    return session.execute(query).scalars().first()


def make_client(session, owner: str | User, name: str | None = None, **fields) -> Client:
    n = next(_seq)
    owner = user(session, owner) if isinstance(owner, str) else owner
    client = Client(
        name=name or f"测试客户{n}有限公司",
        address="北京市海淀区中关村大街1号",
        phone="010-12345678",
        area=lookup(session, Area, "北京"),
        contact_name="张三",
        contact_mobile=f"139{n:08d}",
        owner=owner,
    )
    for key, value in fields.items():
        setattr(client, key, value)
    session.add(client)
    session.flush()
    return client


def add_children(session, client: Client, mobile: str | None = None) -> dict:
    with session.no_autoflush:
        return _add_children(session, client, mobile)


def _add_children(session, client: Client, mobile: str | None) -> dict:
    n = next(_seq)
    linkman = Linkman(client=client, name=f"联系人{n}", position="经理", gender="男", mobile=mobile or f"137{n:08d}")
    followup = FollowUp(
        client=client,
        type=lookup(session, FollowUpType),
        content=f"电话沟通{n}",
        user=client.owner,
        followed_at=utcnow(),
    )
    appointment = Appointment(
        client=client,
        type=lookup(session, AppointmentType),
        content=f"拜访{n}",
        scheduled_at=utcnow() + timedelta(days=2),
        remind_at=utcnow() + timedelta(days=1),
        user=client.owner,
    )
    contract = Contract(
        client=client,
        type=lookup(session, ContractType),
        number=f"HT-T-{n:06d}",
        name=f"合同{n}",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        amount=Decimal("1000.00"),
        owner=client.owner,
    )
    session.add_all([linkman, followup, appointment, contract])
    session.flush()
    return {"linkman": linkman, "followup": followup, "appointment": appointment, "contract": contract}


def pdf_bytes(pages: int = 1, xmp: bool = False) -> bytes:
    """A real PDF (pypdf opens it and finds ``pages`` pages); ``xmp``: with an XMP
    metadata stream (``<?xml`` near the start of the file), as scanners write."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    if xmp:
        stream = DecodedStreamObject()
        stream.set_data(b'<?xml version="1.0" encoding="UTF-8"?><x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>')
        stream.update({NameObject("/Type"): NameObject("/Metadata"), NameObject("/Subtype"): NameObject("/XML")})
        writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def image_bytes(kind: str = "PNG", size=(2, 2)) -> bytes:
    """A real PNG or JPEG (Pillow verifies it)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, kind)
    return buffer.getvalue()


def make_product(session, price="10.00", unit="个", stock=None, warehouse="主仓", **fields) -> Product:
    """A product; ``stock`` puts that quantity in ``warehouse``."""
    n = next(_seq)
    product = Product(
        name=fields.pop("name", f"测试产品{n}"),
        model=fields.pop("model", f"X-{n}"),
        unit=unit,
        price=Decimal(price),
        **fields,
    )
    session.add(product)
    session.flush()
    if stock is not None:
        session.add(Stock(product=product, warehouse=warehouse, quantity=stock))
        session.flush()
    return product


def make_order(session, owner="account_manager", lines=(), client=None, **fields) -> Order:
    """An order of ``owner`` with ``lines`` = [(product, quantity[, unit_price])]."""
    n = next(_seq)
    client = client or make_client(session, owner)
    order = Order(
        number=fields.pop("number", f"DD-T-{n:05d}"),
        client=client,
        owner=user(session, owner),
        ordered_on=fields.pop("ordered_on", date(2026, 11, 2)),
        **fields,
    )
    return _with_lines(session, order, OrderLine, lines)


def make_quote(session, owner="account_manager", lines=(), discount="0", client=None, **fields) -> Quote:
    """A draft quote of ``owner`` with ``lines`` = [(product, quantity[, unit_price])]."""
    client = client or make_client(session, owner)
    quote = Quote(client=client, owner=user(session, owner), discount_pct=Decimal(discount), **fields)
    return _with_lines(session, quote, QuoteLine, lines)


def _with_lines(session, document, line_class, lines):
    """``document`` (an order or a quote) with ``lines`` = [(product, quantity[, unit_price])]
    (no unit price: the product's), added and flushed."""
    for product, quantity, *price in lines:
        document.lines.append(
            line_class(product=product, quantity=quantity, unit_price=Decimal(price[0]) if price else None)
        )
    session.add(document)
    session.flush()
    return document


def to_state(session, quote, state, submitter="account_manager", approver="sales_director"):
    """Move a quote along §5.2: submitted / approved / rejected / accepted."""
    perform(quote, "submit", user(session, submitter))
    if state in ("approved", "accepted") and quote.status == "submitted":
        perform(quote, "approve", user(session, approver))
    if state == "rejected":
        perform(quote, "reject", user(session, approver), "价格过低")
    if state == "accepted":
        perform(quote, "accept", user(session, submitter))
    session.commit()
    assert quote.status == state
    return quote


def stage(session, name="需求确认"):
    return lookup(session, SalesStage, name)


def make_opportunity(
    session, created_by="sales_director", assigned_to=None, stage_name="需求确认", **fields
) -> Opportunity:
    """An opportunity created by ``created_by`` (assigned to ``assigned_to`` when given)."""
    n = next(_seq)
    fields.setdefault("customer_name", f"测试客户{n}有限公司")
    fields.setdefault("title", f"ERP 升级项目{n}")
    opportunity = Opportunity(
        description="客户需要升级 ERP 系统",
        created_by=user(session, created_by),
        stage=stage(session, stage_name),
        **fields,
    )
    if assigned_to:
        opportunity.assigned_to = user(session, assigned_to)
    session.add(opportunity)
    session.commit()
    return opportunity


def make_contract(
    session, client, amount="1000.00", starts_on=date(2026, 1, 1), status="approved", owner=None, **fields
) -> Contract:
    """A contract of ``client`` (owned by the client's owner unless ``owner``) in ``status``,
    running a year from ``starts_on``."""
    n = next(_seq)
    contract = Contract(
        client=client,
        type=lookup(session, ContractType),
        number=fields.pop("number", f"HT-F-{n:05d}"),
        name=fields.pop("name", f"测试合同{n}"),
        starts_on=starts_on,
        ends_on=fields.pop("ends_on", starts_on + timedelta(days=364)),
        amount=Decimal(amount),
        owner=owner or client.owner,
        status=status,
        **fields,
    )
    session.add(contract)
    session.flush()
    return contract


def contract_form(session, client, **extra):
    """The fields of the contract create form for a contract of ``client`` (owned by the
    client's owner); ``extra`` adds or replaces fields, None leaves one out."""
    n = next(_seq)
    data = {
        "client": str(client.id),
        "type": str(lookup(session, ContractType).id),
        "number": f"HT-UP-{n:05d}",
        "name": f"扫描件合同{n}",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "amount": "1000.00",
        "owner": str(client.owner_id),
    }
    data.update(extra)
    return {name: value for name, value in data.items() if value is not None}


def person(session, *rights: str, scope: str = "all", department=None) -> str:
    """A user of a new role holding exactly ``rights`` (codes) with data ``scope``, in
    ``department`` (None: no department); returns the username."""
    from models.auth import Right, Role
    from tests.conftest import PASSWORD

    tag = uuid.uuid4().hex[:8]
    role = Role(code=f"crud_{tag}", name=f"机制测试{tag}", data_scope=scope, is_active=True)
    role.rights = list(session.execute(select(Right).where(Right.code.in_(rights))).scalars())
    assert len(role.rights) == len(rights), "unknown right code"
    account = User(username=f"crud_{tag}", name=f"机制{tag}", role=role, is_active=True, department=department)
    account.set_password(PASSWORD)
    session.add_all([role, account])
    session.commit()
    return account.username


# ----------------------------------------------------------------- service tickets
def service_desk(session):
    """The service department 客服部 with the seeded ``service`` user (the lead, department
    scope) and an agent; a service user in 销售二部 (outside the lead's scope). Returns
    (lead, agent, far agent)."""
    from models.auth import Department
    from seed import make_user

    dept = session.execute(select(Department).where(Department.name == "客服部")).scalar()
    if dept is None:
        session.add(Department(name="客服部"))
        session.flush()
        user(session, "service").department = session.execute(
            select(Department).where(Department.name == "客服部")
        ).scalar_one()
        make_user("agent", "service", "password-123", name="客服小王", department="客服部")
        make_user("far_agent", "service", "password-123", name="二部客服", department="销售二部")
        session.commit()
    return user(session, "service"), user(session, "agent"), user(session, "far_agent")


def ticket(session, client=None, creator="clerk", title="打印机无法连接", **fields):
    """A new service ticket (售后) of ``client`` (default: a new client of account_manager)."""
    from models.lookups import ServiceType
    from models.service import ServiceTicket

    record = ServiceTicket(
        type=lookup(session, ServiceType, "售后"),
        title=title,
        client=client or make_client(session, "account_manager"),
        request="客户来电：打印机无法连接网络",
        created_by=user(session, creator) if isinstance(creator, str) else creator,
        **fields,
    )
    session.add(record)
    session.flush()
    return record


def post_ticket(web, session, client, title, type_name="售后", priority="normal", request="客户来电"):
    """Raise a ticket through the form as ``web``'s user; the response (302 when saved)."""
    from models.lookups import ServiceType

    data = {"type": str(lookup(session, ServiceType, type_name).id), "title": title, "client": str(client.id)}
    return web.post("/admin/service/new/", data={**data, "priority": priority, "request": request})


# ------------------------------------------------------------------------ marketing
def campaign(session, owner="marketing", **fields):
    """A campaign of ``owner`` (type: the first campaign type), flushed."""
    from models.lookups import CampaignType
    from models.marketing import Campaign

    n = next(_seq)
    record = Campaign(
        name=fields.pop("name", f"测试活动{n}"),
        type=fields.pop("type", None) or lookup(session, CampaignType),
        starts_on=fields.pop("starts_on", date(2026, 3, 1)),
        owner=user(session, owner) if isinstance(owner, str) else owner,
        **fields,
    )
    session.add(record)
    session.flush()
    return record


def lead(session, campaign=None, owner="marketing", **fields):
    """A lead of ``campaign`` owned by ``owner`` (new unless ``status`` says otherwise), flushed."""
    from models.lookups import ClientSource
    from models.marketing import Lead

    n = next(_seq)
    record = Lead(
        campaign=campaign,
        company_name=fields.pop("company_name", f"线索测试{n}有限公司"),
        contact_name=fields.pop("contact_name", "李四"),
        mobile=fields.pop("mobile", f"136{n:08d}"),
        source=lookup(session, ClientSource),
        owner=user(session, owner) if isinstance(owner, str) else owner,
        **fields,
    )
    session.add(record)
    session.flush()
    return record
