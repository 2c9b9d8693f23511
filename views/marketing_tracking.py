"""The public pages of a marketing e-mail (no login; models/marketing_send.py has the
rules): the open pixel ``/m/o/<token>.gif``, the click redirect ``/m/c/<token>/<n>`` (only
to the n-th URL written in that e-mail: no open redirect) and the unsubscribe page
``/m/u/<token>`` — GET shows a button and changes nothing (a scanner following links
unsubscribes nobody); POST unsubscribes: the page's own form carries a CSRF token, and the
RFC 8058 one-click POST of a mail client (body ``List-Unsubscribe=One-Click``, no cookie,
no token) is the one POST accepted without. A wrong or unknown token is a 404; a reused
one changes nothing twice."""

from __future__ import annotations

import base64

from flask import Blueprint, abort, current_app, redirect, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from models import marketing_send

bp = Blueprint("marketing_tracking", __name__)

#: a transparent 1×1 GIF
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
ONE_CLICK = "List-Unsubscribe=One-Click"


def _log(token: str):
    log = marketing_send.find_log(token)
    if log is None:
        abort(404)
    return log


@bp.route("/m/o/<token>.gif")
def pixel(token: str):
    marketing_send.record_open(_log(token), request.headers.get("User-Agent"))
    return PIXEL, 200, {"Content-Type": "image/gif", "Cache-Control": "no-store, private"}


@bp.route("/m/c/<token>/<int:n>")
def click(token: str, n: int):
    log = _log(token)
    target = marketing_send.click_target(log, n)
    if target is None:
        abort(404)
    marketing_send.record_click(log)
    return redirect(target, 302)


def _one_click() -> bool:
    """The RFC 8058 POST: a form body of exactly ``List-Unsubscribe=One-Click``."""
    return request.form.get("List-Unsubscribe") == "One-Click" and len(request.form) == 1


@bp.route("/m/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    log = _log(token)
    if request.method == "POST":
        one_click = _one_click()
        if not one_click and current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                validate_csrf(request.form.get("csrf_token"))
            except (ValidationError, CSRFError):
                return render_template("marketing/unsubscribe.html", log=log, done=False, expired=True), 400
        marketing_send.unsubscribe(log, "one-click" if one_click else "page")
        return render_template("marketing/unsubscribe.html", log=log, done=True)
    done = marketing_send.is_unsubscribed(log.address)
    return render_template("marketing/unsubscribe.html", log=log, done=done)


def init_app(app, csrf) -> None:
    app.register_blueprint(bp)
    csrf.exempt(unsubscribe)  # the page's own form is checked in the view (validate_csrf)
