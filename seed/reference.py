"""Reference data: the rights tree (codes fixed by the program), the seeded roles and
their matrix (SPEC §6), lookup values (§4.2). The settings (§4.1) and their defaults are declared in
models/settings.py."""

from __future__ import annotations

from reports.framework import role_report_rights
from reports.registry import REPORTS as DECLARED_REPORTS

OPS = {"V": "view", "C": "create", "E": "edit", "D": "delete", "X": "export"}
OP_TEXT = {
    "view": ("查看", "View"),
    "create": ("新增", "Create"),
    "edit": ("修改", "Edit"),
    "delete": ("删除", "Delete"),
    "export": ("导出", "Export"),
}

#: module code, Chinese, English, [(endpoint, Chinese, English, extra action rights[, operations])]
MODULES = [
    (
        "system",
        "权限管理",
        "System",
        [
            ("user", "公司员工", "Users", [("sensitive", "查看敏感信息", "View sensitive data")]),
            ("department", "公司部门", "Departments", []),
            ("role", "角色", "Roles", []),
            ("right", "菜单/权限", "Rights", []),
            ("config", "系统配置", "System settings", []),
            ("login_log", "用户登录日志", "Login log", []),
            ("audit_log", "审计日志", "Audit log", []),
        ],
    ),
    (
        "customers",
        "客户管理",
        "Customers",
        [
            (
                "client",
                "企业客户",
                "Clients",
                [
                    ("reassign", "转移跟单人", "Reassign owner"),
                    ("merge", "合并重复客户", "Merge duplicates"),
                    ("import", "导入客户", "Import clients"),
                ],
            ),
            ("linkman", "企业联系人", "Contacts", []),
            ("followup", "跟单记录", "Follow-ups", []),
            ("appointment", "预约记录", "Appointments", []),
            (
                "contract",
                "企业合同",
                "Contracts",
                [("submit", "提交审批", "Submit for approval"), ("approve", "审批", "Approve")],
            ),
            ("churn", "客户流失管理", "Churn warnings", [("confirm", "确认流失", "Confirm loss")]),
        ],
    ),
    (
        "sales",
        "营销管理",
        "Sales",
        [
            (
                "opportunity",
                "销售机会管理",
                "Opportunities",
                [("assign", "指派", "Assign"), ("reopen", "重新打开", "Reopen")],
            ),
            ("dev_plan", "客户开发计划", "Development plans", []),
            ("quote", "报价单", "Quotes", [("submit", "提交报价", "Submit"), ("approve", "审批折扣", "Approve")]),
            ("order", "订单", "Orders", [("ship", "发货", "Ship")]),
            ("sales_target", "销售计划", "Sales targets", []),
            ("weekly_report", "销售周报", "Weekly reports", [("review", "审阅周报", "Review")]),
        ],
    ),
    (
        "basic",
        "基本数据",
        "Basic data",
        [
            ("product", "产品信息", "Products", []),
            ("stock", "库存", "Stock", []),
        ],
    ),
    (
        "finance",
        "财务管理",
        "Finance",
        [
            ("receipt", "回款登记", "Receipts", [("confirm", "确认回款", "Confirm")]),
            ("invoice", "收入发票", "Invoices", [("void", "作废发票", "Void")]),
            ("supplier", "供应商", "Suppliers", []),
            (
                "purchase_request",
                "采购申请",
                "Purchase requests",
                [("submit", "提交审批", "Submit for approval"), ("approve", "审批", "Approve")],
            ),
            (
                "expense_contract",
                "支出合同",
                "Expense contracts",
                [("submit", "提交审批", "Submit for approval"), ("approve", "审批", "Approve")],
            ),
            ("payment", "采购付款", "Payments", [("approve", "审批付款", "Approve")]),
            ("purchase_invoice", "采购发票", "Purchase invoices", []),
        ],
    ),
    (
        "services",
        "服务管理",
        "Service",
        [("service", "客户服务", "Service tickets", [("assign", "分配服务", "Assign")])],
    ),
    (
        "marketing",
        "市场营销",
        "Marketing",
        [
            ("campaign", "市场活动", "Campaigns", []),
            (
                "lead",
                "营销线索",
                "Leads",
                [
                    ("convert", "转化线索", "Convert"),
                    ("assign", "分配客户经理", "Assign to account manager"),
                    ("import", "导入线索", "Import leads"),
                ],
            ),
            ("marketing_email", "营销邮件", "Marketing e-mails", []),
        ],
    ),
    (
        "reports",
        "统计报表",
        "Reports",
        [
            # one right report.<slug> per declared report (reports/registry.py)
            ("report", "报表", "Reports", [(r.slug, *r.right_text) for r in DECLARED_REPORTS], ()),
        ],
    ),
    (
        "sla",
        "服务时限",
        "SLA",
        [
            ("sla_policy", "服务时限策略", "SLA policies", []),
            ("sla_hours", "工作时间", "Working hours", []),
            ("sla_calendar", "节假日与调休", "Holidays and make-up days", []),
        ],
    ),
    (
        "lookups",
        "数据字典管理",
        "Lookups",
        [
            ("trade", "产品分类/行业", "Trades", []),
            ("followup_type", "跟单类型", "Follow-up types", []),
            ("client_type", "客户类型", "Client types", []),
            ("client_source", "客户来源", "Client sources", []),
            ("star_rating", "星级评定", "Star ratings", []),
            ("position", "职位", "Positions", []),
            ("contract_type", "合同类型", "Contract types", []),
            ("revenue_band", "年营业额", "Revenue bands", []),
            ("capital_band", "注册资金", "Capital bands", []),
            ("company_size", "企业规模", "Company sizes", []),
            ("business_model", "经营模式", "Business models", []),
            ("area", "所属地区", "Areas", []),
            ("appointment_type", "预约类型", "Appointment types", []),
            ("sales_stage", "销售阶段", "Sales stages", []),
            ("service_type", "服务类型", "Service types", []),
            ("payment_method", "回款方式", "Payment methods", []),
            ("invoice_type", "发票类型", "Invoice types", []),
            ("campaign_type", "活动类型", "Campaign types", []),
        ],
    ),
]

