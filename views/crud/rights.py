"""Rights: every page, flag and action needs ``<endpoint>.<operation>``."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_login import current_user


def login_url() -> str:
    """/login?next=<this path, percent-encoded> for anonymous requests."""
    return url_for("auth.login") + "?" + urlencode({"next": request.full_path.rstrip("?")})


#: Flask-Admin view method → the operation right it needs
VIEW_OPERATIONS = {
    "index_view": "view",
    "details_view": "view",
    "ajax_lookup": "view",
    "create_view": "create",
    "edit_view": "edit",
    "ajax_update": "edit",
    "delete_view": "delete",
    "export": "export",
    "action_view": None,
}


class RightsMixin:
    """One permission check: ``<endpoint>.<operation>`` rights for pages, flags and actions."""

    action_disallowed_list: list[str] = []

    #: custom action name → the operation right it needs (default: its own name)
    action_rights: dict[str, str] = {}

    #: extra exposed pages of a view → the operation right they need
    view_operations: dict[str, str] = {}

    #: the right endpoint, when several views share one (defaults to the endpoint)
    right_endpoint: str | None = None

    #: editable-in-list columns for users with the edit right
    editable_columns: tuple[str, ...] = ()

    @property
    def right_prefix(self) -> str:
        return self.right_endpoint or self.endpoint

    def allowed(self, operation: str) -> bool:
        """Whether the current user holds ``<endpoint>.<operation>``."""
        if not current_user.is_authenticated:
            return False
        return current_user.can(f"{self.right_prefix}.{operation}")

    def is_accessible(self):
        return self.allowed("view")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(login_url())
        abort(403)

    def _handle_view(self, name, **kwargs):
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        operation = self.view_operations.get(name) or VIEW_OPERATIONS.get(name, "view")
        if operation and not self.allowed(operation):
            abort(403)
        return None

    @property
    def can_create(self):
        return self._flag("create")

    @property
    def can_edit(self):
        return self._flag("edit")

    @property
    def can_delete(self):
        return self._flag("delete") and not self.in_recycle_bin()

    @property
    def can_export(self):
        return self._flag("export")

    def _flag(self, operation):
        if operation in getattr(self, "disabled_operations", ()):
            return False
        from flask import has_request_context

        return self.allowed(operation) if has_request_context() else True

    @property
    def column_editable_list(self):
        from flask import has_request_context

        if has_request_context() and not (self.allowed("edit") and not self.in_recycle_bin()):
            return []
        return list(self.editable_columns)

    @column_editable_list.setter
    def column_editable_list(self, value):
        if value:
            self.editable_columns = tuple(value)

    def is_action_allowed(self, name):
        operation = {"delete": "delete", "restore": "delete", "purge": "delete"}.get(name)
        operation = self.action_rights.get(name, operation or name)
        if operation in getattr(self, "disabled_operations", ()) or not self.allowed(operation):
            return False
        if name in ("restore", "purge") and not self.is_soft:
            return False
        if name == "purge" and not current_user.is_admin:
            return False
        if request.method != "GET":
            return True  # the handlers pick the rows they apply to (deleted or not)
        # the list offers restore/purge in the recycle bin, everything else outside it
        return (name in ("restore", "purge")) == self.in_recycle_bin()

    def handle_action(self, return_view=None):
        """A list action the user may not run is refused with 403 (SPEC §2.3), an
        unknown one with 400 — Flask-Admin would redirect and silently do nothing."""
        name = request.form.get("action", "")
        if name not in self._actions_data:
            abort(400)
        if not self.is_action_allowed(name):
            abort(403)
        return super().handle_action(return_view)

    @expose("/ajax/update/", methods=("POST",))
    def ajax_update(self):
        """In-list edits: only of the columns the list offers for editing (anything else
        is refused, not reported "saved"), and a refusal answers 400 with its message."""
        submitted = [name for name in request.form if name not in ("list_form_pk", "csrf_token")]
        editable = set(self.column_editable_list)
        if not editable:
            abort(403 if self.editable_columns else 404)
        refused = [name for name in submitted if name not in editable]
        if refused or not submitted:
            return gettext(
                "%(columns)s cannot be changed in the list; open the record to edit it.",
                columns=", ".join(str(self.column_labels.get(n, n)) for n in refused) or "—",
            ), 400
        response = super().ajax_update()
        if isinstance(response, tuple) and response[1] == 500:  # a refusal, not a server error
            return response[0], 400
        return response
