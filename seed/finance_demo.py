"""seed-demo, part 3: contracts in every workflow state, receipts with allocations, invoices.

Runs after seed/customers_demo.py on the contracts it left in draft (never submitted).
Like the client generator it writes with bulk Core statements (``--clients 100000`` means
~10^5 contracts) and draws everything from one ``random.Random`` per seed, so a seed on a
fresh database gives the same data. Core statements bypass the flush and commit hooks,
so the generator keeps every rule itself — the same ones ``finance_problems`` checks
(tests/test_finance.py runs it over the demo): allocations go only to approved-or-later
contracts of the receipt's client, Σ allocations ≤ the receipt and ≤ the contract amount,
tax = amount × rate rounded half-up, Σ non-voided invoice totals ≤ the contract amount.

The workflow columns tell the story ``models.workflow.perform`` would have written:
submitted by the owner, approved by a sales director of the owner's department (or
above; never the submitter), a second approval by an executive above
``contract_approval_threshold``; rejections carry their comment, and the comments of
rejections and terminations are in ``audit_log`` (as perform records them).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

import click
from sqlalchemy import bindparam, func, select, update

from models import db, settings
from models.audit import AuditLog
from models.auth import Department, Role, User
from models.customers import Client, Contract
from models.finance import ContractReceipt, Invoice, Receipt
from models.lookups import ContractType, InvoiceType, PaymentMethod

from . import bulk
from .bulk import weighted

BATCH = 5000
STATES = ("draft", "submitted", "approved", "rejected", "signed", "archived", "terminated")
#: contract timing → [(state, weight)]
STATE_WEIGHTS = {
    "future": [("draft", 30), ("submitted", 22), ("approved", 28), ("rejected", 10), ("signed", 6), ("terminated", 4)],
    "running": [
        ("draft", 8),
        ("submitted", 8),
        ("approved", 14),
        ("rejected", 5),
        ("signed", 55),
        ("terminated", 6),
        ("archived", 4),
    ],
    "ended": [
        ("draft", 3),
        ("submitted", 3),
        ("approved", 5),
        ("rejected", 5),
        ("signed", 17),
        ("terminated", 12),
        ("archived", 55),
    ],
}
#: contract timing → (states, weights), as ``weighted`` takes them
STATE_CHOICES = {timing: tuple(zip(*pairs, strict=True)) for timing, pairs in STATE_WEIGHTS.items()}
REJECT_REASONS = [
    "付款条件不符合公司规定，请与客户重新协商预付款比例。",
    "合同金额与报价单不一致，请核对后重新提交。",
    "缺少客户盖章的授权委托书。",
    "交付周期过短，技术部门评估无法按期完成。",
    "违约责任条款对我方不利，请法务修改后再提交。",
    "客户信用评级偏低，需提高预付款比例。",
]
TERMINATE_REASONS = [
    "客户项目取消，双方协商一致解除合同。",
    "客户预算冻结，合同终止执行。",
    "客户公司重组，合同主体变更，原合同终止。",
    "我方产品无法满足客户新增需求，协商终止。",
    "客户长期未付款，经催收无果，按合同约定终止。",
]
APPROVE_COMMENTS = [None, None, None, "同意。", "同意，注意回款进度。", "同意，按合同约定执行。"]
VOID_REASONS = [
    "购方税号填写错误，作废重开。",
    "开票金额有误，红冲后重新开具。",
    "客户要求更换发票类型（专票）。",
    "发票抬头错误，已收回作废。",
    "商品名称与合同不符，红冲重开。",
]
RECEIPT_NOTES = [None, None, None, None, "首付款", "第二期款", "尾款", "质保金", "含部分预付款，余额待分配"]
#: payment method → weight
METHODS = {"银行转账": 78, "承兑汇票": 12, "支票": 7, "现金": 3}
#: contract type → usual VAT rate (services 6 %, goods 13 %)
RATES = {"服务合同": 6, "框架协议": 6, "销售合同": 13, "采购合同": 13}


@lru_cache(maxsize=1 << 16)
def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2).quantize(Decimal("0.01"))


def _fen(amount: Decimal) -> int:
    return int(Decimal(amount) * 100)


def _tax_fen(amount_fen: int, rate: int) -> int:
    """amount × rate rounded half-up to the fen (as compute_tax, in integers)."""
    return (amount_fen * rate + 50) // 100


def _ids_by_role(rows, code):
    return [r for r in rows if r.code == code]


class DemoFinance:
    def __init__(self, seed: int):
        self.rng = random.Random(f"finance:{seed}")
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = self.now.date()
        users = db.session.execute(
            select(User.id, User.name, User.department_id, Role.code)
            .join(Role, User.role_id == Role.id)
            .where(User.is_active.is_(True))
            .order_by(User.id)
        ).all()
        self.directors = _ids_by_role(users, "sales_director")
        self.executives = _ids_by_role(users, "executive")
        self.finance = _ids_by_role(users, "finance") or _ids_by_role(users, "admin") or list(users)
        self.parents = dict(db.session.execute(select(Department.id, Department.parent_id)).all())
        self.user_department = {u.id: u.department_id for u in users}
        self._approvers: dict[int, int | None] = {}
        self.threshold = settings.contract_approval_threshold()
        self.type_names = dict(db.session.execute(select(ContractType.id, ContractType.name)).all())
        methods = dict(
            db.session.execute(
                select(PaymentMethod.name, PaymentMethod.id).where(PaymentMethod.is_active.is_(True))
            ).all()
        )
        self.methods = [(methods[n], n, w) for n, w in METHODS.items() if n in methods] or [
            (i, n, 1) for n, i in sorted(methods.items(), key=lambda item: item[1])
        ]
        self.method_weights = tuple(m[2] for m in self.methods)
        self.invoice_types = [
            (i, n)
            for i, n in db.session.execute(
                select(InvoiceType.id, InvoiceType.name)
                .where(InvoiceType.is_active.is_(True))
                .order_by(InvoiceType.sort_order, InvoiceType.id)
            ).all()
        ]
        self.receipt_seq = db.session.execute(select(func.max(Receipt.id))).scalar() or 0
        self.invoice_seq = db.session.execute(select(func.max(Invoice.id))).scalar() or 0
        self.taken_receipts = set(db.session.execute(select(Receipt.number)).scalars())
        self.taken_invoices = set(db.session.execute(select(Invoice.number)).scalars())
        self.forced = list(STATES)
        self.rng.shuffle(self.forced)

    # -- actors ------------------------------------------------------------------------
    def approver(self, owner_id: int) -> int | None:
        """A sales director of the owner's department or the nearest one above it, never
        the owner (four-eyes); else any other director; else an executive."""
        if owner_id not in self._approvers:
            found = None
            department = self.user_department.get(owner_id)
            seen = set()
            while department is not None and department not in seen and found is None:
                seen.add(department)
                found = next((d.id for d in self.directors if d.department_id == department and d.id != owner_id), None)
                department = self.parents.get(department)
            if found is None:
                found = next((d.id for d in self.directors if d.id != owner_id), None)
            if found is None:
                found = next((e.id for e in self.executives if e.id != owner_id), None)
            self._approvers[owner_id] = found
        return self._approvers[owner_id]

    def later(self, start: datetime, low_hours: int, high_hours: int) -> datetime:
        """A moment some hours after ``start`` (office hours do not matter here), not in the future."""
        moment = start + timedelta(minutes=self.rng.randint(low_hours * 60, high_hours * 60))
        cap = max(start + timedelta(minutes=1), self.now - timedelta(minutes=self.rng.randint(1, 600)))
        return min(moment, cap, self.now)

    def day_between(self, first: date, last: date) -> date:
        last = min(last, self.today)
        first = min(first, last)
        return first + timedelta(days=self.rng.randint(0, (last - first).days))

    # -- one contract's workflow ----------------------------------------------------------
    def workflow(self, row) -> tuple[dict, list[dict]]:
        """The contract's new workflow columns, and the audit entries worth keeping."""
        rng = self.rng
        timing = "future" if row.starts_on > self.today else "ended" if row.ends_on < self.today else "running"
        state = row.forced or weighted(rng, *STATE_CHOICES[timing])
        values = {
            "cid": row.id,
            "status": state,
            "submitted_by_id": None,
            "submitted_at": None,
            "approved_by_id": None,
            "approved_at": None,
            "approval_comment": None,
            "second_approved_by_id": None,
            "second_approved_at": None,
            "updated_at": row.recorded_at,
        }
        audit: list[dict] = []
        approver = self.approver(row.owner_id)
        if state == "draft" or approver is None:
            values["status"] = "draft"
            return values, audit
        submitted = self.later(row.recorded_at, 1, 72)
        values.update(submitted_by_id=row.owner_id, submitted_at=submitted, updated_at=submitted)
        if state == "submitted":
            return values, audit
        decided = self.later(submitted, 2, 96)
        if state == "rejected":
            comment = rng.choice(REJECT_REASONS)
            values.update(approval_comment=comment, updated_at=decided)
            audit.append(self.audit_row(row.id, approver, decided, "reject", "submitted", "rejected", comment))
            return values, audit
        # approved, signed, archived and (mostly from there) terminated
        values.update(
            approved_by_id=approver,
            approved_at=decided,
            updated_at=decided,
            approval_comment=rng.choice(APPROVE_COMMENTS),
        )
        if self.threshold > 0 and row.amount > self.threshold:
            second = next((e.id for e in self.executives if e.id not in (approver, row.owner_id)), None)
            if second is None:  # nobody to give the second approval: it waits
                values.update(status="submitted", approval_comment=None)
                return values, audit
            decided = self.later(decided, 1, 48)
            values.update(second_approved_by_id=second, second_approved_at=decided, updated_at=decided)
        if state == "terminated":
            ended = self.later(decided, 24, 24 * 120)
            values["updated_at"] = ended
            audit.append(
                self.audit_row(
                    row.id,
                    approver,
                    ended,
                    "terminate",
                    rng.choice(("approved", "signed")),
                    "terminated",
                    rng.choice(TERMINATE_REASONS),
                )
            )
        elif state in ("signed", "archived"):
            values["updated_at"] = self.later(decided, 24, 24 * 14)
            if state == "archived":
                values["updated_at"] = self.later(
                    max(values["updated_at"], datetime.combine(row.ends_on, time(9), UTC)), 24, 24 * 30
                )
        return values, audit

    @staticmethod
    def audit_row(contract_id, user_id, at, action, before, after, comment) -> dict:
        return {
            "at": at,
            "user_id": user_id,
            "ip": None,
            "table_name": "contract",
            "record_id": contract_id,
            "action": action,
            "changes": {"status": [before, after]},
            "comment": comment,
        }

    # -- money -----------------------------------------------------------------------
    def payments(self, row, state: str, approved_on: date) -> list[tuple[date, int]]:
        """The instalments received on a contract: (day, fen), Σ ≤ the contract amount."""
        rng = self.rng
        amount = _fen(row.amount)
        if state == "archived":
            share = 1.0 if rng.random() < 0.9 else rng.choice((0.9, 0.95))
        elif state == "signed":
            share = rng.choice((0, 0, 0.3, 0.3, 0.5, 0.6, 0.9, 1.0))
        else:  # approved: sometimes a deposit
            share = 0.3 if rng.random() < 0.4 else 0
        total = int(amount * share) // 100 * 100  # whole yuan, like most transfers
        if share == 1.0:
            total = amount
        if total <= 0:
            return []
        parts = 1 if total < 1_000_000 else rng.choice((1, 2, 2, 3))
        cuts = sorted(rng.sample(range(1, parts * 10), parts - 1)) if parts > 1 else []
        bounds = [0] + [total * c // (parts * 10) for c in cuts] + [total]
        first = max(approved_on, row.starts_on - timedelta(days=10))
        last = max(first, min(self.today, row.ends_on + timedelta(days=60)))
        days = sorted(self.day_between(first, last) for _ in range(parts))
        return [(day, bounds[i + 1] - bounds[i]) for i, day in enumerate(days) if bounds[i + 1] > bounds[i]]

    def invoices(self, row, state: str, approved_on: date, received: int) -> list[dict]:
        """Invoices of a contract: Σ non-voided totals ≤ the contract amount; a few voided
        ones that were re-issued."""
        rng = self.rng
        amount = _fen(row.amount)
        if state == "archived":
            target = amount
        elif state == "signed":
            target = max(received, amount * rng.choice((0, 3, 5, 10)) // 10)
        else:
            target = received
        if target <= 0 or not self.invoice_types:
            return []
        rate = RATES.get(self.type_names.get(row.type_id), 13)
        if rng.random() < 0.05:
            rate = rng.choice((9, 3, 1))
        parts = 1 if target < 2_000_000 else rng.choice((1, 2, 3))
        shares = [target // parts] * parts
        shares[-1] += target - sum(shares)
        rows = []
        first = max(approved_on, row.starts_on - timedelta(days=15))
        for share in shares:
            net = share * 100 // (100 + rate)
            while net > 0 and net + _tax_fen(net, rate) > share:
                net -= 1
            if net <= 0:
                continue
            issued = self.day_between(first, max(first, min(self.today, row.ends_on + timedelta(days=30))))
            type_id, type_name = rng.choice(self.invoice_types)
            invoice = self.invoice_row(row, type_id, type_name, net, rate, issued)
            if rng.random() < 0.05:  # issued wrongly, voided, then re-issued
                voided = dict(self.invoice_row(row, type_id, type_name, net, rate, issued))
                voided_at = datetime.combine(issued, time(10), UTC) + timedelta(hours=rng.randint(2, 200))
                voided.update(
                    status="voided",
                    voided_at=min(voided_at, self.now),
                    voided_by_id=rng.choice(self.finance).id,
                    void_reason=rng.choice(VOID_REASONS),
                    updated_at=min(voided_at, self.now),
                )
                rows.append(voided)
            rows.append(invoice)
        return rows

    def invoice_row(self, row, type_id, type_name, net: int, rate: int, issued: date) -> dict:
        rng = self.rng
        while True:
            self.invoice_seq += 1
            if "数电" in type_name:  # 20-digit all-electronic invoice number
                number = f"{issued:%y}{rng.randint(11, 65)}{self.invoice_seq:016d}"[:20]
            else:
                number = f"{(self.invoice_seq * 7919 + 1_000_003) % 100_000_000:08d}"
            if number not in self.taken_invoices:
                self.taken_invoices.add(number)
                break
        tax = _tax_fen(net, rate)
        issuer = rng.choice(self.finance)
        at = datetime.combine(issued, time(rng.randint(1, 9), rng.randint(0, 59)), UTC)
        return {
            "contract_id": row.id,
            "type_id": type_id,
            "number": number,
            "amount": _yuan(net),
            "tax_rate": rate,
            "tax": _yuan(tax),
            "total": _yuan(net + tax),
            "issued_on": issued,
            "issuer": issuer.name,
            "receiver": row.contact_name,
            "notes": None,
            "status": "issued",
            "voided_at": None,
            "voided_by_id": None,
            "void_reason": None,
            "version": 1,
            "created_at": min(at, self.now),
            "updated_at": min(at, self.now),
        }

    def receipt_number(self, day: date) -> str:
        while True:
            self.receipt_seq += 1
            number = f"HK-{day.isoformat().replace('-', '')}-{self.receipt_seq:06d}"
            if number not in self.taken_receipts:
                self.taken_receipts.add(number)
                return number

    def receipt_row(self, row, day: date, fen: int) -> dict:
        rng = self.rng
        method_id, method_name, _ = weighted(rng, self.methods, self.method_weights)
        bank_ref = None
        if method_name == "银行转账":
            bank_ref = f"{rng.randrange(10**19, 10**20)}"
        elif method_name in ("承兑汇票", "支票"):
            bank_ref = f"{rng.randrange(10**15, 10**16)}"
        at = min(self.now, datetime.combine(day, time(rng.randint(1, 9), rng.randint(0, 59)), UTC))
        confirmed = day < self.today - timedelta(days=7) and rng.random() < 0.92
        confirmed_at = min(self.now, at + timedelta(hours=rng.randint(2, 96))) if confirmed else None
        return {
            "number": self.receipt_number(day),
            "client_id": row.client_id,
            "amount": fen,
            "received_on": day,
            "department_id": self.user_department.get(row.owner_id),
            "payer": rng.choice((row.contact_name, row.contact_name, "财务部", None)),
            "method_id": method_id,
            "bank_ref": bank_ref,
            "recorded_by_id": rng.choice(self.finance).id,
            "notes": rng.choice(RECEIPT_NOTES),
            "status": "confirmed" if confirmed else "recorded",
            "confirmed_by_id": rng.choice(self.finance).id if confirmed else None,
            "confirmed_at": confirmed_at,
            "is_deleted": False,
            "version": 1,
            "created_at": at,
            "updated_at": confirmed_at or at,
        }

    # -- a batch of contracts ------------------------------------------------------------
    def batch(self, rows, counts: dict[str, int]) -> None:
        rng = self.rng
        updates, audits, invoices = [], [], []
        receipts: list[dict] = []  # with "_allocations": [(contract id, fen)]
        last_receipt_of_client: dict[int, dict] = {}
        for row in rows:
            values, audit = self.workflow(row)
            updates.append(values)
            audits += audit
            state = values["status"]
            counts[f"contracts {state}"] = counts.get(f"contracts {state}", 0) + 1
            # the kept figures (models/totals.py) set with the workflow: no refresh_totals pass
            values.update(received=_yuan(0), received_last_on=None, invoiced=_yuan(0), invoiced_last_on=None)
            if state not in ("approved", "signed", "archived"):
                continue
            approved_on = (values["second_approved_at"] or values["approved_at"]).date()
            received, days = 0, []
            for day, fen in self.payments(row, state, approved_on):
                received += fen
                previous = last_receipt_of_client.get(row.client_id)
                if previous is not None and previous["_contract"] != row.id and rng.random() < 0.3:
                    previous["amount"] += fen  # one transfer paying two contracts
                    previous["_allocations"].append((row.id, fen))
                    previous["_contract"] = row.id
                    days.append(previous["received_on"])
                    continue
                days.append(day)
                receipt = self.receipt_row(row, day, fen)
                receipt["_allocations"] = [(row.id, fen)]
                receipt["_contract"] = row.id
                if rng.random() < 0.04:  # a little more came in than was allocated (to be allocated later)
                    receipt["amount"] += rng.randint(100, 5000) * 100
                receipts.append(receipt)
                last_receipt_of_client[row.client_id] = receipt
            issued = self.invoices(row, state, approved_on, received)
            invoices += issued
            issued = [i for i in issued if i["status"] != "voided"]
            values.update(
                received=_yuan(received),
                received_last_on=max(days, default=None),
                invoiced=_yuan(sum(_fen(i["total"]) for i in issued)),
                invoiced_last_on=max((i["issued_on"] for i in issued), default=None),
            )
        self.write(updates, audits, receipts, invoices, counts)

    def write(self, updates, audits, receipts, invoices, counts) -> None:
        table = Contract.__table__
        if updates:  # bind names differ from the column names (SQLAlchemy reserves those)
            columns = [k for k in updates[0] if k != "cid"]
            db.session.execute(
                update(table).where(table.c.id == bindparam("cid")).values({k: bindparam(f"new_{k}") for k in columns}),
                [{"cid": u["cid"], **{f"new_{k}": u[k] for k in columns}} for u in updates],
            )
        bulk.insert(AuditLog.__table__, audits)
        allocations = []
        if receipts:
            rows = [
                {k: (_yuan(v) if k == "amount" else v) for k, v in r.items() if not k.startswith("_")} for r in receipts
            ]
            for receipt_id, receipt in zip(bulk.insert(Receipt.__table__, rows, ids=True), receipts, strict=False):
                allocations += [
                    {"receipt_id": receipt_id, "contract_id": contract_id, "amount": _yuan(fen)}
                    for contract_id, fen in receipt["_allocations"]
                ]
            bulk.insert(ContractReceipt.__table__, allocations)
        bulk.insert(Invoice.__table__, invoices)
        counts["receipts"] += len(receipts)
        counts["allocations"] += len(allocations)
        counts["invoices"] += len(invoices)


def seed_finance(seed: int) -> dict[str, int]:
    """Finance demo data consistent with every rule; returns counts per table."""
    counts = finance_counts()
    db.session.flush()
    total = db.session.execute(select(func.count()).select_from(Contract).where(*UNTOUCHED)).scalar()
    if not total:
        return counts
    generator = DemoFinance(seed)
    with click.progressbar(length=total, label="Demo finance") as bar:
        finance_batch(generator, 0, counts, bar.update)
    return finance_summary(counts)


#: contracts the client part left as recorded (the finance part gives them their story)
UNTOUCHED = (Contract.status == "draft", Contract.submitted_at.is_(None), Contract.is_deleted.is_(False))


def finance_counts() -> dict[str, int]:
    return {"receipts": 0, "allocations": 0, "invoices": 0}


def finance_summary(counts: dict[str, int]) -> dict[str, int]:
    """The counts with the contracts per state last, sorted."""
    by_state = {k: counts.pop(k) for k in [k for k in counts if k.startswith("contracts ")]}
    return {**counts, **dict(sorted(by_state.items()))}


def finance_batch(generator: DemoFinance, since_contract_id: int, counts: dict[str, int], progress=None) -> None:
    """The workflow, receipts and invoices of the untouched contracts above ``since_contract_id``."""
    query = (
        select(
            Contract.id,
            Contract.client_id,
            Contract.owner_id,
            Contract.amount,
            Contract.starts_on,
            Contract.ends_on,
            Contract.recorded_at,
            Contract.type_id,
            Client.contact_name,
        )
        .join(Client, Client.id == Contract.client_id)
        .where(*UNTOUCHED)
        .order_by(Contract.id)
    )
    forced = generator.forced
    last_id = since_contract_id
    while True:
        rows = db.session.execute(query.where(Contract.id > last_id).limit(BATCH)).all()
        if not rows:
            break
        batch = []
        for row in rows:  # the first contracts go through every state once, the rest by chance
            batch.append(_Row(row, forced.pop(0) if forced else None))
        generator.batch(batch, counts)
        last_id = rows[-1].id
        if progress:
            progress(len(rows))


class _Row:
    """A contract row plus the state the generator must give it (or None: by chance)."""

    __slots__ = (
        "id",
        "client_id",
        "owner_id",
        "amount",
        "starts_on",
        "ends_on",
        "recorded_at",
        "type_id",
        "contact_name",
        "forced",
    )

    def __init__(self, row, forced):
        for key in self.__slots__[:-1]:
            setattr(self, key, getattr(row, key))
        self.forced = forced
