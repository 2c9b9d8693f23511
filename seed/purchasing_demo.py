"""seed-demo, purchasing: suppliers, purchase requests with items, expense contracts,
payments and purchase invoices.

A few hundred rows, so they go through the ORM: every ``check_rules`` of
models/purchasing.py runs on them (Σ payments ≤ contract amount, approved contracts only,
tax and totals), and the generator cannot drift from the rules. Workflow fields are set
as the transitions would set them (submitter, approver, times; four-eyes respected).
One ``random.Random`` and one seeded Faker: the same seed on the same database gives the
same rows. A second run reuses the suppliers and adds new documents with free numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from models import db
from models.auth import Department, Role, User
from models.finance import compute_tax
from models.lookups import ContractType
from models.purchase_payments import PurchasePayment
from models.purchasing import ExpenseContract, PurchaseInvoice, PurchaseItem, PurchaseRequest, Supplier
from models.validators import USCC_CHARSET, uscc_check_char

from .customers_demo import demo_chance

CENT = Decimal("0.01")

#: name, administrative division, landline area code, street address, web domain, what they sell
SUPPLIERS = [
    ("北京联众恒达科技有限公司", "110108", "010", "北京市海淀区中关村南大街18号", "lzhd-tech.com", "IT设备"),
    ("深圳市华讯通网络技术有限公司", "440305", "0755", "深圳市南山区科技园南区高新南七道9号", "hxt-net.cn", "网络服务"),
    ("杭州文诚办公用品有限公司", "330106", "0571", "杭州市西湖区文二路391号", "wencheng-office.com", "办公用品"),
    ("广州市锦程家具制造有限公司", "440106", "020", "广州市天河区黄埔大道西638号", "jincheng-furniture.cn", "家具"),
    ("上海彩印坊印务有限公司", "310104", "021", "上海市徐汇区漕宝路1033号", "caiyinfang.com", "印刷"),
    ("苏州顺捷物流有限公司", "320505", "0512", "苏州市虎丘区长江路211号", "shunjie56.com", "物流"),
    ("南京博远软件科技有限公司", "320105", "025", "南京市建邺区江东中路359号", "boyuan-soft.com", "软件"),
    ("成都天盾安防科技有限公司", "510107", "028", "成都市武侯区科华北路62号", "tiandun-security.cn", "安防"),
    ("武汉洁美物业服务有限公司", "420106", "027", "武汉市武昌区中北路108号", "jiemei-pm.com", "保洁"),
    ("厦门鹭岛会展服务有限公司", "350203", "0592", "厦门市思明区会展路198号", "ludao-expo.com", "会务"),
    ("重庆渝信通信设备有限公司", "500103", "023", "重庆市渝中区民族路166号", "yuxin-tel.cn", "通信"),
    ("北京明德管理咨询有限公司", "110105", "010", "北京市朝阳区建国门外大街1号", "mingde-consult.com", "咨询"),
    ("宁波甬兴办公设备有限公司", "330212", "0574", "宁波市鄞州区天童南路588号", "yongxing-oa.com", "IT设备"),
    ("西安秦川印刷包装有限公司", "610113", "029", "西安市雁塔区科技路48号", "qinchuan-print.com", "印刷"),
    ("青岛海润家具有限公司", "370202", "0532", "青岛市市南区香港中路76号", "hairun-jiaju.com", "家具"),
]

#: category → [(item, specification, lowest and highest unit price in yuan)]
CATALOGUE: dict[str, list[tuple[str, str, int, int]]] = {
    "办公用品": [
        ("A4复印纸", "70g 500张/包", 18, 32),
        ("中性笔", "0.5mm 黑色 12支/盒", 12, 25),
        ("文件夹", "A4 双强力夹", 6, 15),
        ("订书机", "24/6 标准型", 15, 40),
        ("便利贴", "76×76mm 100张", 3, 8),
        ("白板", "120×90cm 磁性", 180, 420),
    ],
    "IT设备": [
        ("笔记本电脑", "14英寸 i7/32G/1T", 5999, 9999),
        ("显示器", "27英寸 4K", 1299, 2599),
        ("激光打印机", "A4 黑白双面", 1599, 3299),
        ("无线路由器", "Wi-Fi 6 企业级", 399, 1299),
        ("移动硬盘", "2TB USB3.0", 399, 699),
        ("投影仪", "1080P 5000流明", 3999, 8999),
    ],
    "网络服务": [
        ("云服务器", "8核16G 年付", 4800, 12000),
        ("企业宽带专线", "500M 年付", 9600, 28000),
        ("SSL证书", "OV 通配符 1年", 1800, 4800),
    ],
    "家具": [
        ("办公桌", "1.4m 带抽屉", 599, 1299),
        ("人体工学椅", "网布 可调扶手", 699, 1899),
        ("文件柜", "钢制 四门", 699, 1499),
        ("会议桌", "3.6m 实木贴皮", 3999, 8999),
    ],
    "印刷": [
        ("宣传册", "A4 彩印 骑马钉 16P", 3, 9),
        ("名片", "300g 铜版纸 覆膜 盒", 20, 45),
        ("易拉宝", "80×200cm", 80, 160),
        ("手提袋", "特种纸 定制", 2, 6),
    ],
    "物流": [("同城配送服务", "月结", 800, 3000), ("设备搬运", "含包装", 1500, 6000)],
    "软件": [
        ("办公软件授权", "年订阅 每用户", 399, 899),
        ("杀毒软件授权", "企业版 每终端", 89, 199),
        ("设计软件授权", "年订阅", 2999, 6999),
    ],
    "安防": [
        ("网络摄像机", "400万像素 POE", 299, 899),
        ("门禁一体机", "人脸识别", 1299, 3599),
        ("硬盘录像机", "16路", 1199, 2599),
    ],
    "保洁": [("办公室保洁服务", "月度 每周三次", 2800, 6800), ("绿植租摆", "月度", 600, 1800)],
    "会务": [
        ("会议场地租赁", "半天 200人", 6000, 18000),
        ("茶歇服务", "每人", 45, 120),
        ("会议摄影摄像", "全天", 2500, 6000),
    ],
    "通信": [("IP电话机", "SIP 彩屏", 299, 699), ("集团通信套餐", "每月 每号码", 68, 199)],
    "咨询": [("管理咨询服务", "项目制", 30000, 120000), ("法律顾问服务", "年度", 20000, 60000)],
}
#: category → tax rate of its invoices (goods 13 %, transport 9 %, services 6 %)
TAX_RATE = {"物流": 9, "保洁": 6, "会务": 6, "咨询": 6, "网络服务": 6, "通信": 9}
SERVICES = {"物流", "保洁", "会务", "咨询", "网络服务"}
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "招商银行", "交通银行", "浦发银行", "兴业银行"]
COST_TYPES = ["办公费", "研发费用", "市场推广费", "固定资产", "会议费", "咨询服务费", "行政费用"]
REQUEST_NAMES = [
    "{dept}{category}采购",
    "{year}年第{quarter}季度{category}采购",
    "{item}等{n}项采购",
    "新员工入职{category}采购",
    "{dept}{item}更换",
]
DESCRIPTIONS = [
    "现有设备老化，影响日常办公效率，申请更换。",
    "新项目启动，按预算采购，已询价三家供应商。",
    "年度框架采购，按实际需求分批到货。",
    "部门扩编，新增工位配套。",
    "市场活动物料，需在活动前一周到货。",
]
REJECT_REASONS = ["预算不足，请压缩数量后重新提交。", "未附三家比价，请补充。", "与已有采购重复，请核实。"]
PAYMENT_REASONS = ["预付款（合同约定30%）", "到货验收款", "质保金", "服务费（按月结算）", "尾款"]
#: payment plans: the state of each instalment, and its share of the contract amount in percent
PLANS = [
    (("paid", 30), ("paid", 70)),
    (("paid", 30), ("approved", 60)),
    (("paid", 50), ("requested", 50)),
    (("requested", 100),),
    (("paid", 30), ("rejected", 30), ("requested", 60)),
    (("approved", 40),),
    (("paid", 30), ("paid", 60), ("requested", 10)),
    (("rejected", 100), ("paid", 100)),
]


@dataclass
class _People:
    requesters: list[tuple[int, int | None, str]]  # (id, department id, name)
    directors: list[int]
    finance: list[int]
    departments: dict[int, str]


def _people() -> _People | None:
    rows = db.session.execute(
        select(User.id, User.department_id, User.name, Role.code)
        .join(Role, User.role_id == Role.id)
        .where(User.is_active.is_(True), User.is_deleted.is_(False))
        .order_by(User.id)
    ).all()
    departments = dict(db.session.execute(select(Department.id, Department.name)).all())
    requesters = [(r.id, r.department_id, r.name) for r in rows if r.code in ("account_manager", "sales_director")]
    finance = [r.id for r in rows if r.code == "finance"] or [r.id for r in rows if r.code == "admin"]
    if not requesters or not finance:
        return None
    return _People(requesters, [r.id for r in rows if r.code == "sales_director"], finance, departments)


class DemoPurchasing:
    def __init__(self, seed: int):
        self.rng, self.fake = demo_chance("purchasing", seed, 2)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = self.now.date()
        self.request_numbers = set(db.session.execute(select(PurchaseRequest.number)).scalars())
        self.contract_numbers = set(db.session.execute(select(ExpenseContract.number)).scalars())
        self.invoice_numbers = set(
            db.session.execute(
                select(Supplier.name, PurchaseInvoice.number).join(Supplier, PurchaseInvoice.supplier_id == Supplier.id)
            ).all()
        )
        types = dict(db.session.execute(select(ContractType.name, ContractType.id)).all())
        self.goods_type = types.get("采购合同")
        self.service_type = types.get("服务合同", self.goods_type)

    # -- small values -----------------------------------------------------------------
    def other(self, ids: list[int], not_id: int) -> int | None:
        """Somebody from ``ids`` who is not ``not_id`` (four-eyes), or None."""
        choices = [i for i in ids if i != not_id]
        return self.rng.choice(choices) if choices else None

    def later(self, start: datetime, lo_hours: int, hi_hours: int) -> datetime:
        return min(self.now, start + timedelta(hours=self.rng.randint(lo_hours, hi_hours)))

    def number(self, taken: set, prefix: str, day: date) -> str:
        serial = 1
        while f"{prefix}{day:%Y%m%d}-{serial:03d}" in taken:
            serial += 1
        number = f"{prefix}{day:%Y%m%d}-{serial:03d}"
        taken.add(number)
        return number

    def uscc(self, division: str) -> str:
        first17 = "91" + division + "".join(self.rng.choice(USCC_CHARSET) for _ in range(9))
        return first17 + uscc_check_char(first17)

    # -- suppliers ----------------------------------------------------------------------
    def suppliers(self) -> list[tuple[Supplier, str]]:
        existing = {s.name: s for s in db.session.execute(select(Supplier)).scalars()}
        made = []
        for name, division, area_code, address, domain, category in SUPPLIERS:
            city = address[: address.index("市") + 1]
            branch = self.rng.choice(("分行营业部", "高新支行", "城东支行", "开发区支行"))
            bank = f"{self.rng.choice(BANKS)}{city[:-1]}{branch}"
            supplier = existing.get(name) or Supplier(
                name=name,
                uscc=self.uscc(division),
                contact=self.fake.name(),
                phone=f"{area_code}-{self.rng.randint(2, 8)}{self.rng.randrange(10**7):07d}",
                email=f"sales@{domain}",
                address=address,
                bank=bank,
                bank_account="".join(str(self.rng.randrange(10)) for _ in range(self.rng.choice((16, 17, 19)))),
                notes=f"主营{category}，{self.rng.choice(('月结30天', '款到发货', '月结60天'))}。",
                created_at=self.now - timedelta(days=self.rng.randint(200, 700)),
            )
            if supplier.id is None:
                supplier.updated_at = supplier.created_at
                db.session.add(supplier)
            made.append((supplier, category))
        return made

    # -- purchase requests ---------------------------------------------------------------
    def request(self, people: _People, suppliers, state: str) -> tuple[PurchaseRequest, str, Supplier]:
        rng = self.rng
        requester_id, department_id, requester_name = rng.choice(people.requesters)
        supplier, category = rng.choice(suppliers)
        created = self.now - timedelta(days=rng.randint(3, 200), hours=rng.randint(0, 9))
        items = []
        for name, spec, low, high in rng.sample(CATALOGUE[category], min(len(CATALOGUE[category]), rng.randint(1, 4))):
            price = Decimal(rng.randint(low * 100, high * 100)).scaleb(-2)
            if rng.random() < 0.6:
                price = price.quantize(Decimal("1"), rounding=ROUND_HALF_UP)
            quantity = 1 if high >= 10000 else rng.choice((1, 2, 3, 5, 10, 20) if high < 100 else (1, 2, 3, 5))
            items.append(
                PurchaseItem(
                    name=name,
                    spec=spec,
                    quantity=quantity,
                    unit_price=price.quantize(CENT),
                    supplier=supplier if rng.random() < 0.85 else None,
                )
            )
        dept = people.departments.get(department_id, "")
        title = rng.choice(REQUEST_NAMES).format(
            dept=dept,
            category=category,
            year=created.year,
            quarter=(created.month - 1) // 3 + 1,
            item=items[0].name,
            n=len(items),
        )
        req = PurchaseRequest(
            number=self.number(self.request_numbers, "CG", created.date()),
            requester_id=requester_id,
            department_id=department_id,
            name=title[:200],
            consignee=requester_name,
            phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            address="总部大楼三层行政前台",
            description=rng.choice(DESCRIPTIONS),
            cost_type=rng.choice(COST_TYPES),
            items=items,
            created_at=created,
            updated_at=created,
            status="draft",
        )
        if state != "draft":
            req.submitted_by_id, req.submitted_at = requester_id, self.later(created, 1, 48)
            approver = self.other(people.directors, requester_id) or self.other(people.finance, requester_id)
            if state in ("approved", "rejected") and approver is not None:
                req.status = state
                req.approved_by_id, req.approved_at = approver, self.later(req.submitted_at, 2, 72)
                req.approval_comment = rng.choice(REJECT_REASONS) if state == "rejected" else "同意采购。"
            else:
                req.status = "submitted"
            req.updated_at = req.approved_at or req.submitted_at
        return req, category, supplier

    # -- expense contracts, payments, invoices ----------------------------------------------
    def contract(
        self,
        people: _People,
        state: str,
        supplier: Supplier,
        category: str,
        req: PurchaseRequest | None,
        handler_id: int,
        amount: Decimal,
        since: datetime,
    ) -> ExpenseContract:
        rng = self.rng
        created = self.later(since, 4, 240)
        starts = created.date() + timedelta(days=rng.randint(0, 10))
        service = category in SERVICES
        contract = ExpenseContract(
            number=self.number(self.contract_numbers, "ZC", created.date()),
            type_id=self.service_type if service else self.goods_type,
            supplier=supplier,
            purchase_request=req,
            name=f"{category}{'服务' if service else '采购'}合同（{supplier.name[:-4]}）"[:200],
            handler_id=handler_id,
            contact=supplier.contact,
            phone=supplier.phone,
            starts_on=starts,
            ends_on=starts + timedelta(days=rng.choice((90, 180, 365))),
            amount=amount,
            subject=f"{supplier.name}向我方提供{category}{'服务' if service else '产品'}，"
            f"{rng.choice(('验收合格后付款', '按合同约定分期付款', '按月结算'))}。",
            created_at=created,
            updated_at=created,
            status="draft",
        )
        if state != "draft":
            contract.submitted_by_id, contract.submitted_at = handler_id, self.later(created, 1, 24)
            approver = self.other(people.finance, handler_id)
            if state in ("approved", "rejected") and approver is not None:
                contract.status = state
                contract.approved_by_id, contract.approved_at = approver, self.later(contract.submitted_at, 1, 72)
                contract.approval_comment = (
                    "金额与条款无误，同意。" if state == "approved" else "付款条款不清，请修改。"
                )
            else:
                contract.status = "submitted"
            contract.updated_at = contract.approved_at or contract.submitted_at
        return contract

    def payments(self, people: _People, contract: ExpenseContract, plan) -> list[PurchasePayment]:
        rng = self.rng
        rows, at = [], contract.approved_at
        for index, (state, share) in enumerate(plan):
            amount = (Decimal(contract.amount) * share / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            if state != "rejected":  # never more than the contract amount in total
                claimed = sum((p.amount for p in rows if p.status != "rejected"), Decimal("0.00"))
                amount = min(amount, Decimal(contract.amount) - claimed)
            if amount <= 0:
                continue
            at = self.later(at, 24, 24 * 20)
            payment = PurchasePayment(
                supplier=contract.supplier,
                expense_contract=contract,
                amount=amount,
                reason=PAYMENT_REASONS[min(index, len(PAYMENT_REASONS) - 1)] if state != "rejected" else "重复申请",
                status=state,
                recorded_by_id=contract.handler_id,
                submitted_by_id=contract.handler_id,
                recorded_ip=f"192.168.{rng.randint(1, 20)}.{rng.randint(2, 250)}",
                recorded_at=at,
                created_at=at,
                updated_at=at,
            )
            if state in ("approved", "paid", "rejected"):
                payment.approved_by_id = self.other(people.finance, contract.handler_id)
                payment.approved_at = self.later(at, 2, 72)
                payment.updated_at = payment.approved_at
                if payment.approved_by_id is None:  # nobody else to approve: it waits
                    payment.status, payment.approved_at = "requested", None
            if payment.status == "paid":
                payment.paid_on = min(self.today, (payment.approved_at + timedelta(days=rng.randint(1, 7))).date())
            rows.append(payment)
        return rows

    def invoice(self, payment: PurchasePayment, category: str, receiver: str) -> PurchaseInvoice:
        rate = TAX_RATE.get(category, 13)
        amount = (Decimal(payment.amount) * 100 / (100 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
        tax, total = compute_tax(amount, rate)
        supplier = payment.supplier
        key = None
        while key is None or (supplier.name, key) in self.invoice_numbers:
            key = f"{self.rng.randrange(10**8):08d}"
        self.invoice_numbers.add((supplier.name, key))
        issued = (
            max(payment.paid_on - timedelta(days=self.rng.randint(0, 5)), payment.expense_contract.starts_on)
            if payment.expense_contract.starts_on
            else payment.paid_on
        )
        at = datetime.combine(issued, datetime.min.time(), UTC) + timedelta(hours=10)
        return PurchaseInvoice(
            number=key,
            supplier=supplier,
            expense_contract=payment.expense_contract,
            quantity=1,
            amount=amount,
            tax_rate=rate,
            tax=tax,
            total=total,
            issued_on=issued,
            handler=supplier.contact,
            receiver=receiver,
            notes=None,
            created_at=at,
            updated_at=at,
        )


def seed_purchasing(seed: int, requests: int = 30) -> dict[str, int]:
    """Purchasing demo data consistent with every rule; returns counts per table."""
    people = _people()
    if people is None:
        return {}
    gen = DemoPurchasing(seed)
    rng = gen.rng
    suppliers = gen.suppliers()
    new_suppliers = sum(1 for s, _ in suppliers if s.id is None)

    states = ["draft"] * 5 + ["submitted"] * 6 + ["rejected"] * 4
    states += ["approved"] * max(0, requests - len(states))
    states = states[:requests] if requests < len(states) else states
    rng.shuffle(states)
    made_requests = [gen.request(people, suppliers, state) for state in states]
    db.session.add_all([req for req, _, _ in made_requests])

    contracts: list[tuple[ExpenseContract, str]] = []
    approved = [(req, category, supplier) for req, category, supplier in made_requests if req.status == "approved"]
    contract_states = ["approved"] * 10 + ["submitted", "draft", "rejected"]
    for (req, category, supplier), state in zip(approved, contract_states, strict=False):
        amount = sum((Decimal(i.quantity) * Decimal(i.unit_price) for i in req.items), Decimal("0.00"))
        amount = max(Decimal("100.00"), amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))
        contracts.append(
            (gen.contract(people, state, supplier, category, req, req.requester_id, amount, req.approved_at), category)
        )
    # contracts for services that need no purchase request (cleaning, consulting, events)
    for state in ("approved", "approved", "approved", "submitted"):
        supplier, category = rng.choice([s for s in suppliers if s[1] in SERVICES])
        low, high = CATALOGUE[category][0][2:]
        amount = Decimal(rng.randint(low, high) * rng.choice((1, 6, 12))).quantize(CENT)
        handler_id = rng.choice(people.requesters)[0]
        contracts.append(
            (
                gen.contract(
                    people,
                    state,
                    supplier,
                    category,
                    None,
                    handler_id,
                    amount,
                    gen.now - timedelta(days=rng.randint(60, 240)),
                ),
                category,
            )
        )
    db.session.add_all([c for c, _ in contracts])

    payments, invoices = [], []
    finance_names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(people.finance))).all())
    for index, (contract, category) in enumerate(c for c in contracts if c[0].status == "approved"):
        for payment in gen.payments(people, contract, PLANS[index % len(PLANS)]):
            payments.append(payment)
            if payment.status == "paid" and rng.random() < 0.85:
                invoices.append(gen.invoice(payment, category, finance_names.get(payment.approved_by_id, "财务部")))
    db.session.add_all(payments + invoices)
    db.session.flush()
    return {
        "suppliers": new_suppliers,
        "purchase requests": len(made_requests),
        "purchase items": sum(len(req.items) for req, _, _ in made_requests),
        "expense contracts": len(contracts),
        "payments": len(payments),
        "purchase invoices": len(invoices),
    }
