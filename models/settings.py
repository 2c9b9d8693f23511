"""Typed accessors of ``system_config``, each setting declared once.

:data:`SETTINGS` is the one table of the settings (name, type, default, description):
``seed-reference`` writes its rows, and every reader calls a setting's declaration —
``settings.timezone()``, ``settings.churn_days()``, … — instead of parsing the stored
text itself. A value that is missing, empty or cannot be read as its type (a typo in the
settings page) gives the declared default, never an error page.

Values are read from the database at every call (a change on the settings page holds at
once, in requests and in the CLI alike); the clock keeps the time zone for one request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo


def _text(raw: str) -> str:
    return raw


def _zone_name(raw: str) -> str:
    ZoneInfo(raw)  # raises for an unknown or malformed name
    return raw


def _whole(minimum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        return value if minimum is None else max(minimum, value)

    return parse


def _positive_number(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):  # also NaN
        raise ValueError(raw)
    return value


def _decimal(raw: str) -> Decimal:
    value = Decimal(raw)
    if not value.is_finite():  # "NaN" and "Infinity" parse, but compare with an error
        raise ValueError(raw)
    return value


@dataclass(frozen=True)
class Setting:
    """One row of ``system_config``: ``parse`` turns the stored text into the typed value
    (raising ValueError, ArithmeticError or LookupError for a bad one)."""

    name: str
    parse: Callable[[str], Any]
    default: str
    description: str
    #: what is wrong with a value an admin saves (a message), or None: a setting with a
    #: ``problem`` refuses a bad value on the settings page instead of reading the default
    problem: Callable[[str], Any] | None = None

    def read(self, raw: str | None):
        """The typed value of the stored text ``raw``; the default's when it is unusable."""
        text = str(raw).strip() if raw is not None else ""
        if text:
            try:
                return self.parse(text)
            except (ValueError, ArithmeticError, LookupError, TypeError):
                pass
        return self.parse(self.default)

    def __call__(self):
        """The current typed value (one query, or none when the request read it with its
        user, see :data:`READ_WITH_USER`): ``settings.churn_days()``."""
        from .auth import SystemConfig
        from .sessions import request_extra

        extras_key = f"setting:{self.name}"
        if request_extra(extras_key, _UNREAD) is not _UNREAD:
            return self.read(request_extra(extras_key))
        return self.read(SystemConfig.get(self.name))

    def clause(self):
        """The stored text as a scalar sub-query (to read it inside another SELECT)."""
        from sqlalchemy import select

        from .auth import SystemConfig

        return select(SystemConfig.value).where(SystemConfig.name == self.name).scalar_subquery()


_UNREAD = object()


# the settings, in the order the seed writes them; each declaration is its own accessor
company_name = Setting("company_name", _text, "草莓客户关系管理系统", "公司名称 / Company name")
#: printed on every document (reports/printing.py)
company_address = Setting("company_address", _text, "", "公司地址（打印单据） / Company address (printed documents)")
company_phone = Setting("company_phone", _text, "", "公司电话（打印单据） / Company phone (printed documents)")
#: a PNG or JPEG drawn at the top left of every printed document: the id of an uploaded file
#: (stored_file, models/uploads.py) or a path (relative to the instance folder); empty: none
company_logo = Setting(
    "company_logo",
    _text,
    "",
    "公司标志（打印单据：上传文件编号或图片路径） / Company logo (printed documents: file id or image path)",
)
currency = Setting("currency", _text, "CNY", "币种 / Currency")
#: the display time zone's IANA name (see models/clock.py)
timezone = Setting("timezone", _zone_name, "Asia/Shanghai", "显示时区 / Display time zone")
#: the tax rate (%) a new invoice starts with
default_tax_rate = Setting("default_tax_rate", _whole(), "13", "默认税率(%) / Default tax rate (%)")
#: days without an order before a churn warning (at least 1)
churn_days = Setting(
    "churn_days", _whole(minimum=1), "180", "多少天未下单视为流失预警 / Days without an order before a churn warning"
)
#: the upload size limit in MB (0 or less counts as unset)
upload_max_mb = Setting("upload_max_mb", _positive_number, "10", "上传文件大小上限(MB) / Upload size limit (MB)")
#: contracts above this amount need an executive's second approval (0 = off)
contract_approval_threshold = Setting(
    "contract_approval_threshold",
    _decimal,
    "0",
    "超过此金额的合同需高管二次审批, 0=关闭 / Contracts above this amount need an executive's "
    "second approval (0 = off)",
)
#: quotes with a discount (%) above this need approval
discount_threshold = Setting(
    "quote_discount_approval_pct",
    _decimal,
    "10",
    "折扣超过此百分比的报价需审批 / Quotes with a larger discount (%) need approval",
)
#: a list export of more rows than this runs as a background job ("My exports"); fewer stream at once
export_sync_rows = Setting(
    "export_sync_rows",
    _whole(minimum=0),
    "10000",
    "导出超过此行数时在后台生成(我的导出) / Exports of more rows than this are prepared in the background (My exports)",
)

