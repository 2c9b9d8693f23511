"""The dashboard at /admin/ (SPEC §7.9; for now: who you are, my due reminders and what
you may open)."""

from __future__ import annotations

from flask import current_app, g, redirect, request
from flask_admin import AdminIndexView, expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user

#: minutes → label of the postpone choices on the reminder card
POSTPONE_CHOICES = [(15, _l("15 minutes")), (60, _l("1 hour")), (240, _l("4 hours")), (1440, _l("1 day"))]


class DashboardView(AdminIndexView):
    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        from .crud import login_url

        return redirect(login_url())

    @expose("/")
    def index(self):
        modules = []
        for item in self.admin.menu():
            if item.is_category():
                children = [c for c in item.get_children() if c.is_accessible() and c.is_visible()]
                if children:
                    modules.append((item.name, [(c.name, c.get_url()) for c in children]))
            elif item.is_accessible() and item.is_visible() and item.get_url() != request.path:
                modules.append((item.name, [(item.name, item.get_url())]))
        reminders = None
        if "reminders" in current_app.blueprints:  # views.reminders.init_app(app) was called
            from .reminders import LIST_LIMIT, due_reminders

            reminders = due_reminders(current_user)
            if len(reminders) < LIST_LIMIT:  # the whole list: the navbar count needs no query
                g.crm_due_reminders = len(reminders)
        return self.render(
            "admin/crm/dashboard.html", modules=modules, reminders=reminders, postpone_choices=POSTPONE_CHOICES
        )
