"""Login, logout and change-my-password pages (SPEC §2.3, §8). Flask-WTF forms;
CSRFProtect checks every POST of the site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, validators

from models import db
from models.auth import User
from models.sessions import attempt_login, end_all_sessions, end_session, start_session

bp = Blueprint("auth", __name__)

#: the key of the session token in the signed cookie (read by the user loader in app.py)
SESSION_KEY = "crm_sid"

BAD_LOGIN = _l("Unknown username or wrong password.")
#: answer of a refused login: (message, HTTP status); the same for every name, existing or not
REFUSALS = {
    "refused": (BAD_LOGIN, 401),
    "locked": (
        _l("This account is locked after 5 failed logins. Try again in 15 minutes or ask an administrator."),
        423,
    ),
    "throttled": (_l("Too many failed logins from your address. Wait 15 minutes and try again."), 429),
}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), [validators.InputRequired(), validators.Length(max=60)])
    password = PasswordField(_l("Password"), [validators.InputRequired()])
    next = HiddenField()


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), [validators.InputRequired()])
    new = PasswordField(_l("New password"), [validators.InputRequired(), validators.Length(min=8)])
    repeat = PasswordField(
        _l("Repeat the new password"),
        [validators.InputRequired(), validators.EqualTo("new", message=_l("The two entries differ."))],
    )


class LogoutForm(FlaskForm):
    pass


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def begin_session(user: User) -> None:
    """Open a database session row for ``user`` and put its token in the signed cookie
    (the caller commits): the user loader accepts the cookie only while that row is open."""
    session[SESSION_KEY] = start_session(user.id, request.remote_addr, request.user_agent.string)


def _close_session() -> None:
    session.pop(SESSION_KEY, None)
    logout_user()


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(form.next.data) or url_for("admin.index"))
    status = 200
    if form.validate_on_submit():
        result = attempt_login(
            form.username.data.strip(), form.password.data, request.remote_addr, request.user_agent.string
        )
        if result.answer == "success":
            end_session(session.get(SESSION_KEY))  # a login over another one replaces it
            begin_session(result.user)
            db.session.commit()
            login_user(result.user)
            return redirect(safe_next(form.next.data) or url_for("admin.index"))
        db.session.commit()
        message, status = REFUSALS[result.answer]
        flash(str(message), "error")
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    if not LogoutForm().validate_on_submit():
        abort(400)
    end_session(session.get(SESSION_KEY))
    db.session.commit()
    _close_session()
    flash(gettext("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/sessions/end", methods=["POST"])
@login_required
def logout_everywhere():
    """End every session of the current user, on every device, this one included."""
    if not LogoutForm().validate_on_submit():
        abort(400)
    end_all_sessions(current_user.id)
    db.session.commit()
    _close_session()
    flash(gettext("All your sessions were logged out, on every device. Log in again to continue."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append(gettext("The current password is wrong."))
        else:
            current_user.set_password(form.new.data)  # ends every session of the user …
            begin_session(current_user)  # … and this one continues in a new one
            db.session.commit()
            flash(gettext("Your password was changed. Your other sessions were logged out."), "success")
            return redirect(url_for("admin.index"))
    return render_template("change_password.html", form=form, logout_form=LogoutForm())
