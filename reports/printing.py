"""Printable documents (issue 14 item 1): a record as an A4 portrait PDF a clerk hands to a
customer — the company's name, address and phone from the settings on every page, the
document's title and number, its parties and dates, its lines, the totals in figures and in
capital numerals (大写金额, models/capitals.py), signature lines, "page n / N" and the time it
was generated. The Chinese font is embedded (the reports' font).

A document type is a function ``record → Printed`` (:data:`DOCUMENTS`); the views declare
which one their records print as (``printable = "quote"``, views/crud/printing.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from models import settings
from models.capitals import rmb_capital
from models.finance import RECEIPT_STATUSES

from .render import CJK_FONT, money_text


@dataclass
class Printed:
    """One printable document: ``fields`` are (label, value) pairs in two columns above the
    lines; ``lines`` are rows of text under ``headers`` (``widths`` in mm, ``right`` the
    columns aligned right); ``totals`` (label, Decimal); ``capital`` the amount spelt out."""

    title: object
    number: str
    fields: list[tuple[object, str]]
    headers: Sequence[object] = ()
    widths: Sequence[float] = ()
    right: frozenset = frozenset()
    lines: list[Sequence[str]] = field(default_factory=list)
    totals: list[tuple[object, Decimal]] = field(default_factory=list)
    capital: Decimal | None = None
    notes: str = ""
    signatures: Sequence[object] = ()
    #: columns holding codes (contract numbers …): shrunk to fit one line, never cut or split
    codes: frozenset = frozenset()
    #: columns whose text wraps onto more lines (comments)
    wrap: frozenset = frozenset()


def _day(value) -> str:
    return format_date(value, "yyyy-MM-dd") if value else ""


def _name(person) -> str:
    return (person.name or person.username) if person is not None else ""


#: the line table of a quote or an order (widths: 180 mm, A4 less the margins)
PRODUCT_LINES = {
    "headers": (_l("Line no."), _l("Product"), _l("Quantity"), _l("Unit"), _l("Unit price"), _l("Amount")),
    "widths": (12, 74, 18, 16, 28, 32),
    "right": frozenset({2, 4, 5}),
}


def _client_fields(client) -> tuple[str, str, str]:
    """(name, contact, phone) of the document's client."""
    if client is None:
        return "", "", ""
    return client.name, client.contact_name or "", client.phone or client.contact_mobile or ""


def _product_lines(lines) -> list[tuple[str, ...]]:
    rows = []
    for n, line in enumerate(lines, 1):
        product = line.product
        unit = getattr(line, "unit", None) or getattr(product, "unit", None) or ""
        amount = Decimal(line.unit_price or 0) * line.quantity
        name = str(product) if product is not None else ""
        rows.append((str(n), name, str(line.quantity), unit, money_text(line.unit_price), money_text(amount)))
    return rows


def quote_document(quote) -> Printed:
    """报价单: the client, the validity, the lines, the discount and the total."""
    name, contact, phone = _client_fields(quote.client)
    discount = Decimal(quote.discount_pct or 0)
    totals = [(_l("Subtotal"), Decimal(quote.subtotal or 0))]
    if discount:
        totals.append((_l("Discount %(pct)s%%", pct=f"{discount.normalize():f}"), quote.total - quote.subtotal))
    totals.append((_l("Total after discount"), Decimal(quote.total or 0)))
    return Printed(
        title=_l("Quotation"),
        number=quote.number or "",
        fields=[
            (_l("Client"), name),
            (_l("Quote date"), _day(quote.created_at)),
            (_l("Contact"), contact),
            (_l("Valid until"), _day(quote.valid_until)),
            (_l("Phone"), phone),
            (_l("Salesperson"), _name(quote.owner)),
        ],
        **PRODUCT_LINES,
        lines=_product_lines(quote.lines),
        totals=totals,
        capital=Decimal(quote.total or 0),
        notes=quote.notes or "",
        signatures=(_l("Issued by (seal)"), _l("Accepted by the client (seal)")),
    )


