"""init_admin(app): the menu — every view registered in one place."""

from __future__ import annotations

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from models.audit import AuditLog
from models.auth import Department, LoginLog, Right, Role, SystemConfig, User
from models.customers import Appointment, Client, Contract, FollowUp, Linkman
from models.lookups import LOOKUPS

from .auth import AuditLogView, ConfigView, DepartmentView, LoginLogView, RightView, RoleView, UserView
from .client_children import AppointmentView, ContractView, FollowUpView, LinkmanView
from .customers import ClientView
from .dashboard import DashboardView
from .exports import MyExportsView
from .exports import init_app as init_exports
from .lookups import LookupView

SYSTEM = _l("System")
CUSTOMERS = _l("Customers")
LOOKUP_MENU = _l("Lookups")


#: the customer and system menus: view, model, menu name, endpoint, category (in menu order)
MENU = (
    (ClientView, Client, _l("Clients"), "client", CUSTOMERS),
    (LinkmanView, Linkman, _l("Contacts"), "linkman", CUSTOMERS),
    (FollowUpView, FollowUp, _l("Follow-ups"), "followup", CUSTOMERS),
    (AppointmentView, Appointment, _l("Appointments"), "appointment", CUSTOMERS),
    (ContractView, Contract, _l("Contracts"), "contract", CUSTOMERS),
    (UserView, User, _l("Users"), "user", SYSTEM),
    (DepartmentView, Department, _l("Departments"), "department", SYSTEM),
    (RoleView, Role, _l("Roles"), "role", SYSTEM),
    (RightView, Right, _l("Rights"), "right", SYSTEM),
    (ConfigView, SystemConfig, _l("System settings"), "config", SYSTEM),
    (LoginLogView, LoginLog, _l("Login log"), "login_log", SYSTEM),
    (AuditLogView, AuditLog, _l("Audit log"), "audit_log", SYSTEM),
)


def init_admin(app) -> Admin:
    """Build Admin inside the factory (fresh views per app, no blueprint clashes)."""
    admin = Admin(
        app,
        name=_l("CRM back office"),
        theme=Bootstrap4Theme(
            swatch=app.config["FLASK_ADMIN_SWATCH"], fluid=True, base_template="admin/crm/master.html"
        ),
        index_view=DashboardView(name=_l("Dashboard"), url="/admin"),
        # our admin.po supplements Flask-Admin's own catalog (it lacks a few flashes)
        translations_path=app.config["BABEL_TRANSLATION_DIRECTORIES"],
    )
    for view, model, name, endpoint, category in MENU:
        admin.add_view(view(model, name=name, endpoint=endpoint, category=category))
    from . import (
        churn,
        finance,
        marketing,
        opportunities,
        orders,
        products,
        purchase_payments,
        purchasing,
        reports,
        service,
        targets,
    )

    churn.register(admin)
    opportunities.register(admin)
    targets.register(admin)
    products.register(admin)
    orders.register(admin)
    finance.register(admin)
    purchasing.register(admin)
    purchase_payments.register(admin)
    service.register(admin)
    marketing.register(admin)
    reports.register(admin)
    from . import sla

    sla.register(admin)
    for endpoint, model in LOOKUPS.items():
        admin.add_view(LookupView(model, name=model.__label__, endpoint=endpoint, category=LOOKUP_MENU))
    admin.add_view(MyExportsView(name=_l("My exports"), endpoint="my_exports", url="exports"))
    init_exports(app)
    return admin
