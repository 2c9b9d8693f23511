"""seed-demo, part 5: a two-year sales story (SPEC §2.2, §4.3, §4.4).

Runs after the client, finance and purchasing parts, on the clients that the client part
made in this run. Like them it writes with bulk Core statements (``--clients 100000``
means several hundred thousand orders) and draws everything from one ``random.Random``
per seed, relative to today: the same seed on a fresh database, on the same day, gives
the same data. Core statements bypass the flush hooks, so the generator keeps the rules
itself; no ``audit_log`` rows are written for bulk demo rows (as in the other parts).

The story:

* a catalogue of products in the ``trade`` categories with stock in three warehouses
  (a few sold out, some low);
* orders with 1–5 lines over the last two years: every client orders at its own rate
  from the day it was recorded, with seasonality (Spring Festival trough, year-end peak)
  and a slowly rising trend, so monthly totals grow; owners are the client owners;
  statuses follow the dates (old ones completed, recent ones pending or shipped, a few
  cancelled). Some clients stopped ordering more than six months ago (churn), some never
  ordered. Historic orders are written with their final status — stock is not taken
  (``models/shipments.py`` is for live shipments);
* quotes: bigger orders often came from an accepted quote (lines at list price, the
  discount applied to the order lines as ``convert_quote`` does); recent quotes are in
  every state — above ``quote_discount_approval_pct`` approved by a sales director who is
  not the submitter, at or below it approved on submission (§5.2);
* opportunities for a share of clients and for prospects without a client, in every
  stage and state, created by sales directors and account managers, with development
  plans (past ones with results, future ones without); won ones led to a quote and an
  order, some lost ones to a quote that was never accepted;
* monthly sales targets per account manager and per sales department, a little above
  what was actually sold on average;
* weekly reports of the recent weeks per account manager about their opportunities,
  reviewed by the sales director of their department;
* finally ``detect_churn`` and a few warnings taken further through the workflow
  (a retention measure → delayed, a confirmed loss with its reason).
"""

from __future__ import annotations

import calendar
import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

import click
from sqlalchemy import func, select, update

from models import clock, db
from models.auth import Department, Role, User
from models.churn import ClientLoss, detect_churn
from models.customers import Client
from models.lookups import ClientSource, CompanySize, SalesStage, Trade
from models.opportunities import DevelopmentPlan, Opportunity
from models.orders import Order, OrderLine, Quote, QuoteLine, discount_threshold, last_order_subquery, split_discount
from models.products import Product, Stock
from models.targets import SalesTarget, WeeklyReport, WeeklyReportItem
from models.workflow import perform

from . import bulk
from .bulk import weighted
from .customers_demo import FALLBACK_TRADE, MOBILE_PREFIXES, TRADES, ZIHAO, demo_chance

BATCH = 2000  # clients per batch
CENT = Decimal("0.01")
DAYS = 730  # the story covers the last two years
WAREHOUSES = ("华东仓", "华南仓", "北京仓")

