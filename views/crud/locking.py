"""Optimistic locking, creating and saving records, and the messages of refused writes."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.model.helpers import get_mdict_item_or_list
from flask_babel import format_datetime, gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import fields
from wtforms.validators import ValidationError

from models import db
from models.audit import last_change
from models.base import FieldError
from models.workflow import is_locked

from .labels import attr_info, model_for_table


class LockingMixin:
    """Optimistic locking, records locked by their state (``can_change``) and the messages
    of refused writes."""

    #: a many-to-one whose record, locked by its state, locks this one too (``"opportunity"``:
    #: the development plans of an archived opportunity, also edited inline on it)
    locked_with: str | None = None

    def can_change(self, record) -> bool:
        """Whether ``record`` may still be edited or deleted (False: read-only by its state,
        e.g. an approved contract, or its ``locked_with`` parent's); edit page, in-list edits
        and delete all ask this."""
        return self.locking_parent(record) is None

    def locking_parent(self, record):
        """The ``locked_with`` record of ``record`` if its state locks it, else None."""
        parent = getattr(record, self.locked_with, None) if self.locked_with else None
        return parent if parent is not None and is_locked(parent) else None

    def locked_message(self, record) -> str:
        parent = self.locking_parent(record)
        if parent is not None:
            return gettext(
                "%(record)s belongs to %(parent)s, which can no longer be changed.",
                record=str(record),
                parent=str(parent),
            )
        return gettext("%(record)s can no longer be changed or deleted.", record=str(record))

    def _refuse_locked_parent(self, model) -> None:
        """Saving may not put a record under a locked parent (a plan added to an archived opportunity)."""
        if self.locking_parent(model) is not None:
            raise ValidationError(self.locked_message(model))

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        record_id = get_mdict_item_or_list(request.args, "id")
        if record_id is not None:
            record = self.get_one(record_id)
            if not self.can_change(record):
                flash(self.locked_message(record), "error")
                return redirect(url_for(".details_view", id=record.id))
        return super().edit_view()

    def delete_refusal(self, model) -> str | None:
        """A reason why the record may not be deleted, or None (modules extend this)."""
        if not self.can_change(model):
            return self.locked_message(model)
        return None

    def scaffold_form(self):
        form_class = super().scaffold_form()
        if hasattr(self.model, "version"):
            # optimistic locking: the version the user loaded travels with the edit form
            form_class.loaded_version = fields.HiddenField()
        return form_class

    def _check_version(self, model):
        if not hasattr(model, "version"):
            return
        loaded = request.form.get("loaded_version")
        if not loaded:
            if request.endpoint and request.endpoint.endswith(".edit_view"):
                # without the version the user loaded, a newer one would be overwritten
                raise ValidationError(
                    gettext(
                        "The form did not say which version of %(record)s you loaded, so a newer "
                        "version could be overwritten. Reload the record and enter your changes "
                        "again. Nothing was saved.",
                        record=model,
                    )
                )
            return  # in-list edits change one column of the current version
        if str(model.version) != str(loaded):
            raise StaleDataError(str(loaded))

    def conflict_message(self, model) -> str:
        entry = last_change(model.__tablename__, model.id)
        who = entry.user.name if entry and entry.user else gettext("another user")
        when = format_datetime(entry.at, "yyyy-MM-dd HH:mm:ss") if entry else "?"
        return gettext(
            "This record was changed by %(who)s at %(when)s — reload it and "
            "enter your changes again. Nothing was saved.",
            who=who,
            when=when,
        )

    def update_model(self, form, model):
        if not self.can_change(model):
            flash(self.locked_message(model), "error")
            return False

        def change():
            self._check_version(model)
            form.populate_obj(model)
            self._refuse_locked_parent(model)
            self._on_model_change(form, model, False)

        if not self.committed(change, model):
            return False
        self.after_model_change(form, model, False)
        return True

    def committed(self, change, model=None) -> bool:
        """Run ``change()`` and commit, as one transaction: on an error, roll back and say
        why (``handle_view_exception``) — False; an error it does not know is raised."""
        try:
            change()
            db.session.commit()
        except Exception as ex:
            db.session.rollback()
            if not self.handle_view_exception(ex, model):
                raise
            return False
        return True

    def create_model(self, form):
        model = self.build_new_instance()

        def change():
            form.populate_obj(model)
            self._refuse_locked_parent(model)
            db.session.add(model)
            self._on_model_change(form, model, True)

        if not self.committed(change):
            return False
        self.after_model_change(form, model, True)
        return model

    def handle_view_exception(self, exc, model=None):
        if isinstance(exc, FieldError):
            flash(gettext("%(field)s: %(message)s", field=exc.field, message=exc.message), "error")
            return True
        if isinstance(exc, ValidationError | ValueError) and not isinstance(exc, StaleDataError):
            flash(str(exc), "error")
            return True
        if isinstance(exc, StaleDataError):
            if model is not None:
                db.session.rollback()
                flash(self.conflict_message(db.session.get(self.model, model.id) or model), "error")
            else:
                flash(gettext("The record was changed by someone else — reload it."), "error")
            return True
        if isinstance(exc, IntegrityError):
            flash(self.integrity_message(exc), "error")
            return True
        return super().handle_view_exception(exc)

    def integrity_message(self, exc) -> str:
        """What a refused write means for the user, naming the field — never the
        database's own text (SQL, constraint and table names)."""
        text = str(getattr(exc, "orig", exc))
        lowered = text.lower()
        if "foreign key" in lowered:
            return gettext(
                "The record is still in use by other records, so it cannot be "
                "deleted or changed that way. Deactivate it instead."
            )
        field = self._constraint_field(text, getattr(getattr(exc, "orig", None), "diag", None))
        if "unique" in lowered or "duplicate" in lowered:
            if field:
                return gettext(
                    "%(field)s: a record with this value already exists. Enter a "
                    "different value (or open that record instead).",
                    field=field,
                )
            return gettext(
                "Another record already has one of these values. Check the fields "
                "that must be unique and enter different values."
            )
        if ("not null" in lowered or "null value" in lowered) and field:
            return gettext("%(field)s: please enter a value.", field=field)
        return gettext(
            "The database refused the change. Check the values you entered and save again; nothing was saved."
        )

    def _constraint_field(self, text: str, diag=None) -> str | None:
        """The label(s) of the column(s) a constraint error names (SQLite: ``… failed:
        orders.number`` or ``… failed: t.user_id, t.month``; PostgreSQL: ``Key (number)=(…)``,
        ``Key (user_id, month)=(…)`` or ``column "number"``, the table from the error's
        diagnostics), joined with ", "."""
        import re

        match = re.search(r"constraint failed: ((?:\w+\.\w+)(?:, \w+\.\w+)*)", text)
        if match:
            pairs = [item.split(".") for item in match.group(1).split(", ")]
            model, columns = model_for_table(pairs[0][0]), [column for _, column in pairs]
        else:
            match = re.search(r'Key \(([\w, ]+)\)=|column "(\w+)"', text)
            if not match:
                return None
            table = getattr(diag, "table_name", None)
            model = model_for_table(table) if table else self.model
            columns = (match.group(1) or match.group(2)).split(", ")
        model = model or self.model
        labels = [self._column_label(model, column) for column in columns]
        return ", ".join(labels) if all(labels) else None

    def _column_label(self, model, column: str) -> str | None:
        if model is self.model and column in self.column_labels:
            return str(self.column_labels[column])
        label = attr_info(getattr(model, column, None)).get("label")
        return str(label) if label else None
