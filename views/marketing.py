"""Marketing views (市场营销, SPEC §4.7): campaigns with their leads and e-mails on the
details page; leads with filters, search, the duplicate guard, the import, the workflow
steps (contact, qualify, disqualify), bulk assignment to an account manager and the
one-step conversion. The rules are in models/marketing.py; this module declares screens
and turns user intent into its calls."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import BooleanField
from wtforms.validators import ValidationError

from models import db
from models.auth import User
from models.customers import flag_visible
from models.lookups import Area, SalesStage
from models.marketing import (
    CAMPAIGN_STATUSES,
    LEAD,
    LEAD_STATUSES,
    OPEN_LEAD,
    Campaign,
    Lead,
    account_manager_clause,
    assign_leads,
    convert,
    find_lead_duplicates,
    lead_client_duplicates,
)
from models.marketing_mail import MarketingEmail
from models.scope import in_scope, scoped

from .crud import CrmModelView, Section, crm_action, crm_page, record_link, status_filter
from .customers import DuplicateWarning
from .helpers import db_int, parse_ids
from .imports import ImportMixin
from .reports import CampaignEffectMixin
from .workflow import WorkflowMixin

MARKETING = _l("Marketing")


def _budget_left(view, context, model, name):
    """Budget minus actual cost (negative: over budget)."""
    if model.budget is None:
        return ""
    from models.base import format_money

    return format_money(model.budget - (model.actual_cost or 0))


class CampaignView(CampaignEffectMixin, WorkflowMixin, CrmModelView):
    """市场活动: planned → running → finished; its leads and e-mails on the details page;
    the *effect report* (PDF/XLSX) of chosen campaigns."""

    column_list = ("name", "type", "status", "starts_on", "ends_on", "location", "budget", "actual_cost", "owner")
    column_sortable_list = ("name", "starts_on", "ends_on")  # status: a filter (its index leads with it)
    column_default_sort = ("starts_on", True)
    column_searchable_list = ("name", "location")
    column_details_list = (*column_list, "budget_left", "description", "created_at", "updated_at")
    column_export_list = column_list
    extra_labels = {"budget_left": _l("Budget left")}
    column_formatters_detail = {"budget_left": _budget_left}
    column_filters = (status_filter(Campaign.status, CAMPAIGN_STATUSES), "type", "owner", "starts_on", "ends_on")
    form_columns = ("name", "type", "starts_on", "ends_on", "location", "budget", "actual_cost", "owner", "description")
    form_rules = (
        Section(_l("Campaign"), ("name", "type", "starts_on", "ends_on", "location", "owner")),
        Section(_l("Budget and actual cost"), ("budget", "actual_cost")),
        Section(_l("Description"), ("description",), columns=1),
    )
    list_eager = ("type", "owner")
    details_template = "admin/crm/campaign_details.html"

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template:
            kwargs["campaign_leads"] = self._children(Lead, model, Lead.created_at.desc(), "lead.view")
            kwargs["campaign_emails"] = self._children(
                MarketingEmail, model, MarketingEmail.created_at.desc(), "marketing_email.view"
            )
            kwargs["lead_states"] = dict(LEAD_STATUSES)
        return super().render(template, **kwargs)

    def _children(self, model, campaign, order, right, limit=200):
        """The campaign's rows of ``model`` in the user's scope (the first ``limit``)."""
        if not self.holds(right):
            return None
        query = select(model).where(model.campaign_id == campaign.id)
        if hasattr(model, "live"):
            query = query.where(model.live())
        return db.session.execute(scoped(query, model, current_user).order_by(order).limit(limit)).scalars().all()


class LeadView(ImportMixin, WorkflowMixin, CrmModelView):
    """营销线索: imported or entered, worked on, handed to an account manager, converted."""

    import_kind = "leads"
    column_list = ("company_name", "contact_name", "mobile", "campaign", "status", "assigned_to", "created_at")
    column_optional = ("email", "source", "owner", "converted_at")
    column_sortable_list = ("company_name", "contact_name", "created_at")
    column_default_sort = ("created_at", True)
    column_searchable_list = ("company_name", "contact_name", "mobile", "email")
    column_details_list = (
        "company_name",
        "contact_name",
        "mobile",
        "email",
        "campaign",
        "source",
        "status",
        "assigned_to",
        "created_at",
        "owner",
        "uscc",
        "notes",
        "disqualified_reason",
        "converted_client",
        "converted_linkman",
        "converted_opportunity",
        "converted_by",
        "converted_at",
        "updated_at",
    )
    column_export_list = column_details_list[:-1]
    column_formatters = {
        "campaign": record_link("campaign"),
        "converted_client": record_link("converted_client"),
        "converted_opportunity": record_link("converted_opportunity"),
    }
    column_formatters_export: dict = {}
    column_filters = (
        "campaign",
        status_filter(Lead.status, LEAD_STATUSES),
        "source",
        "owner",
        "assigned_to",
        "created_at",
    )
    form_columns = (
        "campaign",
        "company_name",
        "uscc",
        "contact_name",
        "mobile",
        "email",
        "source",
        "owner",
        "notes",
        "save_anyway",
    )
    form_extra_fields = {"save_anyway": BooleanField(_l("Save anyway although similar clients exist"))}
    form_rules = (
        DuplicateWarning("admin/crm/lead_duplicates_box.html"),
        Section(_l("Lead"), ("campaign", "company_name", "uscc", "contact_name", "mobile", "email", "source", "owner")),
        Section(_l("Notes"), ("notes",), columns=1),
    )
    form_ajax_refs = {"campaign": {"fields": ["name"], "page_size": 10}}
    prefill = {"campaign": "campaign_id"}
    list_eager = ("campaign", "source", "assigned_to")
    details_template = "admin/crm/lead_details.html"

    # -- duplicate guard --------------------------------------------------------
    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        with db.session.no_autoflush:
            clients = lead_client_duplicates(model)
            leads = find_lead_duplicates(model.company_name, model.uscc, model.mobile, model.email, model.id)
        if (clients or leads) and not form.save_anyway.data:
            g.crm_duplicates = flag_visible(clients, current_user)
            g.crm_lead_duplicates = [(lead, reasons, in_scope(lead, current_user)) for lead, reasons in leads]
            raise ValidationError(
                gettext(
                    "Similar clients or leads already exist (listed above the form). Check them; to save "
                    'anyway, tick "Save anyway" and save again.'
                )
            )

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template:
            kwargs["may_convert"] = model.status in OPEN_LEAD and self.allowed("convert")
        return super().render(template, **kwargs)

    # -- bulk assignment -----------------------------------------------------------
    @crm_action("assign_manager", _l("Assign to account manager"), right="assign")
    def action_assign_manager(self, ids):
        return redirect(url_for(".assign_view", ids=",".join(ids)))

    @expose("/assign/", methods=("GET", "POST"))
    @crm_page(right="assign")
    def assign_view(self):
        raw = request.values.get("ids", "")
        leads = self._scoped_rows(parse_ids(raw), deleted=False) if parse_ids(raw) else []
        managers = db.session.execute(select(User).where(account_manager_clause()).order_by(User.name)).scalars().all()
        if request.method == "POST":
            manager = next((u for u in managers if u.id == request.form.get("manager_id", type=int)), None)
            if manager is None:
                flash(gettext("Account manager: choose an active account manager."), "error")
            else:
                done, refused = assign_leads(leads, manager)
                db.session.commit()
                for reason in refused:
                    flash(reason, "error")
                flash(
                    gettext(
                        "%(action)s: %(done)s done, %(refused)s refused.",
                        action=gettext("Assign to account manager"),
                        done=done,
                        refused=len(refused),
                    ),
                    "warning" if refused else "success",
                )
                return redirect(url_for(".index_view"))
        return self.render("admin/crm/lead_assign.html", leads=leads, managers=managers, ids=raw)

    # -- conversion ----------------------------------------------------------------
    @expose("/convert/", methods=("GET", "POST"))
    @crm_page(right="convert")
    def convert_view(self):
        rows = self._scoped_rows([db_int(request.values.get("id")) or 0], deleted=False)
        if not rows:
            return self.render("admin/crm/lead_convert.html", lead=None), 404
        lead = rows[0]
        matches = flag_visible(lead_client_duplicates(lead), current_user) if lead.status in OPEN_LEAD else []
        if request.method == "POST":
            chosen = db_int(request.form.get("client_id"))
            client = next((c for c, _, visible in matches if visible and c.id == chosen), None) if chosen else None
            try:
                made, _, opportunity = convert(
                    lead,
                    current_user,
                    client,
                    area_id=db_int(request.form.get("area_id")),
                    address=request.form.get("address", "").strip() or None,
                    phone=request.form.get("phone", "").strip() or None,
                    title=request.form.get("title", "").strip() or None,
                    stage_id=db_int(request.form.get("stage_id")),
                    save_anyway=bool(request.form.get("save_anyway")),
                )
                db.session.commit()
            except ValueError as exc:  # ConversionError, or a field rule (FieldError)
                db.session.rollback()
                flash(str(exc), "error")
                lead = db.session.get(Lead, lead.id)
            else:
                flash(
                    gettext(
                        "%(lead)s converted: client %(client)s, opportunity %(opportunity)s.",
                        lead=str(lead),
                        client=made.name,
                        opportunity=opportunity.title,
                    ),
                    "success",
                )
                return redirect(url_for(".details_view", id=lead.id))
        return self.render(
            "admin/crm/lead_convert.html",
            lead=lead,
            state=LEAD.state_label(lead.status),
            matches=matches,
            areas=db.session.execute(select(Area).order_by(Area.sort_order, Area.id)).scalars().all(),
            stages=db.session.execute(
                select(SalesStage).where(SalesStage.is_active.is_(True)).order_by(SalesStage.sort_order)
            ).scalars(),
            form_values=request.form,
        )


class MarketingEmailView(CrmModelView):
    """营销邮件: the drafts (sending comes with the mail work; only the table for now)."""

    column_list = ("subject", "campaign", "status", "recipient_count", "sent_count", "owner", "created_at")
    column_sortable_list = ("status", "created_at")
    column_default_sort = ("created_at", True)
    column_searchable_list = ("subject",)
    column_filters = ("campaign", "status", "owner", "created_at")
    form_columns = ("campaign", "subject", "body", "owner")
    form_ajax_refs = {"campaign": {"fields": ["name"], "page_size": 10}}
    prefill = {"campaign": "campaign_id"}
    list_eager = ("campaign", "owner")


def register(admin) -> None:
    """Add campaigns, leads and e-mails to the menu (市场营销 / Marketing)."""
    admin.add_view(CampaignView(Campaign, name=_l("Campaigns"), endpoint="campaign", category=MARKETING))
    admin.add_view(LeadView(Lead, name=_l("Leads"), endpoint="lead", category=MARKETING))
    admin.add_view(
        MarketingEmailView(MarketingEmail, name=_l("Marketing e-mails"), endpoint="marketing_email", category=MARKETING)
    )
