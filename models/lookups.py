"""The 18 lookup tables of SPEC §4.2 (数据字典), all declared through one mixin."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from . import db
from .base import Timestamps, label


class Lookup(Timestamps):
    """A named value with an order and an active flag. Inactive values stay on old
    records but are not offered in forms; a value in use cannot be deleted."""

    __lookup__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True, info=label("Name"))
    sort_order: Mapped[int] = mapped_column(Integer, default=0, info=label("Sort order"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, info=label("Active"))

    def __str__(self) -> str:
        return self.name

    def usages(self) -> list[tuple[str, int]]:
        """(table, count) for every table whose rows point at this value."""
        found = []
        for table in db.Model.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table is not self.__table__:
                    continue
                count = db.session.execute(
                    select(db.func.count()).select_from(table).where(fk.parent == self.id)
                ).scalar()
                if count:
                    found.append((table.name, count))
        return found


class Trade(Lookup, db.Model):
    __tablename__ = "system_trade"
    __label__ = _l("Trades / product categories")


class FollowUpType(Lookup, db.Model):
    __tablename__ = "system_records"
    __label__ = _l("Follow-up types")


class ClientType(Lookup, db.Model):
    __tablename__ = "system_type"
    __label__ = _l("Client types")


class ClientSource(Lookup, db.Model):
    __tablename__ = "system_source"
    __label__ = _l("Client sources")


class StarRating(Lookup, db.Model):
    __tablename__ = "system_start"
    __label__ = _l("Star ratings")


class Position(Lookup, db.Model):
    __tablename__ = "system_position"
    __label__ = _l("Positions")


class ContractType(Lookup, db.Model):
    __tablename__ = "system_contract"
    __label__ = _l("Contract types")


class RevenueBand(Lookup, db.Model):
    __tablename__ = "system_scale"
    __label__ = _l("Annual revenue bands")


class CapitalBand(Lookup, db.Model):
    __tablename__ = "system_fund"
    __label__ = _l("Registered capital bands")


class CompanySize(Lookup, db.Model):
    __tablename__ = "system_size"
    __label__ = _l("Company sizes")


class BusinessModel(Lookup, db.Model):
    __tablename__ = "system_model"
    __label__ = _l("Business models")


class Area(Lookup, db.Model):
    """所属地区: province → city."""

    __tablename__ = "system_area"
    __label__ = _l("Areas")

    @declared_attr
    def parent_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("system_area.id", ondelete="RESTRICT"), index=True, info=label("Parent area"))

    @declared_attr
    def parent(cls):
        return relationship("Area", remote_side="Area.id", info=label("Parent area"))

    def __str__(self) -> str:
        return self.name


class AppointmentType(Lookup, db.Model):
    __tablename__ = "system_appointment"
    __label__ = _l("Appointment types")


class SalesStage(Lookup, db.Model):
    __tablename__ = "system_stage"
    __label__ = _l("Sales stages")

    probability: Mapped[int] = mapped_column(Integer, default=0, info=label("Probability (%)", minimum=0, maximum=100))


class ServiceType(Lookup, db.Model):
    __tablename__ = "system_service"
    __label__ = _l("Service types")


class PaymentMethod(Lookup, db.Model):
    __tablename__ = "system_payment"
    __label__ = _l("Payment methods")


class InvoiceType(Lookup, db.Model):
    __tablename__ = "system_invoice"
    __label__ = _l("Invoice types")


class CampaignType(Lookup, db.Model):
    __tablename__ = "system_campaign"
    __label__ = _l("Campaign types")


#: endpoint → lookup class, in menu order (endpoints fixed by SPEC §4.2)
LOOKUPS: dict[str, type[Lookup]] = {
    "trade": Trade,
    "followup_type": FollowUpType,
    "client_type": ClientType,
    "client_source": ClientSource,
    "star_rating": StarRating,
    "position": Position,
    "contract_type": ContractType,
    "revenue_band": RevenueBand,
    "capital_band": CapitalBand,
    "company_size": CompanySize,
    "business_model": BusinessModel,
    "area": Area,
    "appointment_type": AppointmentType,
    "sales_stage": SalesStage,
    "service_type": ServiceType,
    "payment_method": PaymentMethod,
    "invoice_type": InvoiceType,
    "campaign_type": CampaignType,
}


def is_lookup(model) -> bool:
    """True for the lookup classes (used to hide inactive values in forms)."""
    return isinstance(model, type) and issubclass(model, Lookup)
