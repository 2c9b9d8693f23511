"""Template globals shared by our pages and Flask-Admin's."""
from __future__ import annotations

from flask import request, url_for
from flask_babel import format_datetime, get_locale


def register_template_helpers(app) -> None:
    @app.context_processor
    def crm_globals():
        def lang_url(lang: str) -> str:
            args = request.args.to_dict(flat=False)
            args["lang"] = [lang]
            return url_for(request.endpoint or "admin.index", **(request.view_args or {}), **args) \
                if request.endpoint else f"?lang={lang}"
        from views.login import LogoutForm
        return {"lang_url": lang_url, "current_locale": str(get_locale() or "zh_CN"),
                "logout_form": LogoutForm}

    @app.template_filter("crm_datetime")
    def crm_datetime(value) -> str:
        return format_datetime(value, "yyyy-MM-dd HH:mm:ss") if value else ""
