"""Outgoing e-mail (models/mail.py) through a real SMTP server (aiosmtpd): Chinese subject
and body arrive intact, an HTML alternative is kept, and a server that is not there gives a
MailError naming it (never an unhandled socket error)."""

from __future__ import annotations

import socket

import pytest

from models.mail import MailError, mail_configured, send_mail


def test_a_message_reaches_the_server_intact(app, smtp_server):
    with app.app_context():
        assert mail_configured()
        send_mail(
            "张三 <zhang@example.test>", "服务单 #12 即将超时", "请尽快处理。\n客户：华东贸易", html="<p>请尽快处理</p>"
        )
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["zhang@example.test"]
    assert message["Subject"] == "服务单 #12 即将超时"
    assert message["From"] == "crm@example.test"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "请尽快处理。\n客户：华东贸易"
    assert "请尽快处理" in message.get_body(("html",)).get_content()


def test_no_server_configured_and_no_server_listening(app):
    with app.app_context():
        assert not mail_configured()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nothing listens there
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)
        try:
            with pytest.raises(MailError, match=f"127.0.0.1:{port}"):
                send_mail("a@example.test", "x", "y")
        finally:
            for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT"):
                app.config.pop(key, None)
