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
    admin.add_view(ClientView(Client, name=_l("Clients"), endpoint="client", category=CUSTOMERS))
    admin.add_view(LinkmanView(Linkman, name=_l("Contacts"), endpoint="linkman", category=CUSTOMERS))
    admin.add_view(FollowUpView(FollowUp, name=_l("Follow-ups"), endpoint="followup", category=CUSTOMERS))
    admin.add_view(AppointmentView(Appointment, name=_l("Appointments"), endpoint="appointment", category=CUSTOMERS))
    admin.add_view(ContractView(Contract, name=_l("Contracts"), endpoint="contract", category=CUSTOMERS))
    admin.add_view(UserView(User, name=_l("Users"), endpoint="user", category=SYSTEM))
    admin.add_view(DepartmentView(Department, name=_l("Departments"), endpoint="department", category=SYSTEM))
    admin.add_view(RoleView(Role, name=_l("Roles"), endpoint="role", category=SYSTEM))
    admin.add_view(RightView(Right, name=_l("Rights"), endpoint="right", category=SYSTEM))
    admin.add_view(ConfigView(SystemConfig, name=_l("System settings"), endpoint="config", category=SYSTEM))
    admin.add_view(LoginLogView(LoginLog, name=_l("Login log"), endpoint="login_log", category=SYSTEM))
    admin.add_view(AuditLogView(AuditLog, name=_l("Audit log"), endpoint="audit_log", category=SYSTEM))
    from . import churn, finance, opportunities, orders, products, purchase_payments, purchasing, reports, targets

    churn.register(admin)
    opportunities.register(admin)
    targets.register(admin)
    products.register(admin)
    orders.register(admin)
    finance.register(admin)
    purchasing.register(admin)
    purchase_payments.register(admin)
    reports.register(admin)
    for endpoint, model in LOOKUPS.items():
        admin.add_view(LookupView(model, name=model.__label__, endpoint=endpoint, category=LOOKUP_MENU))
    admin.add_view(MyExportsView(name=_l("My exports"), endpoint="my_exports", url="exports"))
    init_exports(app)
    return admin
