"""Outgoing e-mail (SPEC §2.1 ``CRM_MAIL_*``): one sender for every notification, through
the standard library's SMTP client. Configured by ``CRM_MAIL_SERVER`` (required to send),
``CRM_MAIL_PORT`` (25; 465 with SSL), ``CRM_MAIL_USE_TLS`` (STARTTLS), ``CRM_MAIL_USE_SSL``,
``CRM_MAIL_USERNAME``/``CRM_MAIL_PASSWORD``, ``CRM_MAIL_DEFAULT_SENDER`` and
``CRM_MAIL_TIMEOUT`` (seconds). Without a server, :func:`mail_configured` is False and
callers fall back to what needs no e-mail (an in-app reminder, a link to copy).
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app


class MailError(RuntimeError):
    """The message could not be handed to the SMTP server (the reason in the text)."""


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def _flag(name: str) -> bool:
    value = current_app.config.get(name, False)
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")


def compose(to: str | list[str], subject: str, text: str, html: str | None = None) -> EmailMessage:
    """One message (UTF-8, a plain-text part and an optional HTML alternative)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config.get("MAIL_DEFAULT_SENDER") or config.get("MAIL_USERNAME") or "crm@localhost"
    message["To"] = ", ".join(to) if isinstance(to, list) else to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="crm")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def connect() -> smtplib.SMTP:
    """An open, logged-in SMTP connection (for a batch; close it with ``quit()``)."""
    config = current_app.config
    host, port = config["MAIL_SERVER"], int(config.get("MAIL_PORT") or (465 if _flag("MAIL_USE_SSL") else 25))
    timeout = float(config.get("MAIL_TIMEOUT") or 30)
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout)
            if _flag("MAIL_USE_SSL")
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        if _flag("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{host}:{port}: {exc}") from exc
    return smtp


def send(message: EmailMessage, smtp: smtplib.SMTP | None = None) -> None:
    """Hand one message to the server (over ``smtp`` when given, else a connection of its own)."""
    own = smtp is None
    try:
        smtp = smtp or connect()
        smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(str(exc)) from exc
    finally:
        if own and smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass


def send_mail(to: str | list[str], subject: str, text: str, html: str | None = None) -> None:
    """Compose and send one message; raises :class:`MailError` when the server refuses it."""
    send(compose(to, subject, text, html))