#: rows above this count are not counted on a list page ("1–20 of 10,000+"; the exact
#: count is one click away); at least 100
list_count_cap = Setting(
    "list_count_cap", _whole(minimum=100), "10000", "列表计数上限 / Lists count rows up to this number"
)

#: rows a paged report page shows (the receivables report); its totals and downloads cover all rows
report_page_rows = Setting(
    "report_page_rows",
    _whole(minimum=1),
    "50",
    "报表每页行数(合计与下载包含全部行) / Rows a report page shows (its totals and downloads cover every row)",
)

#: how a ticket is assigned when the assign form leaves the person empty (models/assignment.py)
ASSIGNMENT_STRATEGIES = ("manual", "round_robin", "least_busy")


def _assignment(raw: str) -> str:
    if raw not in ASSIGNMENT_STRATEGIES:
        raise ValueError(raw)
    return raw


service_assignment = Setting(
    "service_assignment",
    _assignment,
    "manual",
    "服务单分配方式: manual=手动, round_robin=轮流, least_busy=最空闲 / Ticket assignment: manual, "
    "round_robin (the one assigned longest ago) or least_busy (fewest open tickets)",
)

#: days a customer-feedback link stays valid (models/feedback.py)
feedback_link_days = Setting(
    "feedback_link_days", _whole(minimum=1), "14", "满意度反馈链接有效天数 / Days a feedback link stays valid"
)


def _pattern_problem(raw: str):
    from .numbering import pattern_problem

    return pattern_problem(raw)


def _pattern(raw: str) -> str:
    if _pattern_problem(raw) is not None:
        raise ValueError(raw)
    return raw


#: whom marketing may choose as recipients of an e-mail (models/marketing_send.py): every
#: live client and lead (``all``) or only those in the user's data scope (``scope``)
RECIPIENT_SCOPES = ("all", "scope")


def _recipient_scope(raw: str) -> str:
    if raw not in RECIPIENT_SCOPES:
        raise ValueError(raw)
    return raw


def number_pattern(document: str, default: str, chinese: str, english: str) -> Setting:
    """The number pattern of one document type (models/numbering.py), e.g. ``HT{yyyy}{seq:05}``."""
    return Setting(
        f"number_pattern_{document}",
        _pattern,
        default,
        f"{chinese}编号规则: {{yyyy}}{{yy}}{{mm}}{{dd}}=日期, {{seq:05}}=5位流水号 / {english} number pattern: "
        "{yyyy} {yy} {mm} {dd} = the date, {seq:05} = a 5-digit serial",
        _pattern_problem,
    )


#: the number pattern of each numbered document, by its table (models/numbering.py);
#: the defaults keep the numbers the documents had before the patterns were settings
NUMBER_PATTERNS: dict[str, Setting] = {
    "contract": number_pattern("contract", "HT{yyyy}{seq:05}", "合同", "Contract"),
    "receipt": number_pattern("receipt", "HK{yyyy}{mm}{dd}-{seq:03}", "回款", "Receipt"),
    "invoice": number_pattern("invoice", "FP{yyyy}{mm}{dd}-{seq:03}", "发票登记", "Invoice register"),
    "quote": number_pattern("quote", "BJ{yyyy}{mm}{dd}-{seq:03}", "报价单", "Quote"),
    "orders": number_pattern("order", "DD{yyyy}{mm}{dd}-{seq:03}", "订单", "Order"),
    "purchase_request": number_pattern("purchase_request", "CG{yyyy}{mm}{dd}-{seq:03}", "采购申请", "Purchase request"),
    "expense_contract": number_pattern("expense_contract", "ZC{yyyy}{mm}{dd}-{seq:03}", "支出合同", "Expense contract"),
}
marketing_recipient_scope = Setting(
    "marketing_recipient_scope",
    _recipient_scope,
    "all",
    "营销邮件收件人范围: all=全部有效客户和线索(范围外只显示公司、联系人、邮箱), scope=仅数据权限内 / "
    "Marketing e-mail recipients: all live clients and leads (outside the scope only company, contact and "
    "address are shown) or scope (only the user's data scope)",
)

#: settings every page reads: fetched with the request's user (models.sessions.REQUEST_EXTRAS)
READ_WITH_USER = (timezone, list_count_cap)

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        company_name,
        company_address,
        company_phone,
        company_logo,
        currency,
        timezone,
        default_tax_rate,
        churn_days,
        upload_max_mb,
        contract_approval_threshold,
        discount_threshold,
        export_sync_rows,
        list_count_cap,
        report_page_rows,
        service_assignment,
        feedback_link_days,
        *NUMBER_PATTERNS.values(),
        marketing_recipient_scope,
    )
}


def seed_rows() -> list[tuple[str, str, str]]:
    """(name, default, description) of every setting, as ``seed-reference`` stores them."""
    return [(s.name, s.default, s.description) for s in SETTINGS.values()]


def get(name: str):
    """The typed value of the setting ``name`` (a KeyError for an undeclared one)."""
    return SETTINGS[name]()