ADMIN_TABLES = ["user", "department", "role", "right", "config", "login_log", "audit_log"]
LOOKUP_TABLES = [menu[0] for menu in MODULES[-1][3]]
CUSTOMER_TABLES = ["client", "linkman", "followup", "appointment"]
MONEY_TABLES = ["receipt", "invoice"]
SALES_TABLES = ["opportunity", "dev_plan", "quote", "order", "weekly_report"]
PRODUCT_TABLES = ["product", "stock"]
SLA_TABLES = ["sla_policy", "sla_hours", "sla_calendar"]
PURCHASE_TABLES = ["supplier", "purchase_request", "expense_contract", "payment", "purchase_invoice"]
SERVICE_TABLES = ["service"]
MARKETING_TABLES = ["campaign", "lead", "marketing_email"]
MARKETING_ACTIONS = ["lead.convert", "lead.assign", "lead.import"]

#: every action right the modules declare (``client.merge``, ``payment.approve``, …)
ACTION_RIGHTS = [f"{entry[0]}.{action[0]}" for module in MODULES for entry in module[3] for action in entry[3]]

#: code, Chinese name, English name, data scope
ROLES = [
    ("admin", "系统管理员", "Administrator", "all"),
    ("executive", "高管", "Executive", "all"),
    ("sales_director", "销售主管", "Sales director", "department"),
    ("account_manager", "客户经理", "Account manager", "own"),
    ("clerk", "文员", "Back-office clerk", "department"),
    ("finance", "财务", "Finance", "all"),
    ("service", "客服专员", "Service agent", "department"),
    ("marketing", "市场专员", "Marketing", "department"),
]

