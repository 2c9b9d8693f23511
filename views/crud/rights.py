"""Rights: every page, flag and action needs ``<endpoint>.<operation>``. A custom action
or page declares its right where it is written (``@crm_action(…, right="approve")``,
``@crm_page(right="import")``, in the spirit of Django's ``@admin.action(permissions=…)``);
one check reads the declarations. A right is an operation of the view's own endpoint
(``"approve"`` → ``contract.approve``) or a full code (``"order.create"``); a tuple needs
all of them."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
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


def crm_action(name, label, confirmation=None, right=None):
    """Flask-Admin's ``@action`` with the right it needs (default: the operation named like
    the action). An action with a declared right is not offered in the recycle bin."""

    def wrap(func):
        func = action(name, label, confirmation)(func)
        func._crm_right = right if right is not None else name
        return func

    return wrap


def crm_page(right="view"):
    r"""The right an ``@expose``\ d page of a view needs (write it under ``@expose``)."""

    def wrap(func):
        func._crm_right = right
        return func

    return wrap


def declared_right(handler):
    """The right ``@crm_action``/``@crm_page`` declared on ``handler``, or None."""
    return getattr(handler, "_crm_right", None)


class DeclaredPages:
    """``View.view_operations``: page → the right its ``@crm_page`` declares (read-only)."""

    def __get__(self, obj, cls):
        pages = {}
        for name in dir(cls):
            handler = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
            if callable(handler) and hasattr(handler, "_urls") and declared_right(handler) is not None:
                pages[name] = declared_right(handler)
        return pages


class RightsMixin:
    """One permission check: ``<endpoint>.<operation>`` rights for pages, flags and actions."""

    action_disallowed_list: list[str] = []
    view_operations = DeclaredPages()

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

    def right_code(self, right: str) -> str:
        """``"approve"`` → ``<endpoint>.approve``; a full code stays as it is."""
        return right if "." in right else f"{self.right_prefix}.{right}"

    def holds(self, right) -> bool:
        """Whether the current user holds ``right`` (one, or a tuple of all needed)."""
        rights = (right,) if isinstance(right, str) else tuple(right)
        if not current_user.is_authenticated:
            return False
        disabled = getattr(self, "disabled_operations", ())
        return all(r not in disabled and current_user.can(self.right_code(r)) for r in rights)

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
        declared = declared_right(getattr(self, name, None))
        if declared is not None:
            if not self.holds(declared):
                abort(403)
            return None
        operation = VIEW_OPERATIONS.get(name, "view")
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
        declared = declared_right(self._actions_data[name][0]) if name in self._actions_data else None
        if declared is not None:
            return self.holds(declared) and not self.in_recycle_bin()
        operation = {"delete": "delete", "restore": "delete", "purge": "delete"}.get(name, name)
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