def order_document(order) -> Printed:
    """订单确认书: the client, the order date, the delivery address, the lines and the total."""
    client = order.client
    name, contact, phone = _client_fields(client)
    return Printed(
        title=_l("Order confirmation"),
        number=order.number or "",
        fields=[
            (_l("Client"), name),
            (_l("Order date"), _day(order.ordered_on)),
            (_l("Contact"), contact),
            (_l("Salesperson"), _name(order.owner)),
            (_l("Delivery address"), order.delivery_address or (client.address if client else "") or ""),
            (_l("Phone"), phone),
        ],
        **PRODUCT_LINES,
        lines=_product_lines(order.lines),
        totals=[(_l("Order total"), Decimal(order.total or 0))],
        capital=Decimal(order.total or 0),
        notes=order.notes or "",
        signatures=(_l("Seller (seal)"), _l("Buyer (seal)")),
    )


def receipt_document(receipt) -> Printed:
    """收款凭证: who paid how much, when and how, the contracts it was allocated to, who
    recorded and who confirmed it."""
    client = receipt.client
    lines = [
        (str(n), allocation.contract.number or "", allocation.contract.name or "", money_text(allocation.amount))
        for n, allocation in enumerate(receipt.allocations, 1)
    ]
    return Printed(
        title=_l("Receipt voucher"),
        number=receipt.number or "",
        fields=[
            (_l("Client"), client.name if client else ""),
            (_l("Received on"), _day(receipt.received_on)),
            (_l("Payer"), receipt.payer or (client.name if client else "")),
            (_l("Payment method"), str(receipt.method) if receipt.method else ""),
            (_l("Bank reference"), receipt.bank_ref or ""),
            (_l("Recorded by"), _name(receipt.recorded_by)),
            (_l("Status"), str(dict(RECEIPT_STATUSES).get(receipt.status, receipt.status))),
            (_l("Confirmed by"), _name(receipt.confirmed_by)),
        ],
        headers=(_l("Line no."), _l("Contract number"), _l("Contract name"), _l("Allocated amount")),
        widths=(12, 45, 88, 35),
        right=frozenset({3}),
        codes=frozenset({1}),
        lines=lines,
        totals=[(_l("Amount received"), Decimal(receipt.amount or 0))],
        capital=Decimal(receipt.amount or 0),
        notes=receipt.notes or "",
        signatures=(_l("Cashier"), _l("Payer")),
    )


def _datetime(value) -> str:
    from flask_babel import format_datetime

    return format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""


def delivery_note_document(shipment) -> Printed:
    """发货单: one shipment — the order, the client, the warehouse, per line what was ordered,
    shipped before, shipped now and what is left pending; signatures of 发货人 and 收货人."""
    from models.shipments import shipped_quantities

    order = shipment.order
    name, contact, phone = _client_fields(order.client)
    earlier = shipped_quantities(order, before=shipment)
    now = {line.order_line_id: line.quantity for line in shipment.lines}
    lines = []
    for n, line in enumerate(order.lines, 1):
        before, this = earlier.get(line.id, 0), now.get(line.id, 0)
        left = max(int(line.quantity) - before - this, 0)
        lines.append(
            (str(n), str(line.product), line.unit or "", str(line.quantity), str(before), str(this), str(left))
        )
    notes = shipment.note or ""
    if shipment.returned_at:
        notes = " ".join(
            part for part in (notes, str(_l("Returned to stock at %(time)s.", time=_datetime(shipment.returned_at))))
        ).strip()
    return Printed(
        title=_l("Delivery note"),
        number=shipment.number or "",
        fields=[
            (_l("Client"), name),
            (_l("Order number"), order.number or ""),
            (_l("Contact"), contact),
            (_l("Shipped at"), _datetime(shipment.shipped_at)),
            (_l("Phone"), phone),
            (_l("Warehouse"), shipment.warehouse),
            (_l("Delivery address"), order.delivery_address or ""),
            (_l("Shipped by"), _name(shipment.shipped_by)),
        ],
        headers=(
            _l("Line no."),
            _l("Product"),
            _l("Unit"),
            _l("Ordered"),
            _l("Shipped before"),
            _l("This shipment"),
            _l("Left pending"),
        ),
        widths=(12, 60, 14, 20, 26, 24, 24),
        right=frozenset({3, 4, 5, 6}),
        lines=lines,
        notes=notes,
        signatures=(_l("Shipped by (consignor)"), _l("Received by (consignee)")),
    )


