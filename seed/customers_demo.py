"""seed-demo, part 2: clients with contacts, follow-ups, appointments and contracts.

Everything is drawn from one ``random.Random`` and one seeded Faker, so the same seed on
the same (fresh) database gives the same data. Rows are written with bulk Core inserts in
batches (``--clients 100000`` takes a minute or two on SQLite). Core inserts bypass the
ORM unit of work: no ``before_flush`` checks run (so the generator itself produces valid
values and sets ``name_key``) and no ``audit_log`` rows are written for demo data — on
purpose, demo rows have no human author and 10^5 audit entries would only be noise.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import click
from faker import Faker
from sqlalchemy import func, select

from models import db, lookups
from models.auth import Role, User
from models.customers import Appointment, Client, Contract, FollowUp, Linkman, normalise_name
from models.validators import USCC_CHARSET, uscc_check_char

from . import bulk
from .bulk import weighted

BATCH = 5000
CENT = Decimal("0.01")

# --------------------------------------------------------------------------- reference
#: city → (landline area code, 3-digit zip prefix, [(district, administrative division code)])
CITIES: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "北京": (
        "010",
        "100",
        [("东城区", "110101"), ("朝阳区", "110105"), ("海淀区", "110108"), ("丰台区", "110106"), ("大兴区", "110115")],
    ),
    "上海": (
        "021",
        "200",
        [
            ("黄浦区", "310101"),
            ("徐汇区", "310104"),
            ("浦东新区", "310115"),
            ("闵行区", "310112"),
            ("静安区", "310106"),
        ],
    ),
    "天津": ("022", "300", [("和平区", "120101"), ("南开区", "120104"), ("滨海新区", "120116")]),
    "重庆": ("023", "400", [("渝中区", "500103"), ("江北区", "500105"), ("渝北区", "500112")]),
    "广州": ("020", "510", [("天河区", "440106"), ("越秀区", "440104"), ("黄埔区", "440112"), ("番禺区", "440113")]),
    "深圳": (
        "0755",
        "518",
        [("福田区", "440304"), ("南山区", "440305"), ("罗湖区", "440303"), ("宝安区", "440306"), ("龙岗区", "440307")],
    ),
    "东莞": ("0769", "523", [("南城街道", "441900"), ("松山湖", "441900"), ("长安镇", "441900")]),
    "佛山": ("0757", "528", [("禅城区", "440604"), ("南海区", "440605"), ("顺德区", "440606")]),
    "杭州": ("0571", "310", [("西湖区", "330106"), ("滨江区", "330108"), ("余杭区", "330110"), ("拱墅区", "330105")]),
    "宁波": ("0574", "315", [("海曙区", "330203"), ("鄞州区", "330212"), ("北仑区", "330206")]),
    "温州": ("0577", "325", [("鹿城区", "330302"), ("瓯海区", "330304"), ("龙湾区", "330303")]),
    "南京": ("025", "210", [("玄武区", "320102"), ("建邺区", "320105"), ("江宁区", "320115"), ("鼓楼区", "320106")]),
    "苏州": ("0512", "215", [("姑苏区", "320508"), ("虎丘区", "320505"), ("吴中区", "320506"), ("工业园区", "320571")]),
    "无锡": ("0510", "214", [("梁溪区", "320213"), ("新吴区", "320214"), ("滨湖区", "320211")]),
    "成都": ("028", "610", [("锦江区", "510104"), ("武侯区", "510107"), ("高新区", "510109"), ("双流区", "510116")]),
    "绵阳": ("0816", "621", [("涪城区", "510703"), ("游仙区", "510704")]),
    "武汉": (
        "027",
        "430",
        [("江汉区", "420103"), ("武昌区", "420106"), ("洪山区", "420111"), ("东湖高新区", "420111")],
    ),
    "宜昌": ("0717", "443", [("西陵区", "420502"), ("伍家岗区", "420503")]),
    "济南": ("0531", "250", [("历下区", "370102"), ("市中区", "370103"), ("历城区", "370112")]),
    "青岛": ("0532", "266", [("市南区", "370202"), ("崂山区", "370212"), ("黄岛区", "370211")]),
    "烟台": ("0535", "264", [("芝罘区", "370602"), ("莱山区", "370613")]),
    "福州": ("0591", "350", [("鼓楼区", "350102"), ("仓山区", "350104"), ("晋安区", "350111")]),
    "厦门": ("0592", "361", [("思明区", "350203"), ("湖里区", "350206"), ("集美区", "350211")]),
    "西安": ("029", "710", [("雁塔区", "610113"), ("碑林区", "610103"), ("未央区", "610112")]),
}
FALLBACK_CITY = ("", "", [("高新区", "")])  # an area an administrator added later
MUNICIPALITIES = {"北京", "上海", "天津", "重庆"}

STREET_HEADS = [
    "人民",
    "解放",
    "中山",
    "建设",
    "和平",
    "文化",
    "新华",
    "科技",
    "创业",
    "高新",
    "工业",
    "长江",
    "黄河",
    "东风",
    "迎宾",
    "振兴",
    "世纪",
    "学府",
    "滨江",
    "金融",
    "光明",
    "青年",
    "软件园",
    "天府",
    "长安",
    "淮海",
    "复兴",
    "南京",
    "朝阳",
    "锦绣",
]
STREET_TAILS = ["路", "大道", "街", "东路", "西路", "南路", "北路", "中路", "二路", "三路"]
BUILDINGS = [
    "国际大厦",
    "科技大厦",
    "金融中心",
    "商务中心",
    "创业园",
    "产业园",
    "广场",
    "中心大厦",
    "软件园",
    "总部基地",
    "写字楼",
    "财富中心",
    "科创中心",
]

#: the characters of trade names (字号), with pinyin for the web domain
ZIHAO = [
    ("华", "hua"),
    ("鑫", "xin"),
    ("泰", "tai"),
    ("瑞", "rui"),
    ("博", "bo"),
    ("恒", "heng"),
    ("嘉", "jia"),
    ("信", "xin"),
    ("达", "da"),
    ("创", "chuang"),
    ("源", "yuan"),
    ("盛", "sheng"),
    ("宏", "hong"),
    ("安", "an"),
    ("德", "de"),
    ("通", "tong"),
    ("远", "yuan"),
    ("康", "kang"),
    ("联", "lian"),
    ("金", "jin"),
    ("海", "hai"),
    ("天", "tian"),
    ("中", "zhong"),
    ("新", "xin"),
    ("誉", "yu"),
    ("耀", "yao"),
    ("锦", "jin"),
    ("辰", "chen"),
    ("亿", "yi"),
    ("卓", "zhuo"),
    ("睿", "rui"),
    ("凯", "kai"),
    ("腾", "teng"),
    ("祥", "xiang"),
    ("润", "run"),
    ("正", "zheng"),
    ("和", "he"),
    ("丰", "feng"),
    ("美", "mei"),
    ("利", "li"),
    ("兴", "xing"),
    ("隆", "long"),
    ("昌", "chang"),
    ("晟", "sheng"),
    ("蓝", "lan"),
    ("思", "si"),
    ("诺", "nuo"),
    ("启", "qi"),
    ("明", "ming"),
    ("诚", "cheng"),
    ("景", "jing"),
    ("弘", "hong"),
    ("骏", "jun"),
    ("峰", "feng"),
    ("宇", "yu"),
    ("航", "hang"),
    ("星", "xing"),
    ("云", "yun"),
    ("智", "zhi"),
    ("汇", "hui"),
    ("融", "rong"),
    ("邦", "bang"),
    ("佳", "jia"),
    ("捷", "jie"),
    ("越", "yue"),
    ("致", "zhi"),
    ("合", "he"),
    ("益", "yi"),
    ("永", "yong"),
    ("顺", "shun"),
    ("鼎", "ding"),
    ("翔", "xiang"),
    ("欣", "xin"),
    ("君", "jun"),
    ("普", "pu"),
    ("洲", "zhou"),
    ("万", "wan"),
    ("方", "fang"),
    ("东", "dong"),
    ("南", "nan"),
    ("北", "bei"),
    ("立", "li"),
    ("维", "wei"),
    ("科", "ke"),
]

#: trade lookup name → ([(industry word, domain tag)], main business, [products the client buys])
TRADES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "软件": (
        [
            ("科技", "tech"),
            ("软件", "soft"),
            ("信息技术", "it"),
            ("网络科技", "net"),
            ("数据科技", "data"),
            ("智能科技", "ai"),
        ],
        ["软件开发、信息系统集成、技术咨询", "企业管理软件研发与销售", "云计算与大数据服务", "移动应用开发及运营"],
    ),
    "制造": (
        [
            ("机械", "mach"),
            ("精密制造", "mfg"),
            ("电子", "elec"),
            ("新材料", "material"),
            ("机电设备", "equip"),
            ("汽车零部件", "auto"),
            ("五金制品", "hardware"),
        ],
        ["数控机床及配件生产", "电子元器件制造与销售", "汽车零部件加工", "工业自动化设备制造"],
    ),
    "零售": (
        [("商贸", "trade"), ("百货", "store"), ("贸易", "trading"), ("电子商务", "ec"), ("连锁超市", "mart")],
        ["日用百货批发零售", "食品及饮料销售", "家用电器销售", "服装鞋帽零售"],
    ),
    "金融": (
        [
            ("投资", "invest"),
            ("资产管理", "am"),
            ("融资租赁", "leasing"),
            ("商业保理", "factor"),
            ("投资咨询", "capital"),
        ],
        ["股权投资及资产管理", "融资租赁业务", "投资咨询服务"],
    ),
    "教育": (
        [("教育科技", "edu"), ("培训", "training"), ("文化传播", "culture"), ("教育咨询", "study")],
        ["职业技能培训", "在线教育平台运营", "教育软件及教学设备"],
    ),
    "医疗": (
        [("医疗器械", "med"), ("生物科技", "bio"), ("医药", "pharma"), ("健康管理", "health"), ("医疗科技", "medtech")],
        ["医疗器械研发与销售", "药品批发", "体外诊断试剂生产", "健康体检服务"],
    ),
    "物流": (
        [
            ("物流", "logistics"),
            ("供应链管理", "scm"),
            ("国际货运代理", "freight"),
            ("运输", "express"),
            ("仓储服务", "wms"),
        ],
        ["道路普通货物运输", "仓储及配送服务", "国际货运代理", "供应链管理服务"],
    ),
    "建筑": (
        [
            ("建筑工程", "build"),
            ("建设", "cons"),
            ("装饰工程", "deco"),
            ("建材", "bm"),
            ("工程设计", "design"),
            ("市政工程", "civil"),
        ],
        ["房屋建筑工程施工", "建筑装饰装修工程", "建筑材料销售", "市政道路工程"],
    ),
}
FALLBACK_TRADE = ([("实业", "group"), ("发展", "dev"), ("企业管理咨询", "consult")], ["综合经营"])

#: what the CRM's own company sells (products and services in follow-ups and contracts)
PRODUCTS = [
    "企业管理软件",
    "CRM客户管理系统",
    "ERP系统",
    "数据分析平台",
    "云服务器资源",
    "网络安全设备",
    "办公自动化系统",
    "IT运维服务",
    "定制开发服务",
    "智能仓储系统",
    "视频会议系统",
    "财务软件",
    "人力资源管理系统",
    "电子签章系统",
    "服务器及存储设备",
]
POSITIONS = [
    "总经理",
    "副总经理",
    "采购经理",
    "采购专员",
    "财务总监",
    "财务经理",
    "技术总监",
    "IT经理",
    "行政主管",
    "办公室主任",
    "董事长助理",
    "项目经理",
    "运营总监",
    "销售经理",
]
ENGLISH_NAMES = [
    "David",
    "Kevin",
    "Jason",
    "Tony",
    "Eric",
    "Leo",
    "Frank",
    "Jack",
    "Linda",
    "Amy",
    "Grace",
    "Cindy",
    "Helen",
    "Lily",
    "Vivian",
    "Sunny",
    "Coco",
    "Michael",
    "Alice",
    "Ivy",
]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]

FOLLOWUP_TEMPLATES = [
    "电话沟通了解需求，{contact}表示目前正在评估{product}，约定下周发送方案。",
    "上门拜访{contact}，介绍了我司{product}，客户对价格比较关注。",
    "发送产品资料和报价单给{contact}，待客户内部讨论后回复。",
    "微信跟进，{contact}反馈预算已提交审批，预计{days}天内有结果。",
    "参加客户内部需求评审会，确认了{product}的主要功能点。",
    "客户对上次方案提出修改意见，已安排技术同事调整后再提交。",
    "邀请{contact}参加我司产品发布会，客户表示有兴趣。",
    "电话回访使用情况，客户反馈运行稳定，提出两点改进建议。",
    "商务谈判：客户希望价格再优惠{discount}%，需请示主管后答复。",
    "合同条款已基本确认，等待客户法务审核。",
    "客户采购流程调整，需重新提交供应商资质材料。",
    "与{contact}确认交付时间，初步定于下月中旬上线。",
    "节日问候并了解近期采购计划，暂无新需求。",
    "客户同时在比较竞品，已提供同行业成功案例供参考。",
    "安排售前工程师远程演示{product}，客户反馈良好。",
    "催收上期款项，{contact}表示本周内安排付款。",
    "了解到客户新设分公司，可能有新增{product}需求。",
    "邮件发送会议纪要，并附上项目实施计划。",
    "客户对接人变更，已与新对接人{contact}建立联系。",
    "回访培训效果，客户希望再安排一次现场培训。",
    "客户暂无预算，约定{days}天后再跟进。",
    "协助客户解决开票信息问题，客户表示满意。",
]
APPOINTMENT_TEMPLATES = [
    "拜访{contact}，现场演示{product}",
    "电话回访{contact}，确认方案反馈意见",
    "与{contact}开会讨论合同细节",
    "上门签订{product}合同",
    "季度回访，了解系统使用情况",
    "跟进付款进度，与财务对账",
    "陪同技术同事现场调研需求",
    "邀请{contact}参观公司展厅",
]
PAYMENT_PLANS = [
    "签约后预付30%，验收合格后支付60%，质保期满支付10%。",
    "签约后7个工作日内一次性付清。",
    "按季度平均支付，每季度首月10日前付款。",
    "预付50%，交付后付清余款。",
    None,
    None,
]


# --------------------------------------------------------------------------- the generator
@dataclass
class _Plan:
    """One client and its children, before the ids are known (linkmans by index)."""

    client: dict
    linkmans: list[dict] = field(default_factory=list)
    followups: list[dict] = field(default_factory=list)
    appointments: list[dict] = field(default_factory=list)
    contracts: list[dict] = field(default_factory=list)


def _ids(model, active_only: bool = True) -> list[int]:
    query = select(model.id).order_by(model.sort_order, model.id)
    if active_only:
        query = query.where(model.is_active.is_(True))
    return list(db.session.execute(query).scalars())


def _names(model) -> dict[str, int]:
    return {
        name: id_
        for id_, name in db.session.execute(
            select(model.id, model.name).where(model.is_active.is_(True)).order_by(model.id)
        )
    }


def demo_chance(kind: str, seed: int, faker_offset: int) -> tuple[random.Random, Faker]:
    """A demo generator's own random stream and its zh_CN Faker, both fixed by ``seed``: the
    same seed builds the same data, and each generator (``kind``) draws independently."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed + faker_offset)
    return random.Random(f"{kind}:{seed}"), fake


