"""Columns of a list: the ones each user chose (remembered per user and list), statuses as
coloured badges, and cells that never wrap (codes, dates, money, badges).

A view declares ``column_list`` — the columns a list shows by default, few enough for a
1366-pixel screen — and ``column_optional``, the further columns a user may add with the
list's *Columns* button (``templates/admin/crm/list.html``: a panel of checkboxes that
posts to ``<list>/columns/``). Only declared columns can be chosen; the choice is stored
per user and list (``models/list_columns.py``) and read with the user of the list's GET,
so a list page sends no extra statement; related columns the user adds are joined into
the page query (``eager_options``). Exports keep exporting their declared columns
(``column_export_list``): a download is a document with a fixed layout, not a copy of
the screen. A masked column stays masked, whoever chose it (views/crud/labels.py).

Statuses: a column named in ``badge_columns`` (default ``status``, ``sla_state``,
``outcome``) shows its state's label in a badge coloured by :data:`STATE_BADGES` (one
table for every list); a view may give a state of its own another colour
(``badge_colours``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import flash, has_request_context, redirect, request, url_for
from flask_admin import expose
from flask_admin.tools import rec_getattr
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import inspect as sa_inspect

from models import db
from models.list_columns import LIST_PAGES, reset_list_columns, save_list_columns, saved_list_columns

from .labels import attr_info
from .rights import crm_page
from .scope import eager_option

#: state → Bootstrap badge colour, for every list: not started grey, waiting for someone
#: blue, done well green, ended badly red, needing attention yellow, closed dark
STATE_BADGES = {
    **dict.fromkeys(("draft", "planned", "unassigned", "none", "queued", "skipped"), "secondary"),
    **dict.fromkeys(
        (
            "submitted",
            "pending",
            "requested",
            "recorded",
            "created",
            "assigned",
            "new",
            "contacted",
            "sending",
            "running",
            "waiting",
            "issued",
            "待办",
        ),
        "info",  # the theme's blue (its "primary" is a dark navy)
    ),
    **dict.fromkeys(
        (
            "approved",
            "signed",
            "confirmed",
            "paid",
            "shipped",
            "completed",
            "accepted",
            "sent",
            "reviewed",
            "qualified",
            "converted",
            "finished",
            "handled",
            "met",
            "won",
            "已完成",
        ),
        "success",
    ),
    **dict.fromkeys(
        ("rejected", "cancelled", "terminated", "voided", "failed", "disqualified", "lost", "breached", "已取消"),
        "danger",
    ),
    **dict.fromkeys(("warning", "delayed", "paused"), "warning"),
    **dict.fromkeys(("archived",), "dark"),
}

#: the values of these types never wrap in a cell
NOWRAP_TYPES = (date, datetime, Decimal)
#: … nor the columns of these names (numbers and codes of documents)
NOWRAP_NAMES = ("number", "code", "mobile", "phone")


class ColumnsMixin:
    """The list's columns for this user; status badges; cells that do not wrap."""

    #: further columns the user may add to the list (``column_list`` are the default ones)
    column_optional: tuple = ()
    #: columns shown as a coloured badge of their state
    badge_columns: tuple[str, ...] = ("status", "sla_state", "outcome")
    #: state → badge colour where a view's state means something else (churn "confirmed" = lost)
    badge_colours: dict[str, str] = {}

    # -- the columns ------------------------------------------------------------------
    @property
    def _list_columns(self):
        default = self.__dict__.get("_crm_default_columns", [])
        chosen = self.chosen_column_names()
        if chosen is None:
            return default
        return [(name, label) for name, label in self.available_columns() if name in chosen]

    @_list_columns.setter
    def _list_columns(self, value):
        # Flask-Admin's _refresh_cache: the declared default columns
        self.__dict__["_crm_default_columns"] = value
        self.__dict__.pop("_crm_available_columns", None)

    def available_columns(self) -> list[tuple[str, object]]:
        """(name, label) of every column the list can show: the default ones, then the optional."""
        if "_crm_available_columns" not in self.__dict__:
            default = self.__dict__.get("_crm_default_columns", [])
            names = {name for name, _ in default}
            optional = [c for c in self.column_optional if c not in names]
            extra = self.get_column_names(only_columns=optional, excluded_columns=self.column_exclude_list)
            self.__dict__["_crm_available_columns"] = list(default) + list(extra)
        return self.__dict__["_crm_available_columns"]

    def default_column_names(self) -> list[str]:
        return [name for name, _ in self.__dict__.get("_crm_default_columns", [])]

    def chosen_column_names(self) -> set[str] | None:
        """The names the current user chose for this list (only declared ones), or None
        (the defaults): outside this view's list page and its export (whose ``?sort=N``
        counts the shown columns), or without a saved choice."""
        if not has_request_context() or not current_user.is_authenticated:
            return None
        endpoint, _, page = (request.endpoint or "").rpartition(".")
        if endpoint != self.endpoint or page not in LIST_PAGES:
            return None
        cached = getattr(request, "crm_chosen_columns", _UNSET)
        if cached is not _UNSET:
            return cached
        saved = saved_list_columns(db.session, current_user.id, self.endpoint)
        available = {name for name, _ in self.available_columns()}
        chosen = {name for name in saved or () if name in available} or None
        request.crm_chosen_columns = chosen
        return chosen

    def column_chooser(self) -> list[tuple[str, object, bool, bool]]:
        """The chooser's checkboxes: (name, label, shown now, shown by default)."""
        shown = {name for name, _ in self._list_columns}
        default = set(self.default_column_names())
        return [(name, label, name in shown, name in default) for name, label in self.available_columns()]

    @expose("/columns/", methods=("POST",))
    @crm_page(right="view")
    def columns_view(self):
        """Save the columns the user ticked (or forget them: ``reset``), then back to the list."""
        back = self._columns_return_url()
        if request.form.get("reset"):
            reset_list_columns(db.session, current_user.id, self.endpoint)
            db.session.commit()
            flash(gettext("The list shows its default columns again."), "success")
            return redirect(back)
        names = request.form.getlist("columns")
        available = [name for name, _ in self.available_columns()]
        unknown = [name for name in names if name not in available]
        if unknown:
            flash(
                gettext(
                    "Columns: “%(names)s” cannot be shown in this list; choose among the columns offered. "
                    "Nothing was saved.",
                    names=", ".join(name[:40] for name in unknown[:5]),
                ),
                "error",
            )
            return redirect(back), 400
        if not names:
            flash(gettext("Columns: tick at least one column to show. Nothing was saved."), "error")
            return redirect(back), 400
        wanted = set(names)
        save_list_columns(db.session, current_user.id, self.endpoint, [n for n in available if n in wanted])
        db.session.commit()
        flash(gettext("Your columns for this list were saved."), "success")
        return redirect(back)

    def _columns_return_url(self) -> str:
        from views.login import safe_next

        target = safe_next(request.form.get("url"))
        index = url_for(".index_view")
        # back to this list (with its filters), nowhere else
        return target if target and target.split("?")[0] == index else index

    def eager_options(self):
        """The view's eager loads, and joins for the related columns the user added (no N+1,
        no extra statement: a many-to-one chain is joined into the page query)."""
        options = super().eager_options()
        chosen = self.chosen_column_names()
        if not chosen:
            return options
        default = set(self.default_column_names())
        covered = {name.split(".")[0] for name in default}
        covered |= {item.split(".")[0] for item in self.list_eager if isinstance(item, str)}
        mapper = sa_inspect(self.model)
        for name in sorted(chosen - default):
            path = self._relationship_path(name)
            if path and path.split(".")[0] not in covered and path.split(".")[0] in mapper.relationships:
                covered.add(path.split(".")[0])
                options.append(eager_option(self.model, path))
        return options

    def _relationship_path(self, name: str) -> str | None:
        """The relationships a column goes through: ``client`` → ``client``,
        ``contract.client.name`` → ``contract.client``; None for an own column."""
        cls, path = self.model, []
        for part in name.split("."):
            prop = getattr(getattr(cls, part, None), "property", None)
            target = getattr(prop, "mapper", None)
            if target is None:
                break
            path.append(part)
            cls = target.class_
        return ".".join(path) or None

    # -- the cells --------------------------------------------------------------------
    def state_label(self, name: str, value) -> str:
        """The label of a state value: the workflow's (status), else the column's choices."""
        workflow = getattr(self.model, "__workflow__", None)
        if name == "status" and workflow is not None:
            return workflow.state_label(value)
        choices = attr_info(getattr(self.model, name, None)).get("choices")
        return str(dict(choices).get(value, value)) if choices else str(value)

    def badge(self, name: str, value) -> Markup:
        colour = self.badge_colours.get(value) or STATE_BADGES.get(value, "light")
        return Markup('<span class="badge badge-{} crm-badge" data-state="{}">{}</span>').format(
            colour, value, self.state_label(name, value)
        )

    def _get_list_value(self, context, model, name, column_formatters, column_type_formatters):
        if name in self.badge_columns and name not in column_formatters and "." not in name:
            value = getattr(model, name, None)
            return self.badge(name, value) if value not in (None, "") else ""
        value = super()._get_list_value(context, model, name, column_formatters, column_type_formatters)
        if value in (None, ""):
            return value
        last = name.rpartition(".")[2]
        if last in NOWRAP_NAMES or isinstance(rec_getattr(model, name, None), NOWRAP_TYPES):
            return Markup('<span class="text-nowrap">{}</span>').format(value)
        return value


_UNSET = object()
