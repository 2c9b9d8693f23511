"""Template globals shared by our pages and Flask-Admin's."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import flask_admin
from flask import Response, abort, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

#: the largest integer a database column (BIGINT) holds; ids beyond it name no record
INT64_MAX = 2**63 - 1
#: list pages beyond this are refused (page × page size must stay a valid OFFSET)
MAX_PAGE = 2**31
#: request parameters holding page numbers or column indexes of a list
PAGING_PARAMETERS = ("page", "page_size", "sort", "desc")
#: request parameters holding a URL to go back to (put into a Location header)
REDIRECT_PARAMETERS = ("next", "url")
_INTEGER = re.compile(r"[+-]?\d+")
#: a seeded bilingual text: "中文 / English" (Chinese on the left, plain ASCII on the right)
_BILINGUAL = re.compile(r"(.*[\u3400-\u9fff].*?) / ([\x20-\x7e]+)", re.S)


def db_int(value) -> int | None:
    """``value`` as an integer a database id column can hold, else None (not a number,
    or beyond 64 bits: such a record cannot exist)."""
    text = str(value).strip() if value is not None else ""
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if -INT64_MAX <= number <= INT64_MAX else None


def parse_ids(raw) -> list[int]:
    """The record ids in a comma-separated list (``ids=1,2,3``) or a list of values;
    anything that cannot be an id is left out."""
    values = raw.split(",") if isinstance(raw, str) else (raw or [])
    return [number for number in (db_int(v) for v in values) if number is not None]


def viewer_language(text: str | None, chinese_of: dict | None = None) -> str | None:
    """A seeded bilingual text in the viewer's language only: "中文 / English" split, or an
    English text of ``chinese_of`` (e.g. the seeded role descriptions) shown in Chinese.
    Anything else is shown as it was entered."""
    if not text:
        return text
    chinese = str(get_locale() or "zh_CN").startswith("zh")
    match = _BILINGUAL.fullmatch(text.strip())
    if match:
        return match.group(1).strip() if chinese else match.group(2).strip()
    return (chinese_of or {}).get(text, text) if chinese else text


def columns_but(columns: tuple[str, ...], *left_out: str) -> tuple[str, ...]:
    """``columns`` in their order without ``left_out``: one list declared, the others derived
    from it (e.g. the export columns are the details columns but the approval trail). A name
    that is not in ``columns`` is a typo and refused when the view class is defined."""
    unknown = set(left_out) - set(columns)
    if unknown:
        raise ValueError(f"not among the columns: {sorted(unknown)}")
    return tuple(column for column in columns if column not in left_out)


def attachment(filename: str, fallback: str) -> str:
    """A ``Content-Disposition`` for a download named ``filename`` (e.g. Chinese): an
    ASCII ``filename`` for old clients — the name itself when it is plain ASCII, else
    ``fallback`` (e.g. ``statement-12.pdf``), never an empty stem — and the real name
    as RFC 5987 ``filename*=UTF-8''…``."""
    plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._ ()-]*", filename or "")
    ascii_name = filename if plain else (re.sub(r"[^A-Za-z0-9._()-]", "_", fallback) or "download")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename or ascii_name, safe='')}"


_ID_NAME = re.compile(r"(?:^|[_-])ids?$")


def _is_id_parameter(name: str) -> bool:
    """``id``, ``ids``, ``client_id``, ``flt_ids``, ``items-0-id``, and the ids of list actions."""
    return name in ("rowid", "list_form_pk") or bool(_ID_NAME.search(name))


def refuse_malformed_parameters() -> None:
    """One guard for every request: ids beyond 64 bits → 404 (no such record), page
    numbers out of range → 400, CR/LF in a return URL → 400 — rather than a database
    OverflowError or a header injection answered with a 500."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and db_int(value) is None:
            abort(404)
    for source in (request.args, request.form):
        for name, values in source.lists():
            for value in values:
                if name in REDIRECT_PARAMETERS and any(ch in value for ch in "\r\n\0"):
                    abort(400)
                if name in PAGING_PARAMETERS and _INTEGER.fullmatch(value.strip()) and not 0 <= int(value) <= MAX_PAGE:
                    abort(400)
                if _is_id_parameter(name):
                    tokens = [t for t in value.split(",") if _INTEGER.fullmatch(t.strip())]
                    if any(db_int(t) is None for t in tokens):
                        abort(404)


@lru_cache(maxsize=4)
def _theme_css(swatch: str) -> str:
    """The Bootswatch theme shipped with Flask-Admin, without its Google Fonts @import
    (our CSP allows our own origin only; the system font stack is used instead)."""
    path = Path(flask_admin.__file__).parent / "static/bootstrap/bootstrap4/swatch" / swatch / "bootstrap.min.css"
    return re.sub(r"@import url\([^)]*\);", "", path.read_text(encoding="utf-8"))


#: status → (title, what it means and what to do) of our error page
ERROR_TEXTS = {
    400: (
        _l("Bad request"),
        _l(
            "The request contained a value that cannot be right (a number out of "
            "range, a line break in an address …). Go back and try again."
        ),
    ),
    403: (_l("Not allowed"), _l("You do not have the right to do this. Ask an administrator if you need it.")),
    404: (_l("Not found"), _l("This page or record does not exist, or it is outside your data scope.")),
    405: (_l("Not allowed"), _l("This address does not accept this kind of request.")),
    413: (_l("File too large"), _l("The upload is larger than the server accepts. Send a smaller file.")),
    500: (
        _l("Something went wrong"),
        _l("The server could not finish this request; nothing was saved. Try again, or tell an administrator."),
    ),
}
#: any other refusal (a status without a text of its own above)
OTHER_ERROR = (_l("Request refused"), _l("The server refused this request. Go back and try again."))


def error_page(error: HTTPException):
    """Our page for every refusal and failure (400, 403, 404, 500 …), registered once for
    the whole app — Flask-Admin's views included: what happened and what to do, in the
    user's language, with a way back, and the refusal's own reason when it gave one."""
    code = error.code or 500
    title, message = ERROR_TEXTS.get(code, OTHER_ERROR)
    detail = error.description if code != 500 and error.description != type(error).description else None
    if code == 500:
        from models import db

        db.session.rollback()  # the failed transaction must not leak into the page's own queries
    return render_template("error.html", code=code, title=title, message=message, detail=detail), code


def register_template_helpers(app) -> None:
    app.before_request(refuse_malformed_parameters)
    app.register_error_handler(HTTPException, error_page)

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
            return (
                url_for(request.endpoint or "admin.index", **(request.view_args or {}), **args)
                if request.endpoint
                else f"?lang={lang}"
            )

        from views.crud.fields import picker_locale
        from views.login import LogoutForm

        return {
            "lang_url": lang_url,
            "current_locale": str(get_locale() or "zh_CN"),
            "logout_form": LogoutForm,
            "picker_locale": picker_locale,
        }

    @app.template_filter("crm_datetime")
    def crm_datetime(value) -> str:
        return format_datetime(value, "yyyy-MM-dd HH:mm:ss") if value else ""

    @app.template_filter("money")
    def money(value) -> str:
        from models.base import format_money

        return format_money(value)
