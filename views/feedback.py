"""The public feedback page ``/feedback/<token>`` (no login, CSRF-protected, Chinese and
English, phone-sized) and, for staff, issuing a ticket's link (right ``service.edit``, in
scope, handled or archived) with the address to copy and a "send by e-mail" button.
A wrong, unknown and withdrawn token all get the same 404 page, so tokens cannot be probed.
The mechanism is in models/feedback.py; docs/feedback.md describes it."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from models import db, feedback
from models.mail import MailError, mail_configured, send_mail
from models.scope import in_scope
from models.service import ServiceTicket

bp = Blueprint("feedback", __name__)

MESSAGES = {
    "used": _l("This feedback link has already been used. Thank you!"),
    "expired": _l("This feedback link has expired. Please contact us if you would still like to tell us something."),
}


def _page(name: str, status: int = 200, **context):
    return render_template(f"feedback/{name}.html", **context), status


@bp.route("/feedback/<token>", methods=["GET", "POST"])
def form(token: str):
    ticket = feedback.find(token)
    found = feedback.state(ticket)
    if found == "unknown":
        return _page("closed", 404, message=feedback.UNKNOWN_LINK)
    if found != "open":
        return _page("closed", 410, message=MESSAGES[found])
    error, values = None, {}
    if request.method == "POST":
        values = {
            "stars": request.form.get("stars"),
            "reasons": request.form.getlist("reasons"),
            "comment": request.form.get("comment"),
        }
        try:
            feedback.answer(token, values["stars"], values["reasons"], values["comment"])
        except feedback.FeedbackError as refused:
            if refused.kind == "invalid":
                error = refused.message
            else:
                return _page(
                    "closed",
                    404 if refused.kind == "unknown" else 410,
                    message=MESSAGES.get(refused.kind, feedback.UNKNOWN_LINK),
                )
        else:
            return _page("thanks")
    return _page(
        "form",
        400 if error else 200,
        ticket=ticket,
        reasons=feedback.REASONS,
        error=error,
        values=values,
        comment_max=feedback.COMMENT_MAX,
    )


def _ticket_for_staff(ticket_id: int) -> ServiceTicket:
    if not current_user.can("service.edit"):
        abort(403)
    ticket = db.session.get(ServiceTicket, ticket_id)
    if ticket is None or not in_scope(ticket, current_user):
        abort(404)
    return ticket


def feedback_panel(ticket: ServiceTicket) -> dict | None:
    """What the ticket's details page shows about the feedback link (None: nothing to show):
    whether the user may issue one, the address to post it to, the state of the answer."""
    if ticket is None or ticket.status not in feedback.FEEDBACK_STATUSES:
        return None
    return {
        "may_issue": current_user.can("service.edit"),
        "issue_url": url_for("feedback.issue", ticket_id=ticket.id),
        "answered": ticket.feedback_at is not None,
        "expires_at": ticket.feedback_expires_at,
        "reasons": feedback.reason_labels(ticket.feedback_reasons),
    }


@bp.route("/admin/service-feedback/<int:ticket_id>/link", methods=["POST"])
@login_required
def issue(ticket_id: int):
    """Issue (or replace) the ticket's link; with ``send`` also mail it to the client."""
    ticket = _ticket_for_staff(ticket_id)
    try:
        token = feedback.issue_link(ticket)
    except feedback.FeedbackError as refused:
        abort(409, refused.message)
    link = url_for("feedback.form", token=token, _external=True)
    email = (ticket.client.email or "").strip() if ticket.client is not None else ""
    sent, mail_error = False, None
    if request.form.get("send") and mail_configured() and email:
        subject = gettext("Your opinion on our service (ticket #%(id)s)", id=ticket.id)
        text = gettext("Please tell us how we handled your request: %(link)s", link=link)
        try:
            send_mail(email, subject, text)
            sent = True
        except MailError as failed:
            mail_error = str(failed)
    db.session.commit()  # the new link holds even when the mail failed: it can be copied
    return render_template(
        "feedback/issued.html",
        ticket=ticket,
        link=link,
        email=email,
        may_mail=mail_configured() and bool(email),
        sent=sent,
        mail_error=mail_error,
        expires_at=ticket.feedback_expires_at,
    )


def client_satisfaction(client) -> tuple:
    """(average satisfaction of the client's answered tickets, how many) for its details page."""
    return feedback.client_satisfaction(db.session, client.id)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["feedback_panel"] = feedback_panel
    app.jinja_env.globals["client_satisfaction"] = client_satisfaction
