"""Dependent pickers: a select whose choices follow another field of the form.

A view declares ``choices_follow = {"linkman": "client"}``: the ``linkman`` select of its
form carries ``data-follows="client"`` and ``data-choices-url`` (this view's
``/choices/linkman/``), and static/pickers.js replaces its options by the chosen client's
contacts whenever the client changes (no inline script: the CSP forbids it). The
endpoint answers the field's own choices (scoped, live) narrowed to the rows whose
``<parent>_id`` is the given id. The rule itself is the domain's (``same_client`` in
models/customers.py): a contact of another client posted anyway is refused naming the
field.
"""

from __future__ import annotations

from flask import abort, jsonify, request, url_for
from flask_admin import expose

from ..helpers import db_int
from .rights import crm_page


class PickersMixin:
    #: select field → the form field its choices follow (``{"linkman": "client"}``)
    choices_follow: dict[str, str] = {}

    def _prepare_form(self, form, obj=None):
        form = super()._prepare_form(form, obj)
        for name, parent in self.choices_follow.items():
            if name in form and parent in form:
                field = form[name]
                field.render_kw = {
                    **(field.render_kw or {}),
                    "data-follows": parent,
                    "data-choices-url": url_for(".choices_view", field=name),
                }
        return form

    @expose("/choices/<field>/")
    @crm_page(right="view")
    def choices_view(self, field):
        """JSON for static/pickers.js: the choices of ``field`` when its parent field is
        ``?parent_id=`` — ``[{"id": …, "text": …}]``."""
        parent = self.choices_follow.get(field)
        if parent is None:
            abort(404)
        form = self._prepare_form(self.get_create_form()(formdata=None))
        select = form[field]
        parent_id = db_int(request.args.get("parent_id"))
        if parent_id is None:
            return jsonify([])
        query = select.query_factory()
        target = query.column_descriptions[0]["entity"]
        rows = query.filter(getattr(target, f"{parent}_id") == parent_id).limit(500).all()
        return jsonify([{"id": row.id, "text": str(select.get_label(row))} for row in rows])
