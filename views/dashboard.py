"""The dashboard at /admin/ (SPEC §7.9; for now: who you are and what you may open)."""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user


class DashboardView(AdminIndexView):
    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        from .base import login_url
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
        return self.render("admin/crm/dashboard.html", modules=modules)
