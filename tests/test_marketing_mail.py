"""Marketing e-mail (issue 13 items 4, 5, 9; models/marketing_send.py): the sandbox refuses
escapes, the queue writes one ledger row per recipient with the skip reasons, and the
worker sends through a real SMTP server (aiosmtpd on 127.0.0.1): placeholders rendered,
List-Unsubscribe / List-Unsubscribe-Post / Message-ID headers, a refused recipient bounced,
a 550 recorded failed with the error, and a worker killed mid-batch then restarted mails
each recipient exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select

from models.marketing_mail import EmailLog, EmailUnsubscribe, MarketingEmail
from models.marketing_send import (
    INTERRUPTED,
    Recipient,
    TemplateRefused,
    check_template,
    queue,
    render_field,
    send_queued,
    token_hash,
)
from tests.factories import make_client, user

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ a test SMTP server
class Handler:
    """Collects what it accepts; refuses the addresses in ``refuse_rcpt`` (550 at RCPT),
    answers 550 to DATA for those in ``fail_data``, and holds the ``hang_at``-th message
    until ``release`` is set (then answers 451 and keeps nothing)."""

    def __init__(self):
        self.messages = []
        self.refuse_rcpt: set[str] = set()
        self.fail_data: set[str] = set()
        self.hang_at: int | None = None
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.seen = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse_rcpt:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.seen += 1
        if self.hang_at is not None and self.seen == self.hang_at:
            self.hanging.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "451 4.3.0 aborted"
        if set(envelope.rcpt_tos) & self.fail_data:
            return "550 5.7.1 message rejected as spam"
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"

    def received(self) -> list[str]:
        return [to for tos, _ in self.messages for to in tos]


@pytest.fixture
def smtp(app):
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_DEFAULT_SENDER": "market@example.com",
        "MAIL_RATE": 0,
        "BASE_URL": "https://crm.example.test",
    }
    app.config.update(settings)
    try:
        yield handler
    finally:
        handler.release.set()
        controller.stop()
        for key in settings:
            app.config.pop(key, None)


def make_email(session, subject="{{ company }} 春季新品", body=None, owner="marketing") -> MarketingEmail:
    email = MarketingEmail(
        subject=subject,
        body=body
        or "{{ contact_name }} 您好：\n\n欢迎访问 https://shop.example.test/spring?x=1 了解详情。\n\n{{ owner_name }}",
        owner=user(session, owner),
    )
    session.add(email)
    session.flush()
    return email


def clients_with(session, addresses, owner="account_manager"):
    return [
        make_client(session, owner, name=f"收件公司{i}有限公司", email=address, contact_name=f"联系人{i}")
        for i, address in enumerate(addresses)
    ]


def as_recipients(clients):
    return [Recipient(c.email or "", c.name, c.contact_name, client_id=c.id) for c in clients]


def queue_in(app, email_id, recipients):
    from flask_babel import force_locale

    from models import db

    with app.app_context(), force_locale("en"):
        email = db.session.get(MarketingEmail, email_id)
        counts = queue(email, recipients, db.session.get(type(email.owner), email.owner_id))
        db.session.commit()
        return counts


def work(app):
    with app.app_context():
        return send_queued(once=True)


def ledger(session, email_id):
    session.expire_all()
    rows = session.execute(select(EmailLog).where(EmailLog.email_id == email_id).order_by(EmailLog.id)).scalars()
    return {row.address: row for row in rows}


# ------------------------------------------------------------------------- the sandbox
@pytest.mark.parametrize(
    "source, reason",
    [
        ("{{ contact_name.__class__.__mro__ }}", "attributes"),
        ("{{ ''.__class__ }}", "attributes"),
        ("{{ contact_name['upper'] }}", "indexing"),
        ("{{ lipsum() }}", "calling functions"),
        ("{{ range(10**9) }}", "calling functions"),
        ("{% for i in range(10**9) %}x{% endfor %}", "range(n) with a number"),
        ("{% for i in range(1000000) %}x{% endfor %}", "at most 100 times"),
        ("{% for i in range(20) %}{% for j in range(20) %}x{% endfor %}{% endfor %}", "at most 100 times"),
        ("{% for c in company %}{{ c }}{% endfor %}", "range(n) with a number"),
        ("{{ company * 100000 }}", "arithmetic"),
        ("{% set x = 1 %}", "assignments"),
        ("{{ secret_key }}", "unknown placeholder {{ secret_key }}"),
        ("{{ company|attr('__class__') }}", "filter or test “attr”"),
        ("{% include 'login.html' %}", "“Include” is not allowed"),
        ("{{ contact_name ", "line 1"),
    ],
)
def test_sandbox_escapes_are_refused_naming_the_field(app, source, reason):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        with pytest.raises(TemplateRefused) as refused:
            check_template("Hello", source)
        assert str(refused.value).startswith("Body: ") and reason in str(refused.value)
        with pytest.raises(TemplateRefused, match="^Subject: "):
            check_template(source, "Hello")


def test_output_is_limited_and_placeholders_render(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        values = {"contact_name": "王五", "company": "华东贸易", "owner_name": "李娜"}
        assert (
            render_field("body", "{{ contact_name }}@{{ company|upper }} {{ owner_name }}", values)
            == "王五@华东贸易 李娜"
        )
        assert render_field("body", "{% if email %}x{% else %}none{% endif %}", values) == "none"
        with pytest.raises(TemplateRefused, match="longer than 300 characters"):
            render_field("subject", "{% for i in range(100) %}{{ company }}{% endfor %}", {"company": "x" * 10})
        with pytest.raises(TemplateRefused, match="^Body: .*longer than 20000"):
            check_template("s", "{% for i in range(100) %}{{ company }}{{ company }}{% endfor %}")


# ------------------------------------------------------------------ queue and the worker
def test_queue_writes_the_ledger_and_the_worker_sends_each_once(app, db_session, smtp):
    s = db_session
    clients = clients_with(s, ["a@example.com", "B@Example.com", "b@example.com", None, "gone@example.com"])
    s.add(EmailUnsubscribe(address="gone@example.com", source="page"))
    email = make_email(s)
    s.commit()
    assert queue_in(app, email.id, as_recipients(clients)) == {"queued": 2, "skipped": 3}
    rows = ledger(s, email.id)
    assert [(r.status, r.skip_reason) for r in rows.values()] == [
        ("queued", None),
        ("queued", None),
        ("skipped", "duplicate"),
        ("skipped", "no_address"),
        ("skipped", "unsubscribed"),
    ]
    assert not smtp.messages  # the request only queues
    s.expire_all()
    assert s.get(MarketingEmail, email.id).status == "queued"

    totals = work(app)
    assert (totals["sent"], totals["failed"]) == (2, 0)
    assert sorted(smtp.received()) == ["a@example.com", "b@example.com"]
    by_address = {tos[0]: message for tos, message in smtp.messages}
    message = by_address["a@example.com"]
    assert message["Subject"] == "收件公司0有限公司 春季新品"
    assert message["Message-ID"].startswith("<") and message["From"] == "market@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url, mailto = [part.strip(" <>") for part in message["List-Unsubscribe"].split(",")]
    assert unsubscribe_url.startswith("https://crm.example.test/m/u/") and mailto.startswith(
        "mailto:market@example.com"
    )
    token = unsubscribe_url.rsplit("/", 1)[1]
    rows = ledger(s, email.id)
    assert rows["a@example.com"].token == token_hash(token) and rows["a@example.com"].status == "sent"
    text = message.get_body(("plain",)).get_content()
    owner = user(s, "account_manager").name
    assert text.startswith("联系人0 您好：") and owner in text and "{{" not in text
    assert f"https://crm.example.test/m/u/{token}" in text
    html = message.get_body(("html",)).get_content()
    assert f'href="https://crm.example.test/m/c/{token}/1"' in html
    assert f'src="https://crm.example.test/m/o/{token}.gif"' in html
    email = s.get(MarketingEmail, email.id)
    assert (email.status, email.recipient_count, email.sent_count, email.skipped_count) == ("sent", 5, 2, 3)

    assert work(app)["sent"] == 0 and len(smtp.messages) == 2  # a second run sends nobody again


def test_refused_recipient_bounces_and_a_550_fails_with_the_error(app, db_session, smtp):
    s = db_session
    clients = clients_with(s, ["ok@example.com", "nobody@example.com", "spam@example.com"])
    email = make_email(s)
    s.commit()
    smtp.refuse_rcpt.add("nobody@example.com")
    smtp.fail_data.add("spam@example.com")
    queue_in(app, email.id, as_recipients(clients))
    totals = work(app)
    assert (totals["sent"], totals["bounced"], totals["failed"]) == (1, 1, 1)
    rows = ledger(s, email.id)
    assert rows["ok@example.com"].status == "sent"
    assert (
        rows["nobody@example.com"].status == "bounced"
        and "550 5.1.1 no such mailbox" in rows["nobody@example.com"].error
    )
    assert (
        rows["spam@example.com"].status == "failed" and "550 5.7.1 message rejected" in rows["spam@example.com"].error
    )
    assert smtp.received() == ["ok@example.com"]
    email = s.get(MarketingEmail, email.id)
    assert (email.status, email.sent_count, email.failed_count) == ("sent", 1, 2)


def test_an_address_unsubscribed_after_queueing_is_not_mailed(app, db_session, smtp):
    s = db_session
    clients = clients_with(s, ["stay@example.com", "leave@example.com"])
    email = make_email(s)
    s.commit()
    queue_in(app, email.id, as_recipients(clients))
    s.add(EmailUnsubscribe(address="leave@example.com", source="page"))
    s.commit()
    work(app)
    assert smtp.received() == ["stay@example.com"]
    rows = ledger(s, email.id)
    assert (rows["leave@example.com"].status, rows["leave@example.com"].skip_reason) == ("skipped", "unsubscribed")


def test_a_worker_killed_mid_batch_then_restarted_mails_each_recipient_once(app, db_session, smtp, database_url):
    """The 4th message hangs in the server; the worker is killed there (kill -9). Its claimed
    row is marked failed as interrupted (it may have left: never resent); a new worker sends
    the rest: every other recipient exactly once."""
    s = db_session
    addresses = [f"r{i}@example.com" for i in range(8)]
    email = make_email(s)
    clients = clients_with(s, addresses)
    s.commit()
    queue_in(app, email.id, as_recipients(clients))
    smtp.hang_at = 4
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "CRM_MAIL_SERVER": "127.0.0.1",
        "CRM_MAIL_PORT": str(app.config["MAIL_PORT"]),
        "CRM_MAIL_DEFAULT_SENDER": "market@example.com",
        "CRM_MAIL_BATCH": "3",
        "CRM_MAIL_RATE": "0",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "send-emails", "--once"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert smtp.hanging.wait(60), worker.stderr.read().decode()[-2000:] if worker.poll() is not None else ""
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(30)
    smtp.release.set()
    assert sorted(smtp.received()) == addresses[:3]
    rows = ledger(s, email.id)
    assert [r.status for r in rows.values()] == ["sent"] * 3 + ["sending"] + ["queued"] * 4

    totals = work(app)  # a claim younger than the stale limit may be a slow worker's: left alone
    assert (totals["interrupted"], totals["sent"]) == (0, 4)
    assert ledger(s, email.id)["r3@example.com"].status == "sending"
    assert s.get(MarketingEmail, email.id).status == "sending"
    app.config["MAIL_CLAIM_STALE_SECONDS"] = 0
    try:
        totals = work(app)
    finally:
        app.config.pop("MAIL_CLAIM_STALE_SECONDS")
    assert (totals["interrupted"], totals["sent"]) == (1, 0)
    received = smtp.received()
    assert sorted(received) == sorted(addresses[:3] + addresses[4:]) and len(set(received)) == len(received)
    rows = ledger(s, email.id)
    assert (rows["r3@example.com"].status, rows["r3@example.com"].error) == ("failed", INTERRUPTED)
    email = s.get(MarketingEmail, email.id)
    assert (email.status, email.sent_count, email.failed_count) == ("sent", 7, 1)
