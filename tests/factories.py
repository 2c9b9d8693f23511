"""Small builders for test data (inside an app context / db_session)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from models.auth import User
from models.base import utcnow
from models.customers import Appointment, Client, Contract, FollowUp, Linkman
from models.lookups import AppointmentType, Area, ContractType, FollowUpType

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
