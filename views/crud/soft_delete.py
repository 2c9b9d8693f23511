"""Soft delete: the recycle bin, delete / restore / purge actions."""

from __future__ import annotations

from flask import flash, request
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext as admin_lazy
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from models import db

from ..helpers import parse_ids


class SoftDeleteMixin:
    """Delete to the recycle bin, restore from it, purge (administrators)."""

    @property
    def is_soft(self) -> bool:
        return bool(getattr(self.model, "__soft_delete__", False))

    def in_recycle_bin(self) -> bool:
        from flask import has_request_context

        return self.is_soft and has_request_context() and request.args.get("bin") == "1"

    def delete_model(self, model):
        reason = self.delete_refusal(model)
        if reason:
            flash(reason, "error")
            return False

        def change():
            self.on_model_delete(model)
            if self.is_soft:
                model.soft_delete(current_user.id)
            else:
                db.session.delete(model)

        if not self.committed(change):
            return False
        self.after_model_delete(model)
        return True

    def _scoped_rows(self, ids, *, deleted=None):
        query = self._filtered(db.session.query(self.model), include_deleted=True)
        query = query.filter(self.model.id.in_(parse_ids(ids)))
        if deleted is not None:
            query = query.filter(self.model.live(deleted))
        return query.all()

    @action("delete", admin_lazy("Delete"), admin_lazy("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        done = refused = 0
        for row in self._scoped_rows(ids, deleted=False if self.is_soft else None):
            if self.delete_model(row):
                done += 1
            else:
                refused += 1
        self.flash_bulk_result(done, refused)

    @action("restore", _l("Restore"), _l("Restore the selected records from the recycle bin?"))
    def action_restore(self, ids):
        done = refused = 0
        for row in self._scoped_rows(ids, deleted=True):
            try:
                row.restore()
                db.session.commit()
                done += 1
            except (ValueError, IntegrityError) as exc:  # a rule refuses the row back
                db.session.rollback()
                self.handle_view_exception(exc)
                refused += 1
        self.flash_bulk_result(done, refused)

    @action("purge", _l("Delete permanently"), _l("Delete the selected records permanently? This cannot be undone."))
    def action_purge(self, ids):
        done = refused = 0
        for row in self._scoped_rows(ids, deleted=True):
            try:
                db.session.delete(row)
                db.session.commit()
                done += 1
            except IntegrityError as exc:
                db.session.rollback()
                flash(f"{row}: {self.integrity_message(exc)}", "error")
                refused += 1
        self.flash_bulk_result(done, refused)

    def flash_bulk_result(self, done: int, refused: int) -> None:
        """One line for a bulk action: N done, M refused (the reasons were flashed)."""
        if refused:
            flash(gettext("%(done)s done, %(refused)s refused.", done=done, refused=refused), "warning")
        else:
            flash(gettext("%(done)s done.", done=done), "success")