#: role → [(endpoints, letters)] and extra codes — the seeded matrix of SPEC §6
MATRIX: dict[str, dict] = {
    "admin": {
        "grants": [
            (SERVICE_TABLES, "VCEDX"),
            (MARKETING_TABLES, "VCEDX"),
            (ADMIN_TABLES, "VCEDX"),
            (LOOKUP_TABLES, "VCEDX"),
            (CUSTOMER_TABLES, "VCEDX"),
            (["contract"], "VCEDX"),
            (MONEY_TABLES, "VCEDX"),
            (PURCHASE_TABLES, "VCEDX"),
            (SALES_TABLES, "VCEDX"),
            (["sales_target"], "VCEDX"),
            (PRODUCT_TABLES, "VCEDX"),
            (["churn"], "VCEDX"),
            (SLA_TABLES, "VCEDX"),
        ],
        "extra": ACTION_RIGHTS,
    },
    "executive": {
        "grants": [
            (SERVICE_TABLES, "VX"),
            (MARKETING_TABLES, "VX"),
            (["audit_log"], "V"),
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "VX"),
            (["contract"], "VX"),
            (MONEY_TABLES, "VX"),
            (PURCHASE_TABLES, "VX"),
            (SALES_TABLES, "VX"),
            (["sales_target"], "VX"),
            (PRODUCT_TABLES, "V"),
            (["churn"], "VX"),
        ],
        "extra": ["contract.approve"],
    },
    "sales_director": {
        "grants": [
            (SERVICE_TABLES, "V"),
            (MARKETING_TABLES, "V"),
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "VCEDX"),
            (["contract"], "VCEX"),
            (MONEY_TABLES, "V"),
            (PURCHASE_TABLES, "VC"),
            (SALES_TABLES, "VCEDX"),
            (["sales_target"], "VCEDX"),
            (PRODUCT_TABLES, "V"),
            (["churn"], "VCE"),
        ],
        "extra": [
            "opportunity.assign",
            "opportunity.reopen",
            "quote.submit",
            "quote.approve",
            "order.ship",
            "weekly_report.review",
            "churn.confirm",
            "client.reassign",
            "client.merge",
            "client.import",
            "contract.submit",
            "contract.approve",
            "purchase_request.submit",
            "purchase_request.approve",
            "expense_contract.submit",
        ],
    },
    "account_manager": {
        "grants": [
            (SERVICE_TABLES, "VC"),
            (MARKETING_TABLES, "V"),
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "VCE"),
            (["contract"], "VCE"),
            (MONEY_TABLES, "V"),
            (PURCHASE_TABLES, "VC"),
            (SALES_TABLES, "VCE"),
            (["sales_target"], "V"),
            (PRODUCT_TABLES, "V"),
            (["churn"], "VCE"),
        ],
        "extra": [
            "quote.submit",
            "order.ship",
            "churn.confirm",
            "contract.submit",
            "purchase_request.submit",
            "expense_contract.submit",
        ],
    },
    "clerk": {
        "grants": [
            (SERVICE_TABLES, "VC"),
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "VCE"),
            (["contract"], "V"),
            (SALES_TABLES, "V"),
            (["sales_target"], "V"),
            (PRODUCT_TABLES, "V"),
        ],
        "extra": ["client.import"],
    },
    "finance": {
        "grants": [
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "V"),
            (["contract"], "VX"),
            (MONEY_TABLES, "VCEDX"),
            (PURCHASE_TABLES, "VCEDX"),
            (SALES_TABLES, "V"),
            (["sales_target"], "V"),
            (PRODUCT_TABLES, "V"),
        ],
        "extra": [
            "receipt.confirm",
            "invoice.void",
            "purchase_request.approve",
            "expense_contract.submit",
            "expense_contract.approve",
            "payment.approve",
        ],
    },
    "service": {
        "grants": [
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "V"),
            (PRODUCT_TABLES, "V"),
            (SERVICE_TABLES, "VCEX"),
            (SLA_TABLES, "V"),
        ],
        "extra": ["service.assign"],
    },
    "marketing": {
        "grants": [
            (LOOKUP_TABLES, "V"),
            (CUSTOMER_TABLES, "V"),
            (SALES_TABLES, "V"),
            (["sales_target"], "V"),
            (PRODUCT_TABLES, "V"),
            (MARKETING_TABLES, "VCEDX"),
        ],
        "extra": MARKETING_ACTIONS,
    },
}


