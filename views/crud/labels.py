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


class LabelsMixin:
    """Column labels from the model's ``info`` (plus ``extra_labels``)."""

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
            labels.update(getattr(self, "extra_labels", {}) or {})
            self._column_labels_auto = labels
        return self._column_labels_auto

    @column_labels.setter
    def column_labels(self, value):
        if value:
            self.extra_labels = value