def contract_cover_document(contract) -> Printed:
    """合同审批单 (the cover sheet for the seal): the contract's fields and its approval trail —
    every workflow step from the audit history (who, when, comment), the recorded submitter
    and approvers, the approval comment."""
    from models.audit import history
    from models.workflow import workflow_of

    workflow = workflow_of(contract)
    steps = [e for e in reversed(history(contract.__tablename__, contract.id)) if e.action in workflow.transitions]
    lines = [
        (
            str(n),
            str(workflow.transitions[e.action].label),
            _name(e.user),
            _datetime(e.at),
            e.comment or "",
        )
        for n, e in enumerate(steps, 1)
    ]
    fields = [
        (_l("Contract name"), contract.name or ""),
        (_l("Contract number"), contract.number or ""),
        (_l("Client"), contract.client.name if contract.client else ""),
        (_l("Contract type"), str(contract.type) if contract.type else ""),
        (_l("Contract amount"), money_text(contract.amount)),
        (_l("Status"), workflow.state_label(contract.status)),
        (_l("Start date"), _day(contract.starts_on)),
        (_l("End date"), _day(contract.ends_on)),
        (_l("Contact"), str(contract.linkman) if contract.linkman else ""),
        (_l("Salesperson"), _name(contract.owner)),
        (_l("Submitted by"), _name(contract.submitted_by)),
        (_l("Submitted at"), _datetime(contract.submitted_at)),
        (_l("Approved by"), _name(contract.approved_by)),
        (_l("Approved at"), _datetime(contract.approved_at)),
    ]
    if contract.second_approved_by_id:
        fields += [
            (_l("Second approval by"), _name(contract.second_approved_by)),
            (_l("Second approval at"), _datetime(contract.second_approved_at)),
        ]
    comment = contract.approval_comment
    notes = str(_l("Approval comment: %(comment)s", comment=comment)) if comment else ""
    return Printed(
        title=_l("Contract approval sheet"),
        number=contract.number or "",
        fields=fields,
        headers=(_l("Line no."), _l("Step"), _l("By"), _l("At"), _l("Comment")),
        widths=(12, 34, 30, 32, 72),
        lines=lines,
        capital=Decimal(contract.amount or 0),
        notes=notes,
        signatures=(_l("Handled by (seal)"), _l("Seal approved by")),
        wrap=frozenset({4}),
    )


#: document type → the function that lays out one record
DOCUMENTS: dict[str, Callable] = {
    "quote": quote_document,
    "order": order_document,
    "receipt": receipt_document,
    "delivery_note": delivery_note_document,
    "contract_cover": contract_cover_document,
}


# ---------------------------------------------------------------------------- the PDF
def logo_path():
    """The image of the ``company_logo`` setting (an uploaded file's id, or a path relative
    to the instance folder), when it names a PNG or JPEG that exists; else None."""
    from pathlib import Path

    from flask import current_app

    value = settings.company_logo().strip()
    if not value:
        return None
    if value.isdigit():
        from models import db
        from models.customers import StoredFile

        stored = db.session.get(StoredFile, int(value))
        if stored is None:
            return None
        path = Path(current_app.config["UPLOAD_FOLDER"]) / stored.stored_name
    else:
        path = Path(current_app.instance_path) / value
    if not path.is_file() or path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        return None
    return path


