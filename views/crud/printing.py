"""Printing: a view declares ``printable = "quote"`` (a type of reports/printing.py) and its
records get a *Print* button on their details page (``/print/?ids=<id>``) and a *Print* bulk
action on the list — one PDF, one document per record, for the records in the user's scope
(not deleted) that the view right lets them see."""

from __future__ import annotations

import io

from flask import abort, flash, redirect, request, send_file, url_for
from flask_admin import expose
from flask_babel import format_datetime, gettext
from flask_babel import lazy_gettext as _l

from models import clock

from ..helpers import attachment, parse_ids
from .rights import crm_action, crm_page

#: at most this many documents in one PDF
MAX_PRINTED = 200


class PrintingMixin:
    #: the document type its records print as (reports.printing.DOCUMENTS), or None
    printable: str | None = None

    def init_actions(self):
        super().init_actions()
        if not self.printable:  # the bulk action only where the records print
            self._actions = [(name, text) for name, text in self._actions if name != "print"]
            self._actions_data.pop("print", None)

    def print_url(self, record) -> str | None:
        return url_for(".print_view", ids=str(record.id)) if self.printable else None

    @expose("/print/")
    @crm_page("view")
    def print_view(self):
        return self.print_response(request.args.get("ids", ""))

    @crm_action("print", _l("Print (PDF)"), right="view")
    def action_print(self, ids):
        return self.print_response(",".join(ids))

    def print_response(self, ids):
        from reports.printing import DOCUMENTS, write_documents_pdf

        if not self.printable:
            abort(404)
        wanted = parse_ids(ids)[:MAX_PRINTED]
        records = self._scoped_rows(wanted, deleted=False if self.is_soft else None) if wanted else []
        if not records:
            flash(gettext("Choose at least one record (in your data scope) to print."), "error")
            return redirect(url_for(".index_view"))
        records.sort(key=lambda r: r.id)
        layout = DOCUMENTS[self.printable]
        now = clock.now()
        generated = f"{format_datetime(now, 'yyyy-MM-dd HH:mm:ss')} ({clock.zone_name()})"
        data = write_documents_pdf([layout(r) for r in records], generated)
        number = getattr(records[0], "number", None) or records[0].id
        stem = f"{self.printable}-{number}" if len(records) == 1 else f"{self.printable}s-{now:%Y%m%d-%H%M}"
        response = send_file(io.BytesIO(data), mimetype="application/pdf", max_age=0)
        response.headers["Content-Disposition"] = attachment(f"{stem}.pdf", f"{self.printable}.pdf")
        response.headers["Cache-Control"] = "no-store"
        return response

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template and self.printable:
            kwargs["print_url"] = self.print_url(model)
        return super().render(template, **kwargs)