# ---------------------------------------------------------------------------- reference
#: (name, model, grade, unit, list price in yuan, trade category, sold to every industry)
CATALOGUE = [
    ("ERP企业资源管理系统", "HX-ERP-S", "标准版", "套", 68000, "软件", True),
    ("ERP企业资源管理系统", "HX-ERP-U", "旗舰版", "套", 198000, "软件", False),
    ("CRM客户关系管理系统", "HX-CRM-P", "专业版", "套", 36000, "软件", True),
    ("CRM云服务订阅", "HX-CRM-SaaS", "10用户", "年", 12000, "软件", True),
    ("财务管理软件", "HX-FIN-6", "标准版", "套", 9800, "软件", True),
    ("人力资源管理系统", "HX-HR-3", "专业版", "套", 45000, "软件", False),
    ("协同办公OA系统", "HX-OA-5", "标准版", "套", 28000, "软件", True),
    ("电子签章系统", "HX-ESIGN", "企业版", "套", 18000, "软件", False),
    ("数据分析平台", "HX-BI-2", "企业版", "套", 88000, "软件", False),
    ("云服务器", "ECS-4C8G", "通用型4核8G", "年", 4800, "软件", True),
    ("对象存储", "OSS-1T", "标准存储1TB", "年", 1500, "软件", False),
    ("IT运维服务", "SVC-OPS", "7×24小时", "年", 36000, "软件", True),
    ("下一代防火墙", "NGFW-2000", "A级", "台", 38000, "软件", True),
    ("机架式服务器", "SR-2288", "2U双路", "台", 42000, "软件", True),
    ("企业级存储阵列", "ST-5300", "48TB", "台", 120000, "软件", False),
    ("视频会议终端", "VC-800", "1080P", "台", 15000, "软件", True),
    ("工业平板电脑", "IPC-156", "15.6寸", "台", 6800, "制造", False),
    ("PLC可编程控制器", "PLC-S7-200", "CPU224", "台", 3200, "制造", False),
    ("交流伺服电机", "SM-750W", "750W", "台", 2600, "制造", False),
    ("工业以太网交换机", "IES-8G", "8口千兆", "台", 1800, "制造", False),
    ("工业条码打印机", "ZT-410", "300dpi", "台", 5200, "制造", False),
    ("MES制造执行系统", "HX-MES-3", "标准版", "套", 160000, "制造", False),
    ("UPS不间断电源", "UPS-3K", "3kVA", "台", 6800, "制造", True),
    ("POS收银一体机", "POS-T2", "双屏", "台", 3600, "零售", False),
    ("无线扫码枪", "SC-1950", "二维", "件", 380, "零售", False),
    ("热敏收银纸", "TP-8080", "80×80mm（50卷）", "箱", 260, "零售", False),
    ("电子价签", "ESL-29", "2.9寸（50片）", "箱", 1200, "零售", False),
    ("门店管理系统", "HX-POS-Cloud", "连锁版", "年", 6800, "零售", False),
    ("商用笔记本电脑", "NB-T14", "i5/16G/512G", "台", 5800, "零售", True),
    ("A4复印纸", "A4-70g", "70g（5包）", "箱", 150, "零售", True),
    ("激光打印机", "LP-2206", "黑白", "台", 1600, "零售", True),
    ("智能点钞机", "DC-2200", "A级", "台", 1500, "金融", False),
    ("票据打印机", "TP-960", "针式", "台", 3200, "金融", False),
    ("密码键盘", "PIN-350", "国密", "件", 600, "金融", False),
    ("智能柜员机", "STM-900", "立式", "台", 85000, "金融", False),
    ("交互式智能平板", "IFP-86", "86寸", "台", 16800, "教育", False),
    ("常态化录播系统", "REC-3", "三机位", "套", 45000, "教育", False),
    ("智慧教室解决方案", "EDU-SC", "标准教室", "套", 120000, "教育", False),
    ("学生平板电脑", "EPAD-10", "10.1寸", "台", 2300, "教育", False),
    ("医院信息系统HIS", "HX-HIS-5", "二级医院版", "套", 260000, "医疗", False),
    ("医用显示器", "MD-21", "21寸300万像素", "台", 12000, "医疗", False),
    ("移动护理推车", "MNC-02", "锂电版", "台", 9800, "医疗", False),
    ("一次性丁腈手套", "GL-100", "M号（1000只）", "箱", 180, "医疗", False),
    ("手持PDA终端", "PDA-N60", "安卓版", "台", 2800, "物流", False),
    ("超高频RFID标签", "RFID-U9", "1000张", "箱", 900, "物流", False),
    ("仓储管理系统WMS", "HX-WMS-4", "标准版", "套", 150000, "物流", False),
    ("电子面单打印机", "EP-420", "热敏", "台", 1200, "物流", False),
    ("GPS车载终端", "GPS-V8", "4G", "台", 900, "物流", False),
    ("工地实名制闸机", "GATE-M3", "三辊闸", "台", 9800, "建筑", False),
    ("扬尘噪声监测设备", "ENV-PM", "标准型", "套", 16000, "建筑", False),
    ("BIM协同管理平台", "HX-BIM", "项目版", "年", 30000, "建筑", False),
    ("智能安全帽", "HAT-4G", "定位版", "件", 460, "建筑", False),
    ("网络摄像机", "IPC-400", "400万像素", "台", 650, "建筑", True),
]
#: month → demand factor (Spring Festival trough, half-year and year-end budget peaks)
SEASON = {1: 1.0, 2: 0.55, 3: 1.05, 4: 1.0, 5: 0.95, 6: 1.2, 7: 0.9, 8: 0.85, 9: 1.05, 10: 0.8, 11: 1.1, 12: 1.4}
#: discount (%) → weight, for quotes
DISCOUNTS = {0: 28, 3: 10, 5: 20, 8: 14, 10: 10, 12: 7, 15: 6, 18: 3, 20: 2}
COMPETITORS = ["用友", "金蝶", "浪潮", "鼎捷", "华为", "新华三", "海康威视", "大华", "神州数码", "东软", "本地集成商"]
TITLES = [
    "{product}采购项目",
    "{product}升级改造",
    "{year}年度{product}招标",
    "{product}扩容项目",
    "新建{product}项目",
    "{product}替换项目",
    "{product}二期",
]
NEEDS = [
    "现有系统老化，需要整体替换",
    "业务扩张，计划新开分支机构",
    "集团要求统一信息化平台",
    "原供应商服务不到位，考虑更换",
    "响应国产化替代要求",
    "提升仓储和物流效率",
    "年底预算需要执行完毕",
]
PLAN_TODOS = [
    "电话联系{contact}，了解{product}需求和预算",
    "上门拜访{contact}，演示{product}",
    "提交{product}技术方案和初步报价",
    "邀请客户参观样板客户现场",
    "组织技术交流会，解答{product}选型问题",
    "商务谈判，确认价格和付款方式",
    "协助客户准备采购立项材料",
    "跟进客户内部审批进度",
]
PLAN_RESULTS = [
    "客户对方案基本认可，要求补充报价明细",
    "已完成演示，客户关注数据迁移和培训",
    "客户预算已确认，进入比价阶段",
    "决策人出差，改期下周再约",
    "客户提出三项定制需求，已反馈产品部",
    "价格仍有分歧，客户希望再降5%",
    "参观效果很好，客户表示倾向我方",
    "客户立项材料已提交，等待领导审批",
]
LOST_REASONS = [
    "价格高于{competitor}约15%，客户选择了对方",
    "客户预算削减，项目暂停",
    "客户选择了{competitor}的方案",
    "技术方案不满足客户的定制需求",
    "客户内部决策人变动，项目取消",
    "交付周期无法满足客户要求",
    "客户决定自主研发",
]
REJECT_REASONS = [
    "折扣超出权限，请先争取客户接受8%以内的折扣。",
    "毛利过低，请调整产品组合后重新报价。",
    "客户历史回款较慢，不同意给予此折扣。",
    "同类项目近期成交价更高，请重新核算。",
]
APPROVE_COMMENTS = [None, "同意，注意回款节点。", "同意，战略客户。", "同意本次折扣，下不为例。"]
CANCEL_REASONS = ["客户预算调整，取消订单", "客户改为下季度采购", "重复下单，已取消", "客户更换型号，重新下单"]
SUMMARIES = [
    "本周拜访客户{visits}家，电话沟通{calls}次，重点推进{n}个商机。",
    "本周完成{n}个项目的方案交流，新增线索{new}条。",
    "本周以老客户回访为主，拜访{visits}家，推进{n}个商机。",
]
PROGRESS = [
    "与{customer}完成方案交流，客户认可总体架构",
    "向{customer}提交报价，等待客户内部审批",
    "{customer}已确认预算，进入商务谈判",
    "陪同{customer}参观样板客户",
    "{customer}技术负责人提出新的集成需求",
]
NEXT_PLANS = [
    "约见决策人，推动签约",
    "补充报价明细和实施计划",
    "安排售前工程师上门演示",
    "跟进客户招标文件",
    "确认付款方式和交付时间",
]
ISSUES = [None, None, "竞争对手报价更低", "客户对实施周期有顾虑", "客户要求延长质保期"]
SUPPORT = [None, None, None, "需要售前工程师支持演示", "需要产品部评估定制开发工作量"]
REVIEW_COMMENTS = [
    "已阅，重点跟进大单。",
    "进展不错，注意控制折扣。",
    "下周请把拜访计划细化到客户。",
    "已阅，按计划推进。",
    "关注回款，老客户多做增购。",
]
MEASURES = [
    "回访客户采购负责人，了解停止采购原因",
    "提供老客户专属折扣和延长质保",
    "安排技术人员上门巡检，解决遗留问题",
    "邀请客户参加新品发布会",
]
RECOVERED = "回访并提供续约优惠，客户已恢复下单"
LOSS_REASONS = [
    "客户已改用竞争对手产品",
    "客户业务转型，不再需要我方产品",
    "客户经营困难，已停止采购",
    "客户被集团收购，统一采购",
]


@lru_cache(maxsize=1 << 16)
def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2).quantize(CENT)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _months(first: date, last: date) -> list[tuple[date, date]]:
    """(first day, last day) of every month from ``first``'s to ``last``'s."""
    out, day = [], first.replace(day=1)
    while day <= last:
        end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        out.append((day, end))
        day = end + timedelta(days=1)
    return out


def _set_totals(row: dict) -> None:
    """The kept figures of a quote or an order row from its "_lines", as models/totals.py
    computes them (Σ quantity × unit price in fen; a quote's total after its discount
    rounded half-up), so the bulk load needs no refresh_totals pass."""
    subtotal = sum(line["quantity"] * int(line["unit_price"] * 100) for line in row["_lines"])
    if "discount_pct" in row:
        row["subtotal"] = _yuan(subtotal)
        subtotal -= (subtotal * int(row["discount_pct"] * 100) + 5000) // 10000
    row["total"] = _yuan(subtotal)


