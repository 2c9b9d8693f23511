"""Login, logout and change-my-password pages (SPEC §2.3, §8). Flask-WTF forms;
CSRFProtect checks every POST of the site."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import HiddenField, PasswordField, StringField, validators

from models import db
from models.auth import LoginLog, User
from models.base import utcnow

bp = Blueprint("auth", __name__)

BAD_LOGIN = _l("Unknown username or wrong password.")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), [validators.InputRequired(), validators.Length(max=60)])
    password = PasswordField(_l("Password"), [validators.InputRequired()])
    next = HiddenField()


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), [validators.InputRequired()])
    new = PasswordField(_l("New password"), [validators.InputRequired(), validators.Length(min=8)])
    repeat = PasswordField(_l("Repeat the new password"), [
        validators.InputRequired(), validators.EqualTo("new", message=_l("The two entries differ."))])


class LogoutForm(FlaskForm):
    pass


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    return target


def _ip_blocked(ip: str | None) -> bool:
    """Too many failed logins from this IP lately (kept in the database: every process
    of a cluster sees the same count)."""
    limit = current_app.config["LOGIN_IP_FAILURE_LIMIT"]
    since = utcnow() - timedelta(minutes=current_app.config["LOGIN_IP_WINDOW_MINUTES"])
    failures = db.session.execute(
        select(func.count()).select_from(LoginLog)
        .where(LoginLog.ip == ip, LoginLog.success.is_(False), LoginLog.logged_at >= since)).scalar()
    return failures >= limit


def _log(username: str, user: User | None, success: bool) -> None:
    db.session.add(LoginLog(username=username[:60], user_id=user.id if user else None,
                            ip=request.remote_addr,
                            user_agent=(request.user_agent.string or "")[:300], success=success))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(form.next.data) or url_for("admin.index"))
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        if _ip_blocked(request.remote_addr):
            flash(gettext("Too many failed logins from your address. Wait 15 minutes and try "
                          "again."), "error")
            _log(username, None, False)
            db.session.commit()
            return render_template("login.html", form=form), 429
        user = db.session.execute(select(User).where(User.username == username)).scalar()
        now = utcnow()
        if user is not None and user.is_locked(now):
            _log(username, user, False)
            db.session.commit()
            flash(gettext("This account is locked after 5 failed logins. Try again in 15 minutes "
                          "or ask an administrator."), "error")
            status = 423
        elif user is not None and user.check_password(form.password.data) and user.can_log_in():
            user.record_success(now)
            _log(username, user, True)
            db.session.commit()
            login_user(user)
            return redirect(safe_next(form.next.data) or url_for("admin.index"))
        else:
            if user is not None:
                user.record_failure(now)
            _log(username, user, False)
            db.session.commit()
            flash(str(BAD_LOGIN), "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    if not LogoutForm().validate_on_submit():
        abort(400)
    logout_user()
    flash(gettext("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append(gettext("The current password is wrong."))
        else:
            current_user.set_password(form.new.data)
            db.session.commit()
            flash(gettext("Your password was changed."), "success")
            return redirect(url_for("admin.index"))
    return render_template("change_password.html", form=form)
