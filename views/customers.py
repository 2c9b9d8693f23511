"""Customers views (SPEC §4.3): clients with inline contacts, follow-ups and appointments;
reassign, merge, duplicate guard. The child views (contacts, follow-ups, appointments,
contracts), each scoped through its client, are in views/client_children.py."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.form import rules
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import or_, select
from wtforms import BooleanField
from wtforms.validators import DataRequired, ValidationError

from models import db
from models.auth import Department, User, department_subtree_ids
from models.customers import (
    Appointment,
    Client,
    FollowUp,
    Linkman,
    delete_blockers,
    find_duplicates,
    flag_visible,
    merge_clients,
    reassign_clients,
)
from models.imports import FIELDS as CLIENT_FIELDS
from models.lookups import Area
from models.scope import users_in_scope_clause

from .crud import CrmModelView, LazyOptions, Section, crm_action, crm_page
from .helpers import db_int, parse_ids
from .imports import ClientImportMixin
from .reports import ClientStatementMixin


def client_tickets(client) -> list[tuple]:
    """The client's service tickets in the user's scope, newest first, with the labels of
    their state and priority."""
    from sqlalchemy.orm import joinedload

    from models.scope import scoped
    from models.service import PRIORITIES, TICKET, ServiceTicket

    query = (
        select(ServiceTicket)
        .where(ServiceTicket.client_id == client.id)
        .options(joinedload(ServiceTicket.type), joinedload(ServiceTicket.assigned_to))
        .order_by(ServiceTicket.id.desc())
    )
    tickets = db.session.execute(scoped(query, ServiceTicket, current_user)).scalars()
    priorities = dict(PRIORITIES)
    return [(t, TICKET.state_label(t.status), priorities.get(t.priority, t.priority)) for t in tickets]


class OwnerDepartmentFilter(sqla_filters.BaseSQLAFilter):
    """Owner's department, including its sub-departments."""

    def apply(self, query, value, alias=None):
        ids = department_subtree_ids(int(value))
        return query.filter(self.column.in_(select(User.id).where(User.department_id.in_(ids))))

    def operation(self):
        return _l("in (with sub-departments)")

    def validate(self, value):
        return db_int(value) is not None and int(value) >= 0


class AreaWithCitiesFilter(OwnerDepartmentFilter):
    """The client's area: a province with its cities (a report's province row)."""

    def apply(self, query, value, alias=None):
        cities = select(Area.id).where(Area.parent_id == int(value))
        return query.filter(or_(self.column == int(value), self.column.in_(cities)))

    def operation(self):
        return _l("in (with cities)")


def _areas():
    return [(str(a.id), a.name) for a in db.session.execute(select(Area).order_by(Area.sort_order, Area.id)).scalars()]


class ChurnStatusFilter(sqla_filters.FilterEqual):
    """Clients by churn status: a warning, delayed, confirmed lost, or none (EXISTS, no join)."""

    def apply(self, query, value, alias=None):
        from models.churn import churn_status_clause

        return query.filter(churn_status_clause(value))

    def validate(self, value):
        return value in CHURN_FILTER_VALUES


CHURN_FILTER_VALUES = ("warning", "delayed", "confirmed", "none")


def _churn_options():
    from models.churn import CHURN_STATUSES

    return [(key, str(text)) for key, text in CHURN_STATUSES] + [("none", gettext("None"))]


def _departments():
    return [
        (str(d.id), d.name)
        for d in db.session.execute(select(Department).order_by(Department.sort_order, Department.id)).scalars()
    ]


class DuplicateWarning(rules.BaseRule):
    """At the top of the client form: the similar clients found on save, with links, and
    the "save anyway" checkbox (shown only then). ``template`` for another form's list
    (the lead form adds the similar leads)."""

    def __init__(self, template="admin/crm/duplicates_box.html"):
        super().__init__()
        self.template = template

    @property
    def visible_fields(self):
        return ["save_anyway"]

    def __call__(self, form, form_opts=None, field_args=None):
        duplicates = g.get("crm_duplicates")
        if not duplicates and not g.get("crm_lead_duplicates"):
            return Markup("")
        return Markup(render_template(self.template, form=form, duplicates=duplicates))


#: the first section of the client form
COMPANY_FIELDS = ("name", "uscc", "area", "address", "phone", "fax", "zip_code", "website", "email")


