"""The History section of a record's details page, from the audit log."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect

from models import db
from models.audit import history

from .labels import attr_info

#: audit actions → what the History section calls them (workflow steps use their own labels)
ACTION_LABELS = {
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Deleted"),
    "restore": _l("Restored"),
    "purge": _l("Deleted permanently"),
    "merge": _l("Merged"),
    "reassign": _l("Owner reassigned"),
    "import": _l("Imported"),
    "convert": _l("Created from a quote"),
    "convert_lead": _l("Lead conversion"),
    "assign_lead": _l("Assigned to account manager"),
}


#: bookkeeping columns the History section leaves out
HISTORY_HIDDEN = {"id", "name_key", "is_deleted", "deleted_at", "deleted_by_id", "password_hash"}


class HistoryMixin:
    """The History section of a record's details page."""

    def history_rows(self, entries):
        """The History section: (entry, action label, [(field label, old, new)]) with
        foreign keys shown by name (one query per related table), times in local time,
        choices by label, sensitive values masked, bookkeeping columns left out."""
        model = self.model
        mapper = sa_inspect(model)
        targets = {}
        for rel in mapper.relationships:
            if not rel.uselist and len(rel.local_columns) == 1:
                targets[next(iter(rel.local_columns)).key] = rel.mapper.class_
        wanted: dict[str, set] = {}
        for entry in entries:
            for field, values in (entry.changes or {}).items():
                if field in targets and isinstance(values, list):
                    wanted.setdefault(field, set()).update(v for v in values[:2] if isinstance(v, int))
        names = {
            field: dict(
                (row.id, str(row))
                for row in db.session.execute(db.select(targets[field]).where(targets[field].id.in_(ids))).scalars()
            )
            for field, ids in wanted.items()
        }
        workflow = getattr(model, "__workflow__", None)

        def show(field, value):
            if value is None or value == "":
                return "∅"
            if field in names:
                return names[field].get(value, f"#{value}")
            info = attr_info(getattr(model, field, None))
            if info.get("choices"):
                return str(dict(info["choices"]).get(value, value))
            if isinstance(value, bool):
                return gettext("Yes") if value else gettext("No")
            if isinstance(value, str) and len(value) > 18 and value[4:5] == "-" and "T" in value:
                try:
                    return format_datetime(datetime.fromisoformat(value), "yyyy-MM-dd HH:mm:ss")
                except ValueError:
                    pass
            if field == "status" and workflow is not None:
                return workflow.state_label(value)
            return str(self.masked(field, value))

        rows = []
        for entry in entries:
            step = workflow.transitions.get(entry.action) if workflow is not None else None
            action = step.label if step else ACTION_LABELS.get(entry.action, entry.action)
            changes = [
                (str(self.column_labels.get(field, field)), show(field, values[0]), show(field, values[1]))
                for field, values in (entry.changes or {}).items()
                if field not in HISTORY_HIDDEN and isinstance(values, list) and len(values) == 2
            ]
            rows.append((entry, action, changes))
        return rows

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template and getattr(self.model, "__audited__", False):
            kwargs["history"] = self.history_rows(history(self.model.__tablename__, model.id))
        return super().render(template, **kwargs)
