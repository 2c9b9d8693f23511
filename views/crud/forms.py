"""Forms: CSRF, Money and local date-time fields, the converter reading the column's
``info``, form rules (sections, optional and hidden fields) and the view's form methods.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import current_app, g, request
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import BaseForm, rules
from flask_admin.model.form import converts
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import _FlaskFormCSRF
from markupsafe import Markup
from wtforms import fields, validators
from wtforms.validators import ValidationError

from models import clock, db
from models.base import FieldError, check_row, checker_message, to_money

from .fields import CrmDateField, CrmDateTimeField, choice_field
from .labels import attr_info
from .paging import kept_rows
from .scope import offerable


class CrmBaseForm(BaseForm):
    """Admin forms carry the same Flask-WTF CSRF token that CSRFProtect checks on
    every POST of the site (one kind of token, no clash on editable lists)."""

    class Meta(BaseForm.Meta):
        csrf_class = _FlaskFormCSRF
        csrf_field_name = "csrf_token"

        @property
        def csrf(self):
            return current_app.config.get("WTF_CSRF_ENABLED", True)

        @property
        def csrf_secret(self):
            return current_app.config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)

        @property
        def csrf_time_limit(self):
            return current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)


class MoneyField(fields.DecimalField):
    """An amount in yuan with at most two decimals (exact, never a float)."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("places", 2)
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = to_money(valuelist[0])
            except (ValueError, TypeError):
                self.data = None
                raise ValueError(gettext("Enter an amount with at most 2 decimals, e.g. 1234.50")) from None
        else:
            self.data = None


def to_utc(naive: datetime) -> datetime:
    """A wall-clock time typed in the display time zone → aware UTC."""
    return clock.to_utc(naive)


def to_local(value: datetime) -> datetime:
    """Aware UTC → naive wall-clock time in the display time zone (for form inputs)."""
    return clock.to_local(value).replace(tzinfo=None)


def _check_validator(check):
    def validate(form, field):
        if field.data in (None, ""):
            return
        try:
            field.data = check(field.data)
        except ValueError as exc:
            raise ValidationError(checker_message(exc)) from None

    return validate


class CrmModelConverter(AdminModelConverter):
    """Labels, choices, checks and Money fields come from the column's ``info``."""

    def _get_label(self, name, field_args):
        if "label" in field_args:
            return field_args["label"]
        attr = getattr(self.view.model, name, None)
        info = attr_info(attr)
        if "label" in info:
            return info["label"]
        return super()._get_label(name, field_args)

    def convert(self, model, mapper, name, prop, field_args, hidden_pk):
        field_args = dict(field_args or {})
        info = attr_info(getattr(model, getattr(prop, "key", name), None))
        if "label" in info:
            field_args.setdefault("label", info["label"])
        if info.get("check"):
            field_args["validators"] = list(field_args.get("validators", [])) + [_check_validator(info["check"])]
        if "minimum" in info or "maximum" in info:
            field_args["validators"] = list(field_args.get("validators", [])) + [
                validators.NumberRange(min=info.get("minimum"), max=info.get("maximum"))
            ]
        if info.get("choices") and hasattr(prop, "columns"):
            return choice_field(prop.columns[0], info["choices"], field_args)
        return super().convert(model, mapper, name, prop, field_args, hidden_pk)

    @converts("Money")
    def convert_money(self, column, field_args, **extra):
        field_args["validators"].append(validators.NumberRange(min=Decimal("0")))
        return MoneyField(**field_args)

    @converts("Percent")
    def convert_percent(self, column, field_args, **extra):
        field_args["validators"].append(validators.NumberRange(min=Decimal("0"), max=Decimal("100")))
        return MoneyField(**field_args)

    @converts("UTCDateTime")
    def convert_utc_datetime(self, column, field_args, **extra):
        return CrmDateTimeField(**field_args)

    @converts("Date")
    def convert_date(self, column, field_args, **extra):
        return CrmDateField(**field_args)


class OptionalField(rules.Field):
    """A field rule that renders nothing when the form lacks the field (e.g. the owner
    field removed for own-scope users)."""

    def __call__(self, form, form_opts=None, field_args=None):
        if getattr(form, self.field_name, None) is None:
            return Markup("")
        return super().__call__(form, form_opts, field_args or {})


class KeepHidden(rules.BaseRule):
    """Marks hidden fields as part of a rule set (Flask-Admin drops fields missing from
    the rules); they are rendered with the form's hidden tags."""

    def __init__(self, *names):
        super().__init__()
        self.names = list(names)

    @property
    def visible_fields(self):
        return self.names

    def __call__(self, form, form_opts=None, field_args=None):
        return Markup("")


class Section(rules.NestedRule):
    """A titled group of form fields laid out in ``columns`` columns."""

    def __init__(self, header, fields, columns: int = 2):
        super().__init__([OptionalField(f) if isinstance(f, str) else f for f in fields])
        self.header = header
        self.columns = columns

    def __call__(self, form, form_opts=None, field_args=None):
        inner = super().__call__(form, form_opts, field_args or {})
        return (
            Markup('<fieldset class="crm-section"><legend>{}</legend><div class="crm-grid-{}">').format(
                self.header, self.columns
            )
            + Markup(inner)
            + Markup("</div></fieldset>")
        )