#: how many names of each kind the Faker pools hold (drawn from by the seeded RNG)
POOL = 4000


class _Pools:
    """Values Faker makes slowly (tens of microseconds a call), made once per run by the
    seeded Faker and then drawn with the seeded RNG: deterministic, and 2 M contacts at a
    million clients cost a ``choice`` each instead of a Faker call."""

    def __init__(self, fake: Faker, size: int = POOL):
        self.male = [fake.name_male() for _ in range(size)]
        self.female = [fake.name_female() for _ in range(size)]
        self.user_names = [fake.user_name() for _ in range(size)]
        self.company_prefixes = [fake.company_prefix() for _ in range(size // 10)]


class DemoClients:
    def __init__(self, seed: int):
        self.rng, self.fake = demo_chance("clients", seed, 1)
        self.pools = _Pools(self.fake)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = self.now.date()
        # lookups (by id, in a stable order)
        area = lookups.Area
        areas = db.session.execute(
            select(area.id, area.name, area.parent_id).where(area.is_active.is_(True)).order_by(area.id)
        ).all()
        parents = {row.parent_id for row in areas if row.parent_id}
        names = {row.id: row.name for row in areas}
        self.areas = [(row.id, row.name, names.get(row.parent_id)) for row in areas if row.id not in parents]
        if not self.areas:
            raise click.ClickException("no areas: run 'flask --app app seed' first")
        self.trades = list(_names(lookups.Trade).items())
        self.types = _ids(lookups.ClientType)
        self.stars = _ids(lookups.StarRating)
        self.sources = _ids(lookups.ClientSource)
        self.revenue = _ids(lookups.RevenueBand)
        self.capital = _ids(lookups.CapitalBand)
        self.sizes = _ids(lookups.CompanySize)
        self.models = _ids(lookups.BusinessModel)
        self.followup_types = _ids(lookups.FollowUpType)
        self.appointment_types = _ids(lookups.AppointmentType)
        self.contract_types = list(_names(lookups.ContractType).items())
        if not (self.followup_types and self.appointment_types and self.contract_types):
            raise click.ClickException("lookups missing: run 'flask --app app seed' first")
        # owners: active account managers (most clients) and sales directors (a few)
        rows = db.session.execute(
            select(User.id, Role.code)
            .join(Role, User.role_id == Role.id)
            .where(User.is_active.is_(True), Role.code.in_(["account_manager", "sales_director"]))
            .order_by(User.id)
        ).all()
        managers = [r.id for r in rows if r.code == "account_manager"]
        directors = [r.id for r in rows if r.code == "sales_director"]
        if not managers and not directors:
            raise click.ClickException("no active account manager or sales director to own the clients")
        self.owners = managers + directors
        # account managers carry uneven books; directors keep only a few key accounts
        self.owner_weights = tuple(
            [self.rng.uniform(0.6, 1.4) for _ in managers] + [0.15 if managers else 1.0 for _ in directors]
        )
        # a per-run offset keeps USCCs and contract numbers unique when run again
        self.serial = db.session.execute(select(func.max(Client.id))).scalar() or 0
        self.contract_seq = db.session.execute(select(func.max(Contract.id))).scalar() or 0
        self.uscc_salt = self.rng.randrange(31**9)
        self.taken_usccs = set(db.session.execute(select(Client.uscc).where(Client.uscc.is_not(None))).scalars())
        self.taken_keys = set(db.session.execute(select(Client.name_key)).scalars())
        self.taken_numbers = set(db.session.execute(select(Contract.number)).scalars())

    # -- small values --------------------------------------------------------------
    def mobile(self) -> str:
        return f"{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"

    def landline(self, code: str) -> str:
        if not code:
            return self.mobile()
        return f"{code}-{self.rng.randint(2, 8)}{self.rng.randrange(10**7):07d}"

    def when(self, start: datetime, end: datetime) -> datetime:
        span = max(0, int((end - start).total_seconds()))
        return start + timedelta(seconds=self.rng.randint(0, span))

    def uscc(self, division: str) -> str:
        """18 chars: 9 (enterprise) 1 (company), division code, a 9-char organisation code
        that is a bijection of a per-run serial (so unique), then the check character."""
        while True:
            self.serial += 1
            value = (self.serial * 16_340_479_826_000 + self.uscc_salt) % (31**9)
            body = []
            for _ in range(9):
                value, digit = divmod(value, 31)
                body.append(USCC_CHARSET[digit])
            division = division if len(division) == 6 else f"{self.rng.randint(11, 65)}0100"
            first17 = "91" + division + "".join(reversed(body))
            code = first17 + uscc_check_char(first17)
            if code not in self.taken_usccs:
                self.taken_usccs.add(code)
                return code

    def company_name(self, city: str, industry: str, size_rank: int) -> tuple[str, str, str]:
        """(name, name_key, ascii trade name) — unique name keys within the database."""
        rng = self.rng
        for attempt in range(50):
            if rng.random() < 0.15:
                zihao = rng.choice(self.pools.company_prefixes)
                ascii_name = "".join(rng.choice("abcdefghjkmnpqrstwxyz") for _ in range(rng.randint(4, 7)))
                if any(word in zihao for word in ("软件", "电子", "科技", "网络", "信息")):
                    zihao = zihao[:2]
            else:
                picked = rng.sample(ZIHAO, rng.choice((2, 2, 2, 3)))
                zihao = "".join(ch for ch, _ in picked)
                ascii_name = "".join(py for _, py in picked)
            if size_rank >= 2 and rng.random() < 0.3:
                suffix = "股份有限公司"
            else:
                suffix = rng.choice(("有限公司", "有限公司", "有限公司", "有限责任公司"))
            style = rng.random()
            if attempt > 20:  # very crowded: add a branch-style qualifier
                zihao += rng.choice(("新", "和", "长", "永", "宏")) + rng.choice(("达", "泰", "兴", "盛"))
            if style < 0.65:
                name = f"{city}市{zihao}{industry}{suffix}" if city else f"{zihao}{industry}{suffix}"
            elif style < 0.85:
                name = f"{city}{zihao}{industry}{suffix}"
            else:
                name = f"{zihao}{industry}（{city}）{suffix}" if city else f"{zihao}{industry}{suffix}"
            key = normalise_name(name)
            if key not in self.taken_keys:
                self.taken_keys.add(key)
                return name, key, ascii_name
        raise click.ClickException("could not find a free company name")

    def batch(self, size: int, counts: dict[str, int]) -> None:
        """Write ``size`` more clients with their children (ids numbered on)."""
        _write([self.plan() for _ in range(size)], counts)

    # -- one client and its children ----------------------------------------------------
    def plan(self) -> _Plan:
        rng, pools, now = self.rng, self.pools, self.now
        area_id, city, province = rng.choice(self.areas)
        phone_code, zip_prefix, districts = CITIES.get(city, FALLBACK_CITY)
        district, division = rng.choice(districts)
        trade_name, trade_id = rng.choice(self.trades) if self.trades else ("", None)
        industries, businesses = TRADES.get(trade_name, FALLBACK_TRADE)
        industry, tag = rng.choice(industries)
        size_rank = rng.randrange(len(self.sizes)) if self.sizes else 0
        name, key, ascii_name = self.company_name(city, industry, size_rank)
        domain = f"{ascii_name}{rng.choice(('', '-' + tag, tag))}{rng.choice(('.com', '.cn', '.com.cn'))}"
        where = (
            f"{city}市" if province is None or province == city or city in MUNICIPALITIES else f"{province}省{city}市"
        )
        address = f"{where}{district}{rng.choice(STREET_HEADS)}{rng.choice(STREET_TAILS)}{rng.randint(1, 999)}号"
        if rng.random() < 0.6:
            address += f"{rng.choice(BUILDINGS)}{rng.randint(1, 32)}层{rng.randint(1, 30):02d}室"
        created = now - timedelta(seconds=rng.randint(3600, 730 * 86400))
        owner = weighted(rng, self.owners, self.owner_weights)

        linkmans = []
        for i in range(weighted(rng, (1, 2, 3, 4), (35, 35, 20, 10))):
            gender = rng.choice(("男", "女"))
            person = rng.choice(pools.male if gender == "男" else pools.female)
            made = created if i == 0 else self.when(created, now)
            linkmans.append(
                {
                    "name": person,
                    "english_name": rng.choice(ENGLISH_NAMES) if rng.random() < 0.2 else None,
                    "position": POSITIONS[0] if i == 0 and rng.random() < 0.3 else rng.choice(POSITIONS),
                    "gender": gender,
                    "mobile": self.mobile(),
                    "phone": self.landline(phone_code) + (f"-{rng.randint(800, 8999)}" if rng.random() < 0.3 else "")
                    if rng.random() < 0.5
                    else None,
                    "email": f"{rng.choice(pools.user_names)}@{domain}" if rng.random() < 0.5 else None,
                    "notes": rng.choice((None, None, None, "决策人", "技术对接人", "负责付款审批", "喜欢微信沟通")),
                    "created_at": made,
                    "updated_at": made,
                    "version": 1,
                }
            )
        contact = linkmans[0]
        product = rng.choice(PRODUCTS)

        followups = []
        last_touch = created
        for _ in range(rng.randint(1, 5)):
            at = self.when(created, now)
            last_touch = max(last_touch, at)
            text = rng.choice(FOLLOWUP_TEMPLATES).format(
                contact=rng.choice(linkmans)["name"],
                product=rng.choice((product, rng.choice(PRODUCTS))),
                days=rng.choice((3, 7, 10, 15, 30)),
                discount=rng.choice((5, 8, 10, 15)),
            )
            followups.append(
                {
                    "type_id": rng.choice(self.followup_types),
                    "followed_at": at,
                    "content": text,
                    "user_id": owner,
                    "linkman": rng.randrange(len(linkmans)),
                    "next_follow_at": at + timedelta(days=rng.choice((3, 7, 14, 30))) if rng.random() < 0.4 else None,
                    "created_at": at,
                    "updated_at": at,
                }
            )

        appointments = []
        for _ in range(weighted(rng, (0, 1, 2), (35, 45, 20))):
            roll = rng.random()
            if roll < 0.55:  # in the past: mostly done, some still to do (= a due reminder)
                scheduled = self.when(max(created, now - timedelta(days=90)), now)
                status = weighted(rng, ("已完成", "待办", "已取消"), (60, 30, 10))
            else:  # coming up; reminders of the next few hours are already due
                scheduled = now + timedelta(minutes=rng.randint(30, 30 * 24 * 60))
                status = "待办"
            remind = scheduled - rng.choice(
                (
                    timedelta(minutes=15),
                    timedelta(minutes=30),
                    timedelta(hours=1),
                    timedelta(hours=2),
                    timedelta(days=1),
                    timedelta(days=2),
                )
            )
            made = min(now, max(created, remind - timedelta(hours=rng.randint(1, 96))))
            appointments.append(
                {
                    "scheduled_at": scheduled,
                    "remind_at": remind,
                    "type_id": rng.choice(self.appointment_types),
                    "content": rng.choice(APPOINTMENT_TEMPLATES).format(
                        contact=rng.choice(linkmans)["name"], product=product
                    ),
                    "user_id": owner,
                    "status": status,
                    "created_at": made,
                    "updated_at": made,
                }
            )

        contracts = []
        for _ in range(weighted(rng, (0, 1, 2, 3), (35, 35, 20, 10))):
            starts = created.date() + timedelta(days=rng.randint(0, max(0, (self.today - created.date()).days + 30)))
            months = rng.choice((3, 6, 12, 12, 12, 24, 36))
            ends = _add_months(starts, months) - timedelta(days=1)
            type_name, type_id = rng.choice(self.contract_types)
            cents = int(math.exp(rng.uniform(math.log(500_000), math.log(200_000_000))))
            if rng.random() < 0.7:
                cents = max(500_000, cents // 10_000 * 10_000)  # a round sum of hundreds
            self.contract_seq += 1
            number = f"HT-{starts.year}-{self.contract_seq:06d}"
            while number in self.taken_numbers:
                self.contract_seq += 1
                number = f"HT-{starts.year}-{self.contract_seq:06d}"
            self.taken_numbers.add(number)
            item = rng.choice((product, rng.choice(PRODUCTS)))
            title = {
                "服务合同": f"{starts.year}年度{item}技术服务合同",
                "框架协议": f"{starts.year}-{starts.year + 1}年度战略合作框架协议",
                "采购合同": f"{item}采购合同",
            }.get(type_name, f"{item}销售合同")
            recorded = datetime.combine(
                starts - timedelta(days=rng.randint(0, 10)), datetime.min.time(), UTC
            ) + timedelta(hours=rng.randint(1, 10))
            recorded = min(now, max(created, recorded))
            contracts.append(
                {
                    "type_id": type_id,
                    "number": number,
                    "name": title,
                    "starts_on": starts,
                    "ends_on": ends,
                    "amount": (Decimal(cents) / 100).quantize(CENT),
                    "content": f"{item}，服务期{months}个月。",
                    "recorded_at": recorded,
                    "linkman": rng.randrange(len(linkmans)),
                    "payment_plan": rng.choice(PAYMENT_PLANS),
                    "owner_id": owner,
                    "is_deleted": False,
                    "version": 1,
                    "created_at": recorded,
                    "updated_at": recorded,
                }
            )

        updated = max(last_touch, self.when(created, now) if rng.random() < 0.5 else created)
        client = {
            "name": name,
            "name_key": key,
            "uscc": self.uscc(division),
            "address": address,
            "phone": self.landline(phone_code) if rng.random() < 0.8 else contact["mobile"],
            "fax": self.landline(phone_code) if phone_code and rng.random() < 0.3 else None,
            "zip_code": f"{zip_prefix}{rng.randrange(1000):03d}" if zip_prefix else f"{rng.randint(100000, 860000)}",
            "website": f"www.{domain}" if rng.random() < 0.5 else None,
            "email": f"{rng.choice(('info', 'sales', 'contact', 'service', 'hr'))}@{domain}"
            if rng.random() < 0.6
            else None,
            "trade_id": trade_id,
            "area_id": area_id,
            "contact_name": contact["name"],
            "contact_gender": contact["gender"],
            "contact_position": contact["position"],
            "contact_mobile": contact["mobile"],
            "type_id": _maybe(rng, self.types),
            "star_id": _maybe(rng, self.stars),
            "source_id": _maybe(rng, self.sources),
            "main_business": rng.choice(businesses),
            "notes": rng.choice((None, None, None, "老客户介绍", "对价格敏感", "年底集中采购", "重点跟进")),
            "revenue_band_id": self.revenue[min(size_rank, len(self.revenue) - 1)] if self.revenue else None,
            "capital_band_id": _maybe(rng, self.capital),
            "size_id": self.sizes[size_rank] if self.sizes else None,
            "model_id": _maybe(rng, self.models),
            "satisfaction": rng.randint(1, 5) if rng.random() < 0.7 else None,
            "credit": rng.randint(1, 5) if rng.random() < 0.7 else None,
            "owner_id": owner,
            "created_at": created,
            "updated_at": updated,
            "is_deleted": False,
            "version": 1,
        }
        return _Plan(client, linkmans, followups, appointments, contracts)


def _maybe(rng: random.Random, ids: list[int]):
    return rng.choice(ids) if ids and rng.random() < 0.9 else None


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28))


# --------------------------------------------------------------------------- writing
def _write(plans: list[_Plan], counts: dict[str, int]) -> None:
    client_ids = bulk.insert(Client.__table__, [p.client for p in plans], ids=True)
    linkmans = []
    for plan, client_id in zip(plans, client_ids, strict=False):
        for row in plan.linkmans:
            row["client_id"] = client_id
            linkmans.append(row)
    linkman_ids = iter(bulk.insert(Linkman.__table__, linkmans, ids=True))
    followups, appointments, contracts = [], [], []
    for plan, client_id in zip(plans, client_ids, strict=False):
        ids = [next(linkman_ids) for _ in plan.linkmans]
        for row in plan.followups:
            row["linkman_id"] = ids[row.pop("linkman")]
            row["client_id"] = client_id
            followups.append(row)
        for row in plan.appointments:
            row["client_id"] = client_id
            appointments.append(row)
        for row in plan.contracts:
            row["linkman_id"] = ids[row.pop("linkman")]
            row["client_id"] = client_id
            contracts.append(row)
    for model, rows in ((FollowUp, followups), (Appointment, appointments), (Contract, contracts)):
        bulk.insert(model.__table__, rows)
    for name, n in (
        ("clients", len(client_ids)),
        ("linkmans", len(linkmans)),
        ("follow-ups", len(followups)),
        ("appointments", len(appointments)),
        ("contracts", len(contracts)),
    ):
        counts[name] = counts.get(name, 0) + n


def seed_clients(count: int, seed: int, batch_size: int = BATCH) -> dict[str, int]:
    """Add ``count`` demo clients with their contacts, follow-ups, appointments and
    contracts in the caller's transaction; returns the number of rows per table."""
    counts = {"clients": 0, "linkmans": 0, "follow-ups": 0, "appointments": 0, "contracts": 0}
    if count <= 0:
        return counts
    db.session.flush()  # pending ORM rows (the demo users) first: they own the clients
    generator = DemoClients(seed)
    with click.progressbar(length=count, label="Demo clients") as bar:
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            generator.batch(size, counts)
            done += size
            bar.update(size)
    return counts