def _insert_ids(model, rows: list[dict]) -> list[int]:
    """Bulk INSERT of ``rows`` (the "_" keys left out) with explicit ids, returned in order."""
    return bulk.insert(model.__table__, rows, ids=True)


def _insert(model, rows: list[dict]) -> None:
    bulk.insert(model.__table__, rows)


def _insert_losses(rows: list[dict]) -> int:
    bulk.insert(ClientLoss.__table__, rows)
    return len(rows)


class _Staff:
    """Active sales people: departments, directors, account managers."""

    def __init__(self):
        rows = db.session.execute(
            select(User.id, User.department_id, Role.code)
            .join(Role, User.role_id == Role.id)
            .where(User.is_active.is_(True), User.is_deleted.is_(False))
            .order_by(User.id)
        ).all()
        self.department = {r.id: r.department_id for r in rows}
        self.role = {r.id: r.code for r in rows}
        self.directors = [r.id for r in rows if r.code == "sales_director"]
        self.managers = [r.id for r in rows if r.code == "account_manager"]
        self.parents = dict(db.session.execute(select(Department.id, Department.parent_id)).all())
        self._director: dict[int, int | None] = {}

    def chain(self, department_id):
        seen = []
        while department_id is not None and department_id not in seen:
            seen.append(department_id)
            department_id = self.parents.get(department_id)
        return seen

    def director_of(self, user_id: int) -> int | None:
        """The sales director of the user's department or the nearest one above it (never
        the user); else any other director."""
        if user_id not in self._director:
            found = None
            for department in self.chain(self.department.get(user_id)):
                found = next((d for d in self.directors if self.department.get(d) == department and d != user_id), None)
                if found:
                    break
            self._director[user_id] = found or next((d for d in self.directors if d != user_id), None)
        return self._director[user_id]

    def managers_under(self, department_id) -> list[int]:
        return [m for m in self.managers if department_id in self.chain(self.department.get(m))]