def _pdf(generated: str):
    from fpdf import FPDF

    company = (settings.company_name(), settings.company_address(), settings.company_phone())
    logo = logo_path()

    class DocumentPdf(FPDF):
        def header(self):
            if logo is not None:
                try:
                    self.image(str(logo), x=self.l_margin, y=self.t_margin, h=11.5)
                    self.set_left_margin(self.l_margin + 28)
                    self.set_x(self.l_margin)
                except Exception:  # noqa: BLE001 - a broken image prints no logo, never an error
                    pass
            self.set_font("cjk", size=13)
            self.cell(0, 7, company[0], new_x="LMARGIN", new_y="NEXT")
            self.set_font("cjk", size=8)
            self.set_text_color(90)
            contact = "    ".join(part for part in company[1:] if part)
            if contact:
                self.cell(0, 4.5, contact, new_x="LMARGIN", new_y="NEXT")
            if logo is not None:
                self.set_left_margin(15)
                self.set_y(max(self.get_y(), self.t_margin + 12))
            self.set_text_color(0)
            self.set_draw_color(120)
            self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
            self.ln(4)

        def footer(self):
            self.set_y(-12)
            self.set_font("cjk", size=7.5)
            self.set_text_color(110)
            self.cell(0, 5, str(_l("Generated at %(time)s", time=generated)), align="L")
            self.set_x(self.l_margin)
            self.cell(0, 5, str(_l("Page %(page)s of %(pages)s", page=self.page_no(), pages="{nb}")), align="R")
            self.set_text_color(0)

    pdf = DocumentPdf(orientation="P", unit="mm", format="A4")
    pdf.set_margins(15, 12, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font("cjk", "", str(CJK_FONT))
    pdf.set_creator("CRM back office")
    return pdf


def write_documents_pdf(documents: Sequence[Printed], generated: str) -> bytes:
    """Each document from a new page (a long one runs on, its line header repeated)."""
    pdf = _pdf(generated)
    pdf.set_title(f"{documents[0].title} {documents[0].number}" if documents else "")
    for doc in documents:
        pdf.add_page()
        _document(pdf, doc)
    return bytes(pdf.output())


def _document(pdf, doc: Printed) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("cjk", size=17)
    pdf.cell(0, 9, str(doc.title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.cell(0, 5, str(_l("No. %(number)s", number=doc.number)), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    half = width / 2
    for start in range(0, len(doc.fields), 2):
        for label, value in doc.fields[start : start + 2]:
            pdf.set_text_color(90)
            pdf.cell(24, 6, f"{label}:")
            pdf.set_text_color(0)
            pdf.cell(half - 24, 6, _fit(pdf, str(value), half - 26))
        pdf.ln(6)
    pdf.ln(2)
    if doc.headers:
        _lines(pdf, doc)
    pdf.ln(2)
    for label, amount in doc.totals:
        pdf.cell(width - 45, 6.5, str(label), align="R")
        pdf.cell(45, 6.5, money_text(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    if doc.capital is not None:
        pdf.set_font("cjk", size=10)
        words = str(_l("Amount in words: RMB %(words)s", words=rmb_capital(doc.capital)))
        pdf.cell(0, 7, words, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)
    if doc.notes:
        pdf.ln(2)
        pdf.multi_cell(0, 5, str(_l("Notes: %(notes)s", notes=doc.notes)), new_x="LMARGIN", new_y="NEXT")
    if doc.signatures:
        pdf.ln(14)
        step = width / len(doc.signatures)
        for label in doc.signatures:
            pdf.cell(step, 6, f"{label}: ________________")
        pdf.ln(8)
        for _ in doc.signatures:
            pdf.cell(step, 6, str(_l("Date: %(blank)s", blank="____________")))
        pdf.ln(6)


def _fit(pdf, text: str, width: float) -> str:
    """``text`` cut with … to fit one line of ``width`` mm."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _code(pdf, text: str, width: float) -> None:
    """A code on one line: the font made smaller until it fits (never cut, never split)."""
    size = pdf.font_size_pt
    while size > 5 and pdf.get_string_width(text) > width:
        size -= 0.5
        pdf.set_font_size(size)


def _lines(pdf, doc: Printed) -> None:
    step = 7
    leading = 4.6

    def header_row():
        pdf.set_fill_color(232)
        for n, (title, w) in enumerate(zip(doc.headers, doc.widths, strict=True)):
            pdf.cell(w, step, str(title), border=1, align="R" if n in doc.right else "C", fill=True)
        pdf.ln(step)

    header_row()
    for row in doc.lines:
        wrapped = {
            n: pdf.multi_cell(doc.widths[n] - 2, leading, row[n], dry_run=True, output="LINES")
            for n in doc.wrap
            if row[n]
        }
        height = max([step] + [len(lines) * leading + 2.4 for lines in wrapped.values()])
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            header_row()
        x, y = pdf.get_x(), pdf.get_y()
        for n, (text, w) in enumerate(zip(row, doc.widths, strict=True)):
            align = "R" if n in doc.right else "L"
            if n in wrapped:
                pdf.rect(x, y, w, height)
                pdf.set_xy(x + 1, y + 1.2)
                pdf.multi_cell(w - 2, leading, text, align=align)
            elif n in doc.codes:
                size = pdf.font_size_pt
                _code(pdf, text, w - 2)
                pdf.set_xy(x, y)
                pdf.cell(w, height, text, border=1, align=align)
                pdf.set_font_size(size)
            else:
                pdf.set_xy(x, y)
                pdf.cell(w, height, _fit(pdf, text, w - 2), border=1, align=align)
            x += w
        pdf.set_xy(pdf.l_margin, y + height)
