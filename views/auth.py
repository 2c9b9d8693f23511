"""Views of the organisation and security tables (SPEC §4.1)."""

from __future__ import annotations

from flask import request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import PasswordField, validators

from models import db
from models.auth import User, grant_rights, rights_tree

from .crud import CrmModelView, mask_value, model_for_table
from .helpers import columns_but, viewer_language
from .login import begin_session
from .lookups import OrderedNamesView


class DepartmentView(OrderedNamesView):
    column_list = ("name", "parent", "sort_order", "updated_at")
    column_filters = ("parent",)
    form_columns = ("name", "parent", "sort_order")


class UserView(CrmModelView):
    column_details_list = (
        "username",
        "name",
        "department",
        "role",
        "position",
        "mobile",
        "email",
        "gender",
        "address",
        "birthday",
        "id_card",
        "hired_on",
        "is_active",
        "absent",
        "client_count",
        "last_login_at",
        "locked_until",
        "locale",
        "created_at",
        "updated_at",
    )
    column_list = (*column_details_list[:6], "is_active", "client_count", "last_login_at")  # username … mobile
    column_optional = ("email", "gender", "hired_on", "id_card", "locale")  # the ID card stays masked
    column_export_list = column_details_list
    column_searchable_list = ("username", "name", "mobile")
    column_filters = ("department", "role", "is_active", "hired_on", "last_login_at")
    column_sortable_list = (
        "username",
        "name",
        "last_login_at",
        ("department", "department.name"),
        ("role", "role.name"),
    )
    column_default_sort = ("username", False)
    extra_labels = {"client_count": _l("Number of clients")}
    form_columns = (
        "username",
        "name",
        "new_password",
        *columns_but(
            column_details_list[2:], "client_count", "last_login_at", "locked_until", "created_at", "updated_at"
        ),
    )
    form_extra_fields = {
        "new_password": PasswordField(
            _l("Password"),
            description=_l("At least 8 characters. Leave empty to keep the current password."),
            validators=[validators.Optional(), validators.Length(min=8)],
        ),
    }
    form_choices = {"locale": [("", "—"), ("zh_CN", "中文"), ("en", "English")]}
    list_eager = ("client_count",)

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.new_password.validators = [validators.InputRequired(), validators.Length(min=8)]
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and request.method == "GET":  # masked unless the viewer holds its sensitive right
            form.id_card.data = mask_value(User, "id_card", obj.id_card) if obj.id_card else ""
        return form

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if form.new_password.data:
            model.set_password(form.new_password.data)  # ends every session of that user
            if model.id == current_user.id:  # an admin resetting their own: this session goes on
                begin_session(model)
        if "*" in (model.id_card or ""):  # the masked value came back unchanged
            db.session.refresh(model, ["id_card"]) if not is_created else None

    def delete_refusal(self, model):
        if model.id == current_user.id:
            return gettext("You cannot delete your own account.")
        return None


def _role_description(view, context, model, name):
    from seed.reference import ROLES

    return viewer_language(model.description, {en: zh for _code, zh, en, _scope in ROLES})


def _setting_description(view, context, model, name):
    return viewer_language(model.description)


class RoleView(CrmModelView):
    column_list = ("code", "name", "data_scope", "is_active", "description")
    column_formatters = {"description": _role_description}
    column_searchable_list = ("code", "name")
    column_filters = ("data_scope", "is_active")
    column_default_sort = ("id", False)
    form_columns = ("code", "name", "description", "is_active", "data_scope")
    edit_template = "admin/crm/role_edit.html"
    create_template = "admin/crm/role_edit.html"

    def render(self, template, **kwargs):
        if template == self.edit_template:
            model = kwargs.get("model")
            if request.method == "POST":
                held = {int(i) for i in request.form.getlist("rights") if i.isdigit()}
            else:
                held = {r.id for r in model.rights} if model is not None else set()
            kwargs["rights_tree"] = rights_tree()
            kwargs["held_rights"] = held
        return super().render(template, **kwargs)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if "rights_submitted" in request.form:
            grant_rights(model, (int(i) for i in request.form.getlist("rights") if i.isdigit()))


class RightView(CrmModelView):
    column_list = ("code", "type", "text", "text_en", "parent_code", "endpoint", "sort_order")
    column_searchable_list = ("code", "text", "text_en")
    column_filters = ("type", "parent_code")
    column_default_sort = ("sort_order", False)
    form_columns = ("text", "text_en", "tip", "sort_order")
    form_widget_args = {"code": {"readonly": True}}
    disabled_operations = ("create", "delete")  # codes are fixed by the program


class LoginLogView(CrmModelView):
    column_list = ("logged_at", "username", "user", "ip", "success", "outcome", "user_agent")
    column_searchable_list = ("username", "ip")
    column_filters = ("success", "outcome", "logged_at", "ip", "username")
    column_default_sort = ("logged_at", True)
    disabled_operations = ("create", "edit", "delete")


class ConfigView(CrmModelView):
    column_list = ("name", "value", "description")
    column_formatters = {"description": _setting_description}
    column_searchable_list = ("name", "description")
    column_default_sort = ("name", False)
    form_columns = ("name", "value", "description")


class AuditLogView(CrmModelView):
    column_list = ("at", "user", "ip", "table_name", "record_id", "action", "changes", "comment")
    column_searchable_list = ("table_name", "action", "comment")
    column_filters = ("at", "table_name", "record_id", "action", "user")
    column_default_sort = ("at", True)
    disabled_operations = ("create", "edit", "delete")

    def _changes(self, context, model, name):
        if not model.changes:
            return ""
        parts = []
        table_model = model_for_table(model.table_name)
        for field, values in model.changes.items():
            old, new = (values + [None, None])[:2] if isinstance(values, list) else (None, values)
            old, new = mask_value(table_model, field, old), mask_value(table_model, field, new)
            parts.append(
                Markup("<div><b>{}</b>: {} → {}</div>").format(
                    field, old if old is not None else "∅", new if new is not None else "∅"
                )
            )
        return Markup("").join(parts)

    column_formatters = {"changes": _changes}
