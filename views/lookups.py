"""One view for all 18 lookup tables (SPEC §4.2)."""

from __future__ import annotations

from flask_babel import gettext

from .crud import CrmModelView


class OrderedNamesView(CrmModelView):
    """A table of names in the order an administrator gives them (lookups, departments)."""

    column_searchable_list = ("name",)
    column_default_sort = ("sort_order", False)


class LookupView(OrderedNamesView):
    column_list = ("name", "sort_order", "is_active", "updated_at")
    column_filters = ("is_active",)
    form_columns = ("name", "sort_order", "is_active")
    editable_columns = ("sort_order", "is_active")

    def __init__(self, model, **kwargs):
        extra = tuple(c for c in ("parent", "probability") if hasattr(model, c))
        self.column_list = ("name",) + extra + ("sort_order", "is_active", "updated_at")
        self.form_columns = ("name",) + extra + ("sort_order", "is_active")
        if extra == ("parent",):
            self.column_filters = ("is_active", "parent")
        super().__init__(model, **kwargs)

    def delete_refusal(self, model):
        used = model.usages()
        if used:
            total = sum(count for _, count in used)
            return gettext(
                '"%(name)s" is used by %(count)s records (%(tables)s), so it cannot be '
                'deleted. Untick "Active" instead: it then stays on old records but is '
                "no longer offered in forms.",
                name=model.name,
                count=total,
                tables=", ".join(f"{t} {c}" for t, c in used),
            )
        return None