class ClientView(ClientStatementMixin, ClientImportMixin, CrmModelView):
    column_list = ("name", "area", "type", "star", "owner", "contact_name", "contact_mobile", "updated_at")
    column_optional = ("phone", "trade", "source", "address", "email", "uscc", "created_at")
    # a related column sorts by the row's own key (rows of one area, type, star or owner
    # together): an index of clients walks it, a lookup's sort order or a name cannot be.
    # ``("area_id",)``, a tuple: Flask-Admin would file a plain "area_id" under that key,
    # not under the list column "area"
    column_sortable_list = (
        "name",
        ("area", ("area_id",)),
        ("type", ("type_id",)),
        ("star", ("star_id",)),
        ("owner", ("owner_id",)),
        "contact_name",
        "contact_mobile",
        "updated_at",
    )
    column_default_sort = ("updated_at", True)
    column_details_list = (*CLIENT_FIELDS, "created_at", "updated_at")
    column_export_list = column_details_list
    column_searchable_list = (
        "name",
        "uscc",
        "phone",
        "contact_name",
        "contact_mobile",
        "linkmans.name",
        "linkmans.mobile",
    )
    extra_labels = {"linkmans.name": _l("Contact name"), "linkmans.mobile": _l("Contact mobile")}
    editable_columns = ("star", "type")
    form_columns = (
        *COMPANY_FIELDS,
        "contact_name",
        "contact_gender",
        "contact_position",
        "contact_mobile",
        "trade",
        "type",
        "star",
        "source",
        "main_business",
        "revenue_band",
        "capital_band",
        "size",
        "model",
        "satisfaction",
        "credit",
        "owner",
        "notes",
        "save_anyway",
    )
    form_extra_fields = {
        "save_anyway": BooleanField(_l("Save anyway although similar clients exist")),
    }
    form_args = {"area": {"allow_blank": True, "validators": [DataRequired()]}}  # no silent default
    form_rules = (
        DuplicateWarning(),
        Section(_l("Company"), COMPANY_FIELDS),
        Section(_l("Main contact"), ("contact_name", "contact_mobile", "contact_gender", "contact_position")),
        Section(
            _l("Classification"),
            (
                "type",
                "star",
                "source",
                "trade",
                "size",
                "model",
                "revenue_band",
                "capital_band",
                "satisfaction",
                "credit",
                "main_business",
                "owner",
            ),
        ),
        Section(_l("Notes"), ("notes",), columns=1),
        Section(_l("Contacts, follow-ups and appointments"), ("linkmans", "followups", "appointments"), columns=1),
    )
    inline_models = (
        (
            Linkman,
            {"form_columns": ("id", "name", "english_name", "position", "gender", "mobile", "phone", "email", "notes")},
        ),
        (FollowUp, {"form_columns": ("id", "type", "followed_at", "content", "next_follow_at")}),
        (Appointment, {"form_columns": ("id", "type", "scheduled_at", "remind_at", "content", "status")}),
    )
    details_template = "admin/crm/churn_client_details.html"  # client_details.html + the churn records
    column_filters = (
        "type",
        "star",
        "source",
        "area",
        AreaWithCitiesFilter(Client.area_id, _l("Area"), options=LazyOptions(_areas, cached=Area)),
        "trade",
        "size",
        "revenue_band",
        "owner",
        OwnerDepartmentFilter(
            Client.owner_id, _l("Owner's department"), options=LazyOptions(_departments, cached=Department)
        ),
        ChurnStatusFilter(Client.id, _l("Churn status"), options=LazyOptions(_churn_options)),
        "created_at",
        "updated_at",
    )
    detail_eager = ("linkmans", "followups.user", "followups.type", "appointments.type", "contracts")

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template and self.holds("churn.view"):
            from models.churn import CHURN, ClientLoss

            records = db.session.execute(
                select(ClientLoss)
                .where(ClientLoss.client_id == model.id)
                .order_by(ClientLoss.detected_on.desc(), ClientLoss.id.desc())
            ).scalars()
            kwargs["churn_records"] = [(r, CHURN.state_label(r.status)) for r in records]
        if model is not None and template == self.details_template and self.holds("service.view"):
            kwargs["service_tickets"] = client_tickets(model)
        return super().render(template, **kwargs)

    # -- duplicate guard --------------------------------------------------------
    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        for row in list(model.followups) + list(model.appointments):
            if row.user_id is None and row.user is None:
                row.user_id = current_user.id
        mobiles = [model.contact_mobile] + [lm.mobile for lm in model.linkmans]
        with db.session.no_autoflush:
            matches = find_duplicates(model.name, model.uscc, mobiles, exclude_id=model.id)
        if matches and not form.save_anyway.data:
            g.crm_duplicates = flag_visible(matches, current_user)
            raise ValidationError(
                gettext(
                    "Similar clients already exist (listed above the form). Check them; to save "
                    'anyway, tick "Save anyway" and save again.'
                )
            )

    # -- delete guard -----------------------------------------------------------
    def delete_refusal(self, model):
        numbers = delete_blockers(model)
        if numbers:
            return gettext(
                "%(name)s has contracts or orders (%(numbers)s), so it cannot be deleted. "
                "Terminate, cancel or move them first.",
                name=model.name,
                numbers=", ".join(numbers),
            )
        return None

    # -- reassign ---------------------------------------------------------------
    @crm_action("reassign", _l("Reassign owner"), right="reassign")
    def action_reassign(self, ids):
        return redirect(url_for(".reassign_view", ids=",".join(ids)))

    def _selected(self, raw: str):
        ids = parse_ids(raw or "")
        return self._scoped_rows(ids, deleted=False) if ids else []

    def _assignable_users(self):
        """Active users in the actor's scope (SPEC §6): a department director hands clients
        only to people of the department subtree."""
        query = select(User).where(User.is_active.is_(True), User.live()).order_by(User.name)
        clause = users_in_scope_clause(current_user)
        return db.session.execute(query if clause is None else query.where(clause)).scalars().all()

    @expose("/reassign/", methods=("GET", "POST"))
    @crm_page(right="reassign")
    def reassign_view(self):
        clients = self._selected(request.values.get("ids", ""))
        users = self._assignable_users()
        if request.method == "POST":
            target = db.session.get(User, request.form.get("owner_id", type=int) or 0)
            source_id = request.form.get("from_owner_id", type=int)
            if target is None or target not in users:
                flash(gettext("New owner: choose an active user."), "error")
            else:
                if source_id:  # everything of one owner (e.g. an employee who leaves)
                    query = self._filtered(db.session.query(Client)).filter(Client.owner_id == source_id)
                    clients = query.all()
                changed = reassign_clients(clients, target, request.form.get("comment") or None)
                db.session.commit()
                flash(gettext("%(count)s clients now belong to %(name)s.", count=changed, name=target.name), "success")
                return redirect(url_for(".index_view"))
        return self.render(
            "admin/crm/client_reassign.html", clients=clients, users=users, ids=request.values.get("ids", "")
        )

    # -- merge ------------------------------------------------------------------
    @crm_action("merge", _l("Merge duplicates"), right="merge")
    def action_merge(self, ids):
        if len(ids) < 2:
            flash(gettext("Choose at least two different clients to merge."), "error")
            return redirect(url_for(".index_view"))
        return redirect(url_for(".merge_view", ids=",".join(ids)))

    @expose("/merge/", methods=("GET", "POST"))
    @crm_page(right="merge")
    def merge_view(self):
        clients = self._selected(request.values.get("ids", ""))
        if len(clients) < 2:
            flash(gettext("Choose at least two different clients to merge."), "error")
            return redirect(url_for(".index_view"))
        if request.method == "POST":
            keep_id = request.form.get("keep_id", type=int)
            keep = next((c for c in clients if c.id == keep_id), None)
            if keep is None:
                flash(gettext("Choose the client to keep."), "error")
            else:
                try:
                    moved = merge_clients(keep, [c for c in clients if c.id != keep.id])
                    db.session.commit()
                except Exception as exc:
                    db.session.rollback()
                    if not self.handle_view_exception(exc):
                        raise
                else:
                    flash(
                        gettext(
                            "Merged %(count)s clients into %(name)s; moved: %(moved)s.",
                            count=len(clients) - 1,
                            name=keep.name,
                            moved=", ".join(f"{t} {n}" for t, n in moved.items()) or "—",
                        ),
                        "success",
                    )
                    return redirect(url_for(".details_view", id=keep.id))
        return self.render("admin/crm/client_merge.html", clients=clients, ids=request.values.get("ids", ""))

    @crm_action("export_selected", _l("Export selected (CSV)"), right="export")
    def action_export_selected(self, ids):
        return redirect(url_for(".export", export_type="csv", flt_ids=",".join(ids)))

    def _only_selected(self, query):
        """On "export selected": only the chosen ids (scope still applies)."""
        selected = request.args.get("flt_ids") if request else None
        if selected and request.endpoint and request.endpoint.endswith(".export"):
            query = query.filter(Client.id.in_(parse_ids(selected)))
        return query

    def get_query(self):
        return self._only_selected(super().get_query())

    def get_count_query(self):
        return self._only_selected(super().get_count_query())