def role_codes(role: str) -> set[str]:
    """Every right code the seeded matrix gives ``role``."""
    spec = MATRIX.get(role, {})
    codes = {
        f"{endpoint}.{OPS[letter]}"
        for endpoints, letters in spec.get("grants", [])
        for endpoint in endpoints
        for letter in letters
    }
    return codes | set(spec.get("extra", [])) | set(role_report_rights(role, DECLARED_REPORTS))


LOOKUP_VALUES: dict[str, list] = {
    "trade": ["软件", "制造", "零售", "金融", "教育", "医疗", "物流", "建筑"],
    "followup_type": ["电话", "拜访", "邮件", "微信", "会议"],
    "client_type": ["潜在客户", "普通客户", "重要客户", "合作伙伴"],
    "client_source": ["网站", "展会", "转介绍", "电话营销", "广告"],
    "star_rating": ["一星", "二星", "三星", "四星", "五星"],
    "position": ["总经理", "经理", "主管", "专员"],
    "contract_type": ["销售合同", "服务合同", "框架协议", "采购合同"],
    "revenue_band": ["100万以下", "100-500万", "500-1000万", "1000万以上"],
    "capital_band": ["50万以下", "50-100万", "100-500万", "500万以上"],
    "company_size": ["1-49人", "50-199人", "200-999人", "1000人以上"],
    "business_model": ["生产型", "贸易型", "服务型", "政府或其他机构"],
    "appointment_type": ["拜访", "电话回访", "会议"],
    "sales_stage": [("初步接洽", 10), ("需求确认", 30), ("方案报价", 50), ("谈判审核", 80)],
    "service_type": ["咨询", "建议", "投诉", "售后"],
    "payment_method": ["银行转账", "现金", "支票", "承兑汇票"],
    "invoice_type": ["增值税专用发票", "增值税普通发票", "数电发票"],
    "campaign_type": ["展会", "研讨会", "线上推广", "电话营销"],
    # province → cities
    "area": [
        ("北京", ["北京"]),
        ("上海", ["上海"]),
        ("天津", ["天津"]),
        ("重庆", ["重庆"]),
        ("广东", ["广州", "深圳", "东莞", "佛山"]),
        ("浙江", ["杭州", "宁波", "温州"]),
        ("江苏", ["南京", "苏州", "无锡"]),
        ("四川", ["成都", "绵阳"]),
        ("湖北", ["武汉", "宜昌"]),
        ("山东", ["济南", "青岛", "烟台"]),
        ("福建", ["福州", "厦门"]),
        ("陕西", ["西安"]),
    ],
}

#: the demo organisation: (name, parent)
DEMO_DEPARTMENTS = [
    ("总经理办公室", None),
    ("销售部", None),
    ("销售一部", "销售部"),
    ("销售二部", "销售部"),
    ("华南销售部", "销售部"),
    ("财务部", None),
    ("客服部", None),
    ("市场部", None),
    ("行政部", None),
]

#: role → [(department, how many)] for seed-demo
DEMO_STAFF = {
    "executive": [("总经理办公室", 2)],
    "sales_director": [("销售部", 1), ("销售一部", 1), ("销售二部", 1), ("华南销售部", 1)],
    "account_manager": [("销售一部", 4), ("销售二部", 4), ("华南销售部", 3)],
    "clerk": [("销售一部", 1), ("销售二部", 1), ("行政部", 1)],
    "finance": [("财务部", 3)],
    "service": [("客服部", 3)],
    "marketing": [("市场部", 2)],
    "admin": [("行政部", 1)],
}