def _refuse_unknown_choices(form) -> bool:
    """Mark select fields (query or ajax) whose submitted value matched no offered row;
    True when there was one. Walks inline forms (field lists of sub-forms)."""
    from flask_admin.contrib.sqla.fields import QuerySelectField
    from flask_admin.model.fields import AjaxSelectField

    refused = False
    for field in form:
        if isinstance(field, fields.FieldList):
            refused = any([_refuse_unknown_choices(entry) for entry in field]) or refused
        elif isinstance(field, fields.FormField):
            refused = _refuse_unknown_choices(field.form) or refused
        elif isinstance(field, (QuerySelectField, AjaxSelectField)):
            raw = (field.raw_data or [""])[0]
            if raw not in (None, "", "__None") and field.data is None:
                field.errors = [*field.errors, gettext("Not a valid choice")]
                refused = True
    return refused


def bind_field_error(form, exc: FieldError) -> None:
    """Show a domain refusal under the form field it names (it is flashed as well)."""
    for field in form:
        if str(field.label.text) == str(exc.field):
            field.errors = list(field.errors or ()) + [exc.message]
            return


def check_on_form(form, model) -> None:
    """Run the domain rules before the commit so a refusal lands on its field."""
    try:
        with db.session.no_autoflush:
            check_row(model)
    except FieldError as exc:
        bind_field_error(form, exc)
        raise


class FormsMixin:
    """Forms: scoped select boxes, fields that default to me, the hidden owner field."""

    form_base_class = CrmBaseForm

    model_form_converter = CrmModelConverter

    form_excluded_columns = ("created_at", "updated_at", "is_deleted", "deleted_at", "deleted_by", "version")

    #: user fields that default to the current user (left empty: me)
    me_fields: tuple[str, ...] = ("owner",)

    #: fields the domain fills in when left empty (document numbers, tax …): optional in forms
    filled_fields: tuple[str, ...] = ()

    #: field → callable giving the value a new record's form starts with, asked when the
    #: page is shown (``{"week_start": this_monday}``, ``{"tax_rate": settings.default_tax_rate}``)
    create_defaults: dict = {}

    #: run the model's domain rules (``check_rules``) when the form is saved, before the
    #: commit, so that a refusal lands under the field it names (not only as a flash)
    rules_on_form: bool = False

    def _prepare_form(self, form, obj=None):
        for field in form:
            factory = getattr(field, "query_factory", None)
            if factory is None:
                continue
            try:
                target = factory().column_descriptions[0]["entity"]
            except Exception:
                continue
            current = getattr(obj, field.name, None) if obj is not None else None
            keep_id = getattr(current, "id", None)
            field.query_factory = lambda f=factory, m=target, k=keep_id: offerable(f(), m, k)
        if current_user.is_authenticated and current_user.data_scope == "own" and not self.allowed("reassign"):
            # the user a record is scoped to is me: own-scope users may not give records away
            for column in getattr(self.model, "__scope_owner__", ()):
                if column.removesuffix("_id") in form:
                    del form[column.removesuffix("_id")]
        for name in self.me_fields + self.filled_fields:
            if name not in form:
                continue
            field = form[name]  # left empty: me (on_model_change) or filled in by the domain
            field.validators = [validators.Optional()] + [
                v for v in field.validators if not isinstance(v, validators.InputRequired | validators.DataRequired)
            ]
            field.flags.required = False
            if hasattr(field, "allow_blank"):
                field.allow_blank = True
        for field in form:
            if getattr(field, "allow_blank", False):
                field.blank_text = "—"
        return form

    def list_form(self, obj=None):
        """In-list editors: one query per select for the whole page, not one per row."""
        form = super().list_form(obj)
        cache = g.setdefault("crm_list_choices", {})
        for field in form:
            factory = getattr(field, "query_factory", None)
            if factory is None:
                continue
            key = (self.endpoint, field.name)
            if key not in cache:
                query = factory()
                target = query.column_descriptions[0]["entity"]
                cache[key] = kept_rows(target, lambda q=query, t=target: offerable(q, t).all())
            field.query_factory = lambda rows=cache[key]: rows
        return form

    def create_form(self, obj=None):
        form = self._prepare_form(super().create_form(obj))
        for name in self.me_fields:
            if request.method == "GET" and name in form and form[name].data is None:
                form[name].data = current_user._get_current_object()  # new records are mine
        for name, default in self.create_defaults.items():
            if request.method == "GET" and name in form and form[name].data in (None, "", "None"):
                form[name].data = default()
        return form

    def validate_form(self, form):
        """Besides the field validators: a select value that is not offered (unknown, or
        outside the user's scope) is refused on its field — Flask-Admin's select fields
        would save it as empty — in inline forms too."""
        valid = super().validate_form(form)
        if request.method == "POST":
            valid = not _refuse_unknown_choices(form) and valid
        return valid

    def edit_form(self, obj=None):
        form = self._prepare_form(super().edit_form(obj), obj)
        if "loaded_version" in form and obj is not None and request.method == "GET":
            form.loaded_version.data = obj.version
        return form

    def on_model_change(self, form, model, is_created):
        for name in self.me_fields:  # left empty (on create or edit): me
            if hasattr(model, name) and getattr(model, name) is None and getattr(model, f"{name}_id", None) is None:
                setattr(model, name, current_user._get_current_object())
        if self.rules_on_form:
            check_on_form(form, model)
