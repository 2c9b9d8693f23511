"""Labels: a column's label, choices, checks and mask come from its ``info``; the mapped
class of an audited table name.
"""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import inspect as sa_inspect

from models import db


def model_for_table(table_name: str):
    """The mapped class of a table name (the audit log stores table names)."""
    for mapper in db.Model.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == table_name:
            return mapper.class_
    return None


def attr_info(attr) -> dict:
    """The ``info`` of a mapped attribute: a column's, or a relationship's own or its
    foreign key column's (so ``owner`` is labelled like ``owner_id``)."""
    prop = getattr(attr, "property", None)
    if prop is None:
        return {}
    if getattr(prop, "info", None) and "label" in prop.info:
        return prop.info
    if hasattr(prop, "columns"):
        return prop.columns[0].info if hasattr(prop.columns[0], "info") else {}
    if hasattr(prop, "local_columns"):
        for column in prop.local_columns:
            if column.info.get("label") and not column.primary_key:
                return {"label": column.info["label"]}
    return {}


def mask_value(model, name: str, value):
    """Columns with ``info['mask']`` show masked unless the viewer holds the column's
    ``sensitive_right`` — in lists, details, history, audit log and exports alike."""
    if not value or model is None or "." in name:
        return value
    info = attr_info(getattr(model, name, None))
    if info.get("mask") and not (current_user.is_authenticated and current_user.can(info.get("sensitive_right", ""))):
        return info["mask"](value)
    return value


#: the column a relationship is shown by: ``client.name`` is labelled like ``client``
DISPLAY_COLUMNS = ("name", "title")


def dotted_label(model, name: str):
    """The label of a dotted column: ``client.name`` (the column that shows the related
    record) → the relationship's label ("Client"); ``contract.number`` → the label of
    ``Contract.number``. None when the model declares neither."""
    head, _, rest = name.partition(".")
    attr = getattr(model, head, None)
    prop = getattr(attr, "property", None)
    target = getattr(getattr(prop, "mapper", None), "class_", None)
    if target is None:
        return None
    if "." in rest:
        return dotted_label(target, rest)
    if rest in DISPLAY_COLUMNS:
        return attr_info(attr).get("label")
    return attr_info(getattr(target, rest, None)).get("label")


class LabelsMixin:
    """Column labels from the model's ``info``: a column's own, a dotted column's derived
    from the relationship (:func:`dotted_label`), then ``extra_labels`` where a view says
    something else."""

    def _dotted_columns(self):
        for attr in (
            "column_list",
            "column_optional",
            "column_details_list",
            "column_export_list",
            "column_searchable_list",
        ):
            for column in getattr(self, attr, None) or ():
                if isinstance(column, str) and "." in column:
                    yield column

    @property
    def column_labels(self):
        if self._column_labels_auto is None:
            labels = {}
            for attr in sa_inspect(self.model).all_orm_descriptors:
                key = getattr(attr, "key", None) or getattr(attr, "__name__", None)
                if key is None:
                    continue
                info = attr_info(getattr(self.model, key, None))
                if "label" in info:
                    labels[key] = info["label"]
            for name in self._dotted_columns():
                label = dotted_label(self.model, name)
                if label is not None:
                    labels.setdefault(name, label)
            labels.update(getattr(self, "extra_labels", {}) or {})
            self._column_labels_auto = labels
        return self._column_labels_auto

    @column_labels.setter
    def column_labels(self, value):
        if value:
            self.extra_labels = value