class DemoSales:
    def __init__(self, seed: int):
        self.rng, self.fake = demo_chance("sales", seed, 4)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = clock.today()
        self.start = self.today - timedelta(days=DAYS)
        self.staff = _Staff()
        self.threshold = discount_threshold()
        self.stages = [
            (r.id, r.name, int(r.probability or 0))
            for r in db.session.execute(
                select(SalesStage.id, SalesStage.name, SalesStage.probability)
                .where(SalesStage.is_active.is_(True))
                .order_by(SalesStage.sort_order, SalesStage.id)
            ).all()
        ]
        if not self.stages:
            raise click.ClickException("no sales stages: run 'flask --app app seed' first")
        self.sources = list(
            db.session.execute(
                select(ClientSource.id)
                .where(ClientSource.is_active.is_(True))
                .order_by(ClientSource.sort_order, ClientSource.id)
            ).scalars()
        )
        self.size_rank = {
            id_: rank
            for rank, id_ in enumerate(
                db.session.execute(select(CompanySize.id).order_by(CompanySize.sort_order, CompanySize.id)).scalars()
            )
        }
        self.trade_names = dict(db.session.execute(select(Trade.id, Trade.name)).all())
        self.serials: dict[str, int] = {}
        for model in (Quote, Order):
            for number in db.session.execute(select(model.number)).scalars():
                stem, _, serial = number.rpartition("-")
                if serial.isdigit():
                    self.serials[stem] = max(self.serials.get(stem, 0), int(serial))
        self.products: list[dict] = []
        self.by_category: dict[str, list[int]] = defaultdict(list)
        self.general: list[int] = []
        # what the targets and the stock are derived from
        self.sold: dict[tuple[int, str], int] = defaultdict(int)  # (owner, YYYY-MM) → fen
        self.recent_demand: dict[int, int] = defaultdict(int)  # product index → units in the last 90 days
        self.pending_demand: dict[int, int] = defaultdict(int)  # product index → units of pending orders
        # the first records go through every state once, the rest by chance
        self.forced_opportunities = (
            [("won", self.stages[-1])]
            + [("assigned", s) for s in self.stages]
            + [("lost", self.stages[0]), ("unassigned", self.stages[0])]
        )
        self.forced_quotes = ["draft", "submitted", "approved", "rejected", "accepted"]
        self.quoting_stages = {s[0] for s in self.stages[len(self.stages) // 2 :]}

    # -- small values -------------------------------------------------------------------
    def at(self, day: date, low: int = 1, high: int = 10) -> datetime:
        """A moment of office hours (Beijing time ≈ UTC+8) on ``day``, not in the future."""
        moment = datetime.combine(day, time(self.rng.randint(low, high - 1), self.rng.randint(0, 59)), UTC)
        return min(moment, self.now)

    def later(self, start: datetime, low_hours: float, high_hours: float) -> datetime:
        return min(self.now, start + timedelta(minutes=self.rng.randint(int(low_hours * 60), int(high_hours * 60))))

    def day_between(self, first: date, last: date) -> date:
        last = min(last, self.today)
        first = min(first, last)
        return first + timedelta(days=self.rng.randint(0, (last - first).days))

    def number(self, prefix: str, day: date) -> str:
        stem = prefix + day.isoformat().replace("-", "")
        self.serials[stem] = self.serials.get(stem, 0) + 1
        return f"{stem}-{self.serials[stem]:03d}"

    def mobile(self) -> str:
        return f"{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"

    def discount(self, above_threshold: bool | None = None) -> int:
        choices = [
            (d, w) for d, w in DISCOUNTS.items() if above_threshold is None or (d > self.threshold) == above_threshold
        ]
        if not choices:  # an odd threshold (e.g. 100): anything goes
            choices = list(DISCOUNTS.items())
        return weighted(self.rng, tuple(d for d, _ in choices), tuple(w for _, w in choices))

    # -- products -----------------------------------------------------------------------
    def catalogue(self) -> int:
        """The products (reused by name and model when they exist already); returns how many were new."""
        existing = {
            (r.name, r.model): r
            for r in db.session.execute(
                select(Product.id, Product.name, Product.model, Product.unit, Product.price)
            ).all()
        }
        categories = {name: id_ for id_, name in self.trade_names.items()}
        new_rows = []
        for name, model, grade, unit, price, category, general in CATALOGUE:
            row = existing.get((name, model))
            product = {
                "name": name,
                "model": model,
                "unit": row.unit if row else unit,
                "fen": int(row.price * 100) if row else price * 100,
                "category": category,
            }
            if row is None:
                created = self.at(self.start - timedelta(days=self.rng.randint(30, 400)))
                new_rows.append(
                    (
                        product,
                        {
                            "name": name,
                            "model": model,
                            "grade": grade,
                            "unit": unit,
                            "price": _yuan(price * 100),
                            "category_id": categories.get(category),
                            "notes": None,
                            "is_active": True,
                            "is_deleted": False,
                            "created_at": created,
                            "updated_at": created,
                        },
                    )
                )
            else:
                product["id"] = row.id
            index = len(self.products)
            self.products.append(product)
            self.by_category[category].append(index)
            if general:
                self.general.append(index)
        for (product, _), id_ in zip(new_rows, _insert_ids(Product, [r for _, r in new_rows]), strict=False):
            product["id"] = id_
        return len(new_rows)

    def pick_lines(self, trade: str | None, count: int) -> list[tuple[int, int, int]]:
        """``count`` different products for a client of ``trade``: (product index, quantity, list price fen)."""
        rng = self.rng
        own = self.by_category.get(trade or "", [])
        picked: list[int] = []
        while len(picked) < count:
            pool = own if own and rng.random() < 0.65 else self.general
            index = rng.choice(pool)
            if index not in picked:
                picked.append(index)
            elif len(picked) >= len(set(own) | set(self.general)):
                break
        lines = []
        for index in picked:
            product = self.products[index]
            fen, unit = product["fen"], product["unit"]
            if unit == "箱":
                quantity = rng.choice((5, 10, 10, 20, 30, 50, 100))
            elif fen >= 5_000_000:
                quantity = weighted(rng, (1, 2), (90, 10))
            elif fen >= 1_000_000:
                quantity = weighted(rng, (1, 2, 3, 5), (60, 20, 12, 8))
            elif unit == "年":
                quantity = rng.choice((1, 1, 1, 2, 3, 5))
            elif fen >= 200_000:
                quantity = rng.choice((1, 2, 3, 5, 8, 10, 20))
            else:
                quantity = rng.choice((5, 10, 20, 30, 50, 100))
            lines.append((index, quantity, fen))
        return lines

    # -- one client ------------------------------------------------------------------------
    def order_days(self, client, first: date, last: date, rate: float) -> list[date]:
        """Days of the client's orders between ``first`` and ``last`` (a Poisson process per
        month with seasonality and a rising trend); the first order usually soon after the start."""
        rng = self.rng
        days = []
        if first > last:
            return days
        if rng.random() < 0.7:
            day = first + timedelta(days=rng.randint(3, 40))
            if day <= last:
                days.append(day)
        for month_first, month_last in _months(first, last):
            lo, hi = max(first, month_first), min(last, month_last)
            if lo > hi:
                continue
            share = ((hi - lo).days + 1) / ((month_last - month_first).days + 1)
            trend = 0.8 + 0.45 * max(0, (month_first - self.start).days) / DAYS
            for _ in range(_poisson(rng, rate * SEASON[month_first.month] * trend * share)):
                days.append(lo + timedelta(days=rng.randint(0, (hi - lo).days)))
        return sorted(days)

    def order(self, client, day: date, lines, quote: dict | None = None, status: str | None = None) -> dict:
        """An order row (lines in "_lines") with the status its age gives it."""
        rng = self.rng
        age = (self.today - day).days
        if status is None:
            if rng.random() < 0.03:
                status = "cancelled"
            elif age > 30:
                status = "completed"
            elif age > 8:
                status = weighted(rng, ("completed", "shipped"), (60, 40))
            else:
                status = weighted(rng, ("pending", "shipped"), (55, 45))
        created = self.at(day)
        shipped_at = shipped_by = None
        updated = created
        if status in ("shipped", "completed"):
            shipped_at = self.later(created, 20, 24 * min(6, max(1, age)) + 1)
            shipped_by = client.owner_id
            updated = shipped_at if status == "shipped" else self.later(shipped_at, 24, 24 * 10)
        elif status == "cancelled":
            updated = self.later(created, 2, 24 * 5)
        notes = None
        if quote is not None:
            notes = f"由报价单 {quote['number']} 转为订单"
        elif status == "cancelled":
            notes = rng.choice(CANCEL_REASONS)
        order_lines = [
            {
                "product_id": self.products[i]["id"],
                "quantity": q,
                "unit": self.products[i]["unit"],
                "unit_price": _yuan(fen),
            }
            for i, q, fen in lines
        ]
        if status != "cancelled":
            self.sold[(client.owner_id, day.isoformat()[:7])] += sum(q * fen for _, q, fen in lines)
        if status == "pending":
            for i, q, _ in lines:
                self.pending_demand[i] += q
        if age <= 90 and status != "cancelled":
            for i, q, _ in lines:
                self.recent_demand[i] += q
        return {
            "number": self.number("DD", day),
            "client_id": client.id,
            "ordered_on": day,
            "delivery_address": client.address,
            "status": status,
            "quote_id": None,
            "shipped_at": shipped_at,
            "shipped_by_id": shipped_by,
            "notes": notes,
            "owner_id": client.owner_id,
            "is_deleted": False,
            "deleted_at": None,
            "deleted_by_id": None,
            "version": 1,
            "created_at": created,
            "updated_at": updated,
            "_lines": order_lines,
            "_quote": quote,
        }

    def quote(
        self, client, day: date, lines, status: str, discount: int | None = None, opportunity: dict | None = None
    ) -> dict:
        """A quote row (lines at list price in "_lines") whose workflow columns tell the
        story ``perform`` would have written (§5.2)."""
        rng = self.rng
        if discount is None:
            discount = self.discount(True if status in ("submitted", "rejected") else None)
        owner = client.owner_id
        created = self.at(day)
        row = {
            "number": self.number("BJ", day),
            "client_id": client.id,
            "opportunity_id": None,
            "valid_until": day + timedelta(days=rng.choice((15, 30, 30, 60))),
            "discount_pct": Decimal(discount).quantize(CENT),
            "notes": None,
            "owner_id": owner,
            "status": "draft",
            "submitted_by_id": None,
            "submitted_at": None,
            "approved_by_id": None,
            "approved_at": None,
            "approval_comment": None,
            "version": 1,
            "created_at": created,
            "updated_at": created,
            "_opportunity": opportunity,
            "_lines": [
                {"product_id": self.products[i]["id"], "quantity": q, "unit_price": _yuan(fen)} for i, q, fen in lines
            ],
        }
        if status == "draft":
            return row
        submitted = self.later(created, 1, 30)
        row.update(submitted_by_id=owner, submitted_at=submitted, updated_at=submitted, status="submitted")
        above = discount > self.threshold
        approver = self.staff.director_of(owner) if above else None
        if status == "submitted" or (above and approver is None):
            return row
        decided = self.later(submitted, 2, 48) if above else submitted
        if status == "rejected":
            row.update(status="rejected", approval_comment=rng.choice(REJECT_REASONS), updated_at=decided)
            return row
        row.update(
            status="approved",
            approved_by_id=approver,
            approved_at=decided,
            updated_at=decided,
            approval_comment=rng.choice(APPROVE_COMMENTS) if above else None,
        )
        if status == "accepted":
            row.update(status="accepted", updated_at=self.later(decided, 4, 24 * 7))
        return row

    def opportunity(self, client, status: str | None = None, stage=None) -> tuple[dict, date | None]:
        """An opportunity row (plans in "_plans"); for a won or lost one also the day it closed."""
        rng = self.rng
        first = max(self.start, client.created_at.date()) if client.created_at else self.start
        if status is None:
            if client.id is None:  # a prospect: open, or lost
                status = weighted(rng, ("unassigned", "assigned", "lost"), (35, 45, 20))
            else:
                status = weighted(rng, ("unassigned", "assigned", "won", "lost"), (12, 38, 28, 22))
        closes = status in ("won", "lost")
        if closes and (self.today - first).days < 12:  # too young to be decided
            status, closes = "assigned", False
        if stage is None:
            stage = self.stages[-1] if status == "won" else rng.choice(self.stages)
        closed_day = None
        if closes:
            created_day = self.day_between(first, self.today - timedelta(days=10))
            closed_day = self.day_between(
                created_day + timedelta(days=10), created_day + timedelta(days=rng.randint(20, 150))
            )
        else:
            recent = 30 if status == "unassigned" else 150
            created_day = self.day_between(max(first, self.today - timedelta(days=recent)), self.today)
        created = self.at(created_day)
        owner = client.owner_id or rng.choice(self.staff.managers or self.staff.directors)
        director = self.staff.director_of(owner) if self.staff.role.get(owner) != "sales_director" else owner
        by_director = director is not None and rng.random() < 0.55
        creator = director if by_director else owner
        assignee = assigned_at = None
        if status != "unassigned":
            assignee = owner
            assigned_at = created if creator == owner else self.later(created, 2, 24 * 5)
        lines = self.pick_lines(client.trade, weighted(rng, (1, 2, 3), (50, 35, 15)))
        amount = sum(q * fen for _, q, fen in lines)
        amount = max(100_000, amount * rng.randint(85, 120) // 100 // 100_000 * 100_000)  # whole thousands
        budget = f"{amount // 1_000_000}万元" if amount >= 1_000_000 else f"{amount // 100}元"
        product = self.products[max(lines, key=lambda line: line[2])[0]]["name"]  # the main item
        competitor = rng.choice(COMPETITORS)
        contact = client.contact_name or self.fake.name()
        closed_at = self.later(self.at(closed_day), 0, 1) if closes else None
        if closes:
            expected_close = closed_day + timedelta(days=rng.randint(-10, 20))
        else:
            expected_close = self.today + timedelta(days=rng.randint(7, 120))
        row = {
            "source_id": rng.choice(self.sources) if self.sources and rng.random() < 0.9 else None,
            "client_id": client.id,
            "customer_name": client.name,
            "title": rng.choice(TITLES).format(product=product, year=created_day.year)[:200],
            "success_rate": 100 if status == "won" else 0 if status == "lost" else stage[2],
            "stage_id": stage[0],
            "expected_amount": _yuan(amount),
            "expected_close_on": expected_close,
            "linkman": contact,
            "tel": client.contact_mobile or self.mobile(),
            "description": f"客户{contact}表示{rng.choice(NEEDS)}，预算约{budget}，重点关注{product}。",
            "competitor": competitor if rng.random() < 0.6 else None,
            "created_by_id": creator,
            "assigned_to_id": assignee,
            "assigned_at": assigned_at,
            "status": "archived" if closes else status,
            "outcome": status if closes else None,
            "lost_reason": rng.choice(LOST_REASONS).format(competitor=competitor) if status == "lost" else None,
            "closed_at": closed_at,
            "version": 1,
            "created_at": created,
            "updated_at": closed_at or assigned_at or created,
            "_lines": lines,
        }
        # development plans: past ones with results, future ones without
        plans = []
        if status != "unassigned" or rng.random() < 0.3:
            end = closed_day or expected_close
            for _ in range(weighted(rng, (1, 2, 3, 4), (25, 35, 25, 15))):
                planned = created_day + timedelta(days=rng.randint(1, max(1, (end - created_day).days)))
                if closed_day and planned > closed_day:
                    planned = closed_day
                plan = {
                    "planned_on": planned,
                    "todo": rng.choice(PLAN_TODOS).format(contact=contact, product=product),
                    "result": None,
                    "executed_on": None,
                    "created_at": self.at(max(created_day, planned - timedelta(days=rng.randint(1, 14)))),
                    "updated_at": None,
                }
                if planned < self.today:
                    executed = min(self.today, planned + timedelta(days=rng.choice((0, 0, 0, 1, 2))))
                    plan.update(result=rng.choice(PLAN_RESULTS), executed_on=executed)
                    plan["updated_at"] = max(plan["created_at"], self.at(executed))
                plan["created_at"] = max(plan["created_at"], created)
                plan["updated_at"] = max(plan["updated_at"] or plan["created_at"], plan["created_at"])
                plans.append(plan)
        row["_plans"] = sorted(plans, key=lambda p: p["planned_on"])
        return row, closed_day

    def client_plan(self, client) -> tuple[list[dict], list[dict], list[dict]]:
        """(opportunities, quotes, orders) of one client."""
        rng = self.rng
        opportunities, quotes, orders = [], [], []
        created = max(self.start, client.created_at.date())
        age = (self.today - client.created_at.date()).days
        trade = client.trade

        # opportunities (a quarter of the clients; the first ones go through every state)
        forced = self.take_forced(can_close=age >= 30)
        count = 1 if forced else weighted(rng, (0, 1, 2), (75, 20, 5))
        for _ in range(count):
            status, stage = forced or (None, None)
            forced = None
            opportunity, closed_day = self.opportunity(client, status, stage)
            opportunities.append(opportunity)
            lines = opportunity.pop("_lines")
            if opportunity["outcome"] == "won":  # an accepted quote, converted to an order
                quote_day = max(opportunity["created_at"].date(), closed_day - timedelta(days=rng.randint(2, 15)))
                quote = self.quote(client, quote_day, lines, "accepted", opportunity=opportunity)
                quotes.append(quote)
                order_day = self.day_between(closed_day, closed_day + timedelta(days=5))
                orders.append(self.order(client, order_day, self.discounted(lines, quote), quote))
            elif opportunity["outcome"] == "lost" and rng.random() < 0.35:
                quote_day = self.day_between(opportunity["created_at"].date(), closed_day)
                quotes.append(
                    self.quote(client, quote_day, lines, rng.choice(("approved", "rejected")), opportunity=opportunity)
                )
            elif (
                opportunity["status"] == "assigned"
                and opportunity["stage_id"] in self.quoting_stages
                and rng.random() < 0.5
            ):
                quote_day = self.day_between(
                    max(opportunity["created_at"].date(), self.today - timedelta(days=40)), self.today
                )
                quotes.append(
                    self.quote(
                        client,
                        quote_day,
                        lines,
                        weighted(rng, ("draft", "submitted", "approved"), (40, 30, 30)),
                        opportunity=opportunity,
                    )
                )

        # orders: its own rate from the day it was recorded; some stopped (churn), some never ordered
        roll = rng.random()
        size = self.size_rank.get(client.size_id, 1)
        rate = (0.2, 0.3, 0.42, 0.6)[min(size, 3)] * math.exp(rng.gauss(0, 0.35))
        last = self.today
        if roll < 0.07:
            days = []
        else:
            if roll < 0.22 and age > 300:  # stopped ordering more than six months ago
                last = self.today - timedelta(days=rng.randint(190, min(age - 60, 480)))
            days = self.order_days(client, created, last, rate)
            if not days and last < self.today:
                days = [self.day_between(created, last)]
            if last == self.today and (not days or days[-1] < self.today - timedelta(days=150)):
                days.append(self.day_between(max(created, self.today - timedelta(days=120)), self.today))
        for day in days:
            lines = self.pick_lines(trade, weighted(rng, (1, 2, 3, 4, 5), (35, 30, 18, 11, 6)))
            total = sum(q * fen for _, q, fen in lines)
            if rng.random() < (0.45 if total >= 5_000_000 else 0.12):  # it came from a quote
                quote_day = max(created, day - timedelta(days=rng.randint(3, 25)))
                quote = self.quote(client, quote_day, lines, "accepted")
                quotes.append(quote)
                orders.append(self.order(client, day, self.discounted(lines, quote), quote))
            else:
                if rng.random() < 0.1:  # a negotiated price on some lines
                    lines = [
                        (i, q, fen * rng.choice((95, 97, 98)) // 100 if rng.random() < 0.5 else fen)
                        for i, q, fen in lines
                    ]
                orders.append(self.order(client, day, lines))

        # recent quotes in every state (the first ones forced), a few accepted but not yet ordered
        forced = self.forced_quotes.pop(0) if self.forced_quotes else None
        if forced or rng.random() < 0.08:
            status = forced or weighted(
                rng, ("draft", "submitted", "approved", "rejected", "accepted"), (30, 20, 25, 10, 15)
            )
            discount = self.discount(True) if forced in ("approved", "submitted", "rejected") else None
            day = self.day_between(max(created, self.today - timedelta(days=40)), self.today)
            quotes.append(self.quote(client, day, self.pick_lines(trade, rng.choice((1, 2, 3))), status, discount))
        return opportunities, quotes, orders

    def take_forced(self, can_close: bool, can_win: bool = True):
        """The next state (and stage) that must still appear, if this record may take it."""
        for index, (status, _stage) in enumerate(self.forced_opportunities):
            if (can_close or status not in ("won", "lost")) and (can_win or status != "won"):
                return self.forced_opportunities.pop(index)
        return None

    @staticmethod
    def discounted(lines, quote: dict) -> list[tuple[int, int, int]]:
        """The order lines of a converted quote, as ``convert_quote`` makes them
        (:func:`split_discount`: exactly the quote's total)."""
        split = split_discount([(fen, q) for _, q, fen in lines], int(Decimal(quote["discount_pct"]) * 100))
        return [(lines[index][0], q, fen) for index, q, fen in split]

    def prospect(self):
        """A company that is not a client yet (for opportunities without a client)."""
        rng = self.rng
        trade = rng.choice(list(TRADES))
        industry = rng.choice(TRADES.get(trade, FALLBACK_TRADE)[0])[0]
        zihao = "".join(ch for ch, _ in rng.sample(ZIHAO, 2))
        city = rng.choice(("北京", "上海", "广州", "深圳", "杭州", "苏州", "成都", "武汉", "南京", "西安"))
        return _Prospect(f"{city}{zihao}{industry}有限公司", trade, self.fake.name(), self.mobile())

    # -- writing ---------------------------------------------------------------------------
    def write(self, opportunities, quotes, orders, counts) -> None:
        for row, id_ in zip(opportunities, _insert_ids(Opportunity, opportunities), strict=False):
            row["_id"] = id_
        plans = [{**plan, "opportunity_id": row["_id"]} for row in opportunities for plan in row["_plans"]]
        _insert(DevelopmentPlan, plans)
        for row in quotes:
            if row["_opportunity"] is not None:
                row["opportunity_id"] = row["_opportunity"]["_id"]
            _set_totals(row)
        for row, id_ in zip(quotes, _insert_ids(Quote, quotes), strict=False):
            row["_id"] = id_
        _insert(QuoteLine, [{**line, "quote_id": row["_id"]} for row in quotes for line in row["_lines"]])
        for row in orders:
            if row["_quote"] is not None:
                row["quote_id"] = row["_quote"]["_id"]
            _set_totals(row)
        lines = []
        for row, id_ in zip(orders, _insert_ids(Order, orders), strict=False):
            lines += [{**line, "order_id": id_} for line in row["_lines"]]
        _insert(OrderLine, lines)
        counts["opportunities"] += len(opportunities)
        counts["development plans"] += len(plans)
        counts["quotes"] += len(quotes)
        counts["orders"] += len(orders)
        counts["order lines"] += len(lines)

    def stock(self) -> int:
        """Stock per product in two or three warehouses: a safety stock, a month or two of recent
        demand and enough for the pending orders, except a few products sold out or running low."""
        rng = self.rng
        existing = set(db.session.execute(select(Stock.product_id, Stock.warehouse)).all())
        order = list(range(len(self.products)))
        rng.shuffle(order)
        sold_out, low = set(order[:2]), set(order[2:6])
        rows = []
        for index, product in enumerate(self.products):
            monthly = max(1, self.recent_demand.get(index, 0) // 3)
            if index in sold_out:
                total = 0
            elif index in low:
                total = rng.randint(1, 5)
            else:  # a safety stock by kind and price, one or two months of demand, the pending orders
                fen, unit = product["fen"], product["unit"]
                low_high = (
                    (50, 300)
                    if unit == "箱"
                    else (10, 80)
                    if unit in ("年", "套") and fen < 5_000_000
                    else (20, 200)
                    if fen < 200_000
                    else (10, 60)
                    if fen < 1_000_000
                    else (3, 20)
                    if fen < 5_000_000
                    else (1, 6)
                )
                total = (
                    self.pending_demand.get(index, 0) + int(monthly * rng.uniform(0.8, 2.5)) + rng.randint(*low_high)
                )
            warehouses = rng.sample(WAREHOUSES, rng.choice((2, 3)))
            shares = [rng.random() + 0.2 for _ in warehouses]
            quantities = [int(total * s / sum(shares)) for s in shares]
            quantities[0] += total - sum(quantities)
            for warehouse, quantity in zip(warehouses, quantities, strict=False):
                if (product["id"], warehouse) in existing:
                    continue
                at = self.at(self.today - timedelta(days=rng.randint(0, 20)))
                rows.append(
                    {
                        "product_id": product["id"],
                        "warehouse": warehouse,
                        "location": f"{'ABC'[WAREHOUSES.index(warehouse)]}区-{rng.randint(1, 12):02d}-"
                        f"{rng.randint(1, 6):02d}",
                        "quantity": quantity,
                        "notes": "缺货，已向供应商催货" if total == 0 else None,
                        "version": 1,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
        _insert(Stock, rows)
        return len(rows)

    def targets(self) -> int:
        """Monthly targets per account manager and per sales department: a little above the
        (smoothed) amounts actually sold, rounded up to ten thousand yuan."""
        rng = self.rng
        months = [f"{first:%Y-%m}" for first, _ in _months(self.start, self.today)]
        taken_users = set(
            db.session.execute(
                select(SalesTarget.user_id, SalesTarget.month).where(SalesTarget.user_id.is_not(None))
            ).all()
        )
        taken_departments = set(
            db.session.execute(
                select(SalesTarget.department_id, SalesTarget.month).where(SalesTarget.department_id.is_not(None))
            ).all()
        )
        sellers = sorted({owner for owner, _ in self.sold} | set(self.staff.managers))
        department_sum: dict[tuple[int, str], int] = defaultdict(int)
        rows = []

        def round_up(fen: int) -> int:
            return max(5_000_000, (fen + 999_999) // 1_000_000 * 1_000_000)

        for user_id in sellers:
            department = self.staff.department.get(user_id)
            for index, month in enumerate(months):
                window = [self.sold.get((user_id, m), 0) for m in months[max(0, index - 1) : index + 2]]
                amount = round_up(int(sum(window) / len(window) * rng.uniform(1.02, 1.25)))
                if department is not None:
                    department_sum[(department, month)] += amount
                if user_id in self.staff.managers and (user_id, month) not in taken_users:
                    at = self.at(max(self.start, date.fromisoformat(f"{month}-01") - timedelta(days=5)))
                    rows.append(
                        {
                            "user_id": user_id,
                            "department_id": None,
                            "month": month,
                            "amount": _yuan(amount),
                            "notes": None,
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
        for (department, month), amount in sorted(department_sum.items()):
            if (department, month) in taken_departments:
                continue
            at = self.at(max(self.start, date.fromisoformat(f"{month}-01") - timedelta(days=7)))
            rows.append(
                {
                    "user_id": None,
                    "department_id": department,
                    "month": month,
                    "amount": _yuan(round_up(int(amount * rng.uniform(1.0, 1.05)))),
                    "notes": "含主管直管客户" if rng.random() < 0.2 else None,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        _insert(SalesTarget, rows)
        return len(rows)

    def weekly_reports(self, weeks: int = 8) -> tuple[int, int]:
        """Reports of the last ``weeks`` weeks (Mondays) per account manager, about their
        opportunities; older ones reviewed by their sales director, this week's a draft."""
        rng = self.rng
        monday = self.today - timedelta(days=self.today.weekday())
        taken = set(db.session.execute(select(WeeklyReport.user_id, WeeklyReport.week_start)).all())
        reports, items = [], []
        for user_id in self.staff.managers:
            mine = db.session.execute(
                select(Opportunity.id, Opportunity.customer_name, Opportunity.created_at, Opportunity.closed_at)
                .where((Opportunity.assigned_to_id == user_id) | (Opportunity.created_by_id == user_id))
                .where(
                    (Opportunity.closed_at.is_(None)) | (Opportunity.closed_at >= self.now - timedelta(weeks=weeks + 1))
                )
                .order_by(Opportunity.id.desc())
                .limit(40)
            ).all()
            director = self.staff.director_of(user_id)
            for back in range(weeks - 1, -1, -1):
                week = monday - timedelta(weeks=back)
                if (user_id, week) in taken:
                    continue
                friday = self.at(week + timedelta(days=4), 8, 11)
                if back == 0 or friday >= self.now:
                    status = "draft"
                elif back == 1:
                    status = weighted(rng, ("draft", "submitted", "reviewed"), (15, 45, 40))
                else:
                    status = weighted(rng, ("submitted", "reviewed"), (12, 88))
                if status == "reviewed" and director is None:
                    status = "submitted"
                created = self.at(week + timedelta(days=rng.randint(0, 4)))
                week_end = datetime.combine(week + timedelta(days=7), time(0), UTC)
                week_begin = datetime.combine(week, time(0), UTC)
                current = [
                    o for o in mine if o.created_at < week_end and (o.closed_at is None or o.closed_at >= week_begin)
                ]
                n = min(len(current), weighted(rng, (1, 2, 3), (40, 40, 20)))
                chosen = rng.sample(current, n) if n else []
                report = {
                    "user_id": user_id,
                    "week_start": week,
                    "status": status,
                    "summary": rng.choice(SUMMARIES).format(
                        visits=rng.randint(2, 9), calls=rng.randint(5, 30), n=max(1, n), new=rng.randint(0, 4)
                    ),
                    "submitted_at": None,
                    "reviewed_by_id": None,
                    "reviewed_at": None,
                    "review_comment": None,
                    "created_at": created,
                    "updated_at": created,
                }
                if status in ("submitted", "reviewed"):
                    report["submitted_at"] = report["updated_at"] = max(created, friday)
                if status == "reviewed":
                    reviewed = self.later(report["submitted_at"], 20, 80)
                    report.update(
                        reviewed_by_id=director,
                        reviewed_at=reviewed,
                        updated_at=reviewed,
                        review_comment=rng.choice(REVIEW_COMMENTS),
                    )
                report["_items"] = [
                    {
                        "opportunity_id": o.id,
                        "progress": rng.choice(PROGRESS).format(customer=o.customer_name),
                        "next_plan": rng.choice(NEXT_PLANS),
                        "issues": rng.choice(ISSUES),
                        "support_needed": rng.choice(SUPPORT),
                        "notes": None,
                    }
                    for o in chosen
                ] or [
                    {
                        "opportunity_id": None,
                        "progress": "本周以老客户回访和回款跟进为主",
                        "next_plan": rng.choice(NEXT_PLANS),
                        "issues": None,
                        "support_needed": None,
                        "notes": None,
                    }
                ]
                reports.append(report)
        for report, id_ in zip(reports, _insert_ids(WeeklyReport, reports), strict=False):
            items += [{**item, "report_id": id_} for item in report["_items"]]
        _insert(WeeklyReportItem, items)
        return len(reports), len(items)

    def churn(self, since_id: int) -> dict[str, int]:
        """Run churn detection as of the first of each of the last twelve months and today
        (so warnings have a history), then take some warnings further: clients that ordered
        again after their warning got a retention measure (→ delayed); of the others a few
        got a measure and a few were confirmed lost by the sales director."""
        created = 0
        day = (self.today.replace(day=1) - timedelta(days=365)).replace(day=1)
        while day < self.today:
            created += detect_churn(today=day, insert=_insert_losses)
            day = (day + timedelta(days=32)).replace(day=1)
        created += detect_churn(today=self.today, insert=_insert_losses)
        rows = db.session.execute(  # plain rows: the ORM loads only the few picked below
            select(ClientLoss.id, ClientLoss.client_id, ClientLoss.owner_id, ClientLoss.detected_on)
            .where(ClientLoss.id > since_id, ClientLoss.status == "warning")
            .order_by(ClientLoss.id)
        ).all()
        orders = last_order_subquery()
        last = dict(db.session.execute(select(orders.c.client_id, orders.c.last_on)).all())
        recovered = [r for r in rows if last.get(r.client_id) and last[r.client_id] > r.detected_on]
        recovered_ids = {r.id for r in recovered}
        rows = [r for r in rows if r.id not in recovered_ids]
        few = min(150, max(1, len(rows) // 10)) if rows else 0
        picked = self.rng.sample(rows, min(len(rows), 2 * few))
        users: dict[int, User] = {}

        def user(user_id):
            if user_id is not None and user_id not in users:
                users[user_id] = db.session.get(User, user_id)
            return users.get(user_id)

        delayed = confirmed = 0
        by_owner = defaultdict(list)  # the measure worked: the client ordered again (bulk, like all demo rows)
        for loss in recovered:
            by_owner[loss.owner_id].append(loss.id)
        for owner_id, ids in by_owner.items():
            owner = user(owner_id)
            text = f"[{self.today:%Y-%m-%d} {owner.name if owner else '系统'}] {RECOVERED}"
            for start in range(0, len(ids), 1000):
                db.session.execute(
                    update(ClientLoss)
                    .where(ClientLoss.id.in_(ids[start : start + 1000]))
                    .values(status="delayed", measures=text, version=ClientLoss.version + 1)
                    .execution_options(synchronize_session=False)
                )
            delayed += len(ids)
        db.session.expire_all()
        losses = db.session.execute(select(ClientLoss).where(ClientLoss.id.in_([r.id for r in picked]))).scalars()
        by_id = {loss.id: loss for loss in losses}
        for index, loss in enumerate(by_id[r.id] for r in picked):  # even: a measure, so delayed; odd: lost
            owner = user(loss.owner_id)
            director = user(self.staff.director_of(loss.owner_id)) if loss.owner_id else None
            actor = owner if owner is not None and owner.can("churn.edit") else director
            if actor is None:
                continue
            if index % 2 == 0 or self.rng.random() < 0.5:  # some losses were fought for first
                perform(loss, "add_measure", actor, comment=self.rng.choice(MEASURES))
            if index % 2 == 0:
                delayed += 1
            else:
                perform(loss, "confirm", director or actor, comment=self.rng.choice(LOSS_REASONS))
                confirmed += 1
        db.session.info.pop("audit_note", None)  # the notes of these steps end here
        return {"churn warnings": created, "churn delayed": delayed, "churn confirmed": confirmed}


class _Prospect:
    """The fields of a client that an opportunity without a client needs."""

    __slots__ = ("id", "name", "trade", "contact_name", "contact_mobile", "owner_id", "created_at")

    def __init__(self, name, trade, contact, mobile):
        self.id, self.name, self.trade, self.contact_name, self.contact_mobile = None, name, trade, contact, mobile
        self.owner_id = self.created_at = None


class _Client:
    __slots__ = (
        "id",
        "name",
        "owner_id",
        "created_at",
        "trade",
        "size_id",
        "address",
        "contact_name",
        "contact_mobile",
    )

    def __init__(self, row, trades):
        for key in self.__slots__:
            if key != "trade":
                setattr(self, key, getattr(row, key))
        self.trade = trades.get(row.trade_id)


def sales_counts() -> dict[str, int]:
    return {
        "products": 0,
        "stock": 0,
        "opportunities": 0,
        "development plans": 0,
        "quotes": 0,
        "orders": 0,
        "order lines": 0,
        "sales targets": 0,
        "weekly reports": 0,
        "weekly report items": 0,
    }


def sales_start(seed: int, counts: dict[str, int]) -> DemoSales | None:
    """The sales generator with its product catalogue written (None: nobody to sell)."""
    db.session.flush()
    generator = DemoSales(seed)
    if not generator.staff.managers and not generator.staff.directors:
        return None
    counts["products"] = generator.catalogue()
    generator.since_loss = db.session.execute(select(func.max(ClientLoss.id))).scalar() or 0
    generator.clients_done = 0
    return generator


def sales_batch(generator: DemoSales, since_client_id: int, counts, progress=None, batch_size: int = BATCH) -> None:
    """Opportunities, quotes and orders of the live clients with an id above ``since_client_id``."""
    query = (
        select(
            Client.id,
            Client.name,
            Client.owner_id,
            Client.created_at,
            Client.trade_id,
            Client.size_id,
            Client.address,
            Client.contact_name,
            Client.contact_mobile,
        )
        .where(Client.id > since_client_id, Client.is_deleted.is_(False))
        .order_by(Client.id)
    )
    last_id = since_client_id
    while True:
        rows = db.session.execute(query.where(Client.id > last_id).limit(batch_size)).all()
        if not rows:
            break
        opportunities, quotes, orders = [], [], []
        for row in rows:
            o, q, r = generator.client_plan(_Client(row, generator.trade_names))
            opportunities += o
            quotes += q
            orders += r
        generator.write(opportunities, quotes, orders, counts)
        generator.clients_done += len(rows)
        last_id = rows[-1].id
        if progress:
            progress(len(rows))


def sales_finish(generator: DemoSales, counts: dict[str, int]) -> dict[str, int]:
    """What comes after the clients: prospects, stock, targets, weekly reports, churn."""
    # prospects: opportunities without a client (the forced states not used up yet first)
    prospects = []
    for _ in range(max(6, round(generator.clients_done * 0.04))):
        status, stage = generator.take_forced(can_close=True, can_win=False) or (None, None)
        row, _ = generator.opportunity(generator.prospect(), status, stage)
        row.pop("_lines")
        prospects.append(row)
    generator.write(prospects, [], [], counts)
    counts["stock"] = generator.stock()
    counts["sales targets"] = generator.targets()
    counts["weekly reports"], counts["weekly report items"] = generator.weekly_reports()
    counts.update(generator.churn(generator.since_loss))
    return counts


def seed_sales(seed: int, since_client_id: int = 0, batch_size: int = BATCH) -> dict[str, int]:
    """Sales demo data for the clients with an id above ``since_client_id`` (the ones this
    seed-demo run made), in the caller's transaction; returns the number of rows per table."""
    counts = sales_counts()
    generator = sales_start(seed, counts)
    if generator is None:
        return counts
    total = db.session.execute(
        select(func.count()).select_from(Client).where(Client.id > since_client_id, Client.is_deleted.is_(False))
    ).scalar()
    with click.progressbar(length=total, label="Demo sales") as bar:
        sales_batch(generator, since_client_id, counts, bar.update, batch_size)
    return sales_finish(generator, counts)
