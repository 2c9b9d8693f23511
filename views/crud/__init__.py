"""CrmModelView: the one base view, assembled from the mechanisms of this package —
rights, data scope, search, forms, filters, soft delete and recycle bin, optimistic locking,
history, export, labels, list values and the user's columns — so module views only declare.
"""

from __future__ import annotations

from flask_admin.contrib.sqla import ModelView

from models import db

from .columns import STATE_BADGES, ColumnsMixin
from .export import ExportMixin
from .fields import CrmDateField, CrmDateTimeField
from .filters import (
    FiltersMixin,
    LazyOptions,
    MoneyEqualFilter,
    MoneyGreaterFilter,
    MoneySmallerFilter,
    status_filter,
    status_not_filter,
)
from .forms import FormsMixin, KeepHidden, MoneyField, OptionalField, Section, to_local, to_utc
from .history import HistoryMixin
from .labels import LabelsMixin, attr_info, mask_value, model_for_table
from .links import LinksMixin, esc, list_url, record_link
from .locking import LockingMixin
from .paging import PagingMixin
from .pickers import PickersMixin
from .printing import PrintingMixin
from .rights import VIEW_OPERATIONS, RightsMixin, crm_action, crm_page, login_url
from .scope import ScopedAjaxLoader, ScopeMixin, choice_clause, kept, offerable
from .search import SearchMixin
from .soft_delete import SoftDeleteMixin

__all__ = [
    "STATE_BADGES",
    "VIEW_OPERATIONS",
    "CrmDateField",
    "CrmDateTimeField",
    "CrmModelView",
    "KeepHidden",
    "LazyOptions",
    "MoneyEqualFilter",
    "MoneyField",
    "MoneyGreaterFilter",
    "MoneySmallerFilter",
    "OptionalField",
    "ScopedAjaxLoader",
    "Section",
    "attr_info",
    "choice_clause",
    "crm_action",
    "crm_page",
    "esc",
    "login_url",
    "mask_value",
    "model_for_table",
    "offerable",
    "kept",
    "list_url",
    "record_link",
    "status_filter",
    "status_not_filter",
    "to_local",
    "to_utc",
]


class CrmModelView(
    RightsMixin,
    ColumnsMixin,
    ScopeMixin,
    SearchMixin,
    SoftDeleteMixin,
    PickersMixin,
    FormsMixin,
    FiltersMixin,
    PagingMixin,
    LockingMixin,
    HistoryMixin,
    PrintingMixin,
    ExportMixin,
    LinksMixin,
    LabelsMixin,
    ModelView,
):
    list_template = "admin/crm/list.html"
    details_template = "admin/crm/details.html"

    can_view_details = True
    can_set_page_size = True
    page_size = 20
    page_size_options = (20, 50, 100)
    column_default_sort = ("id", True)
    column_display_actions = True
    column_exclude_list = ("is_deleted", "deleted_at", "deleted_by", "version")
    column_details_exclude_list = ("version",)

    def __init__(self, model, session=None, **kwargs):
        self._column_labels_auto = None
        hidden = ["csrf_token"] + (["loaded_version"] if hasattr(model, "version") else [])
        for attr in ("form_rules", "form_create_rules", "form_edit_rules"):
            if getattr(self, attr, None):  # hidden fields survive form rules (optimistic locking, CSRF)
                setattr(self, attr, list(getattr(self, attr)) + [KeepHidden(*hidden)])
        super().__init__(model, session or db, **kwargs)
