"""Template globals shared by our pages and Flask-Admin's."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import flask_admin
from flask import Response, abort, request, url_for
from flask_babel import format_datetime, get_locale


@lru_cache(maxsize=4)
def _theme_css(swatch: str) -> str:
    """The Bootswatch theme shipped with Flask-Admin, without its Google Fonts @import
    (our CSP allows our own origin only; the system font stack is used instead)."""
    path = Path(flask_admin.__file__).parent / "static/bootstrap/bootstrap4/swatch" / swatch / "bootstrap.min.css"
    return re.sub(r"@import url\([^)]*\);", "", path.read_text(encoding="utf-8"))


def register_template_helpers(app) -> None:
    @app.route("/theme/<swatch>.css")
    def theme_css(swatch: str):
        if not re.fullmatch(r"[a-z]+", swatch):
            abort(404)
        try:
            css = _theme_css(swatch)
        except FileNotFoundError:
            abort(404)
        response = Response(css, mimetype="text/css")
        response.cache_control.public = True
        response.cache_control.max_age = 86400
        return response

    @app.route("/favicon.ico")
    def favicon():
        return Response(status=204)

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

    @app.template_filter("money")
    def money(value) -> str:
        from models.base import format_money
        return format_money(value)
