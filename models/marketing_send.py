"""Sending marketing e-mail (营销邮件, SPEC §4.7, issue 13 items 4–5): the sandboxed
placeholders, the queue, the worker and the tracking of the ledger (``email_log``).

* **Rendering.** Subject and body are Jinja templates checked before they are saved
  (:func:`check_template`): only the declared :data:`PLACEHOLDERS`, the filters of
  :data:`FILTERS`, ``if`` and ``for … in range(n)`` loops with literal bounds (at most
  :data:`MAX_LOOP_ITERATIONS` iterations in all) — no attribute, item or call other than
  ``range``, no arithmetic. They render in Jinja's ``ImmutableSandboxedEnvironment`` and the
  output is cut off (refused) past :data:`MAX_OUTPUT`. The HTML part is made from the plain
  text: escaped, paragraphs kept, each URL the author wrote a link through the click
  redirect (:func:`email_links`), an open pixel and an unsubscribe link.
* **Queue** (:func:`queue`, in the request): draft → queued by one conditional UPDATE (a
  double click queues once) and one ``email_log`` row per recipient, ``queued`` or
  ``skipped`` (no address, unsubscribed, a duplicate address). Nothing is sent there.
* **Worker** (:func:`send_queued`, ``flask --app app send-emails``): batches of
  ``CRM_MAIL_BATCH`` rows over one SMTP connection, at most ``CRM_MAIL_RATE`` messages a
  second. Each row is claimed (queued → sending, ``claimed_at``) and committed *before* the
  message goes out, then marked sent / failed (the error) / bounced (the server refused the
  recipient) right after. A row still ``sending`` after ``CRM_MAIL_CLAIM_STALE_SECONDS``
  belongs to a worker that died between the claim and the confirmation: the message may or
  may not have left, so it is marked failed "interrupted, not resent" — nobody is mailed
  twice. An address that unsubscribed is skipped at queue time and again at send time.
* **Tracking** (views/marketing_tracking.py): the token of a row is generated when it is
  sent and only its SHA-256 is stored; :func:`record_open`, :func:`record_click` and
  :func:`unsubscribe` are conditional UPDATEs, so a reused link changes nothing twice.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import and_, case, exists, func, insert, or_, select, update

from . import clock, db, settings
from .audit import audit_note, audit_unchanged
from .mail import MailError, compose, connect
from .marketing_mail import EmailLog, EmailUnsubscribe, MarketingEmail

# -- configuration (CRM_<NAME> in the environment), declared once ------------------------
#: name → (default, what it is); read with :func:`config`
CONFIG = {
    "MAIL_BATCH": (50, "rows sent over one SMTP connection"),
    "MAIL_RATE": (5.0, "messages a second at most (0: no limit)"),
    "MAIL_CLAIM_STALE_SECONDS": (600.0, "a row claimed longer ago than this was interrupted"),
    "MAIL_POLL_SECONDS": (10.0, "how often a worker without --once looks for queued rows"),
    "BASE_URL": ("http://127.0.0.1:5000", "the public address the links in e-mails point to"),
    "MAIL_UNSUBSCRIBE_MAILTO": ("", "the mailto: of List-Unsubscribe (default: the sender)"),
}


def config(name: str):
    """The configured value of ``name`` (one of :data:`CONFIG`), as the default's type."""
    default = CONFIG[name][0]
    value = current_app.config.get(name)
    if value is None or value == "":
        return default
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return default


# -- placeholders and the sandbox ---------------------------------------------------------
@dataclass(frozen=True)
class Placeholder:
    name: str
    label: object
    sample: str


#: the placeholders a subject or body may use (shown on the form)
PLACEHOLDERS = (
    Placeholder("contact_name", _l("Contact name"), "张伟"),
    Placeholder("company", _l("Company name"), "北京示例科技有限公司"),
    Placeholder("owner_name", _l("Account manager (owner) name"), "李娜"),
    Placeholder("email", _l("Recipient's e-mail address"), "zhang.wei@example.com"),
    Placeholder("our_company", _l("Our company name"), "草莓客户关系管理系统"),
)
PLACEHOLDER_NAMES = frozenset(p.name for p in PLACEHOLDERS)
#: the filters a template may use (each harmless on a string)
FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default", "truncate", "replace", "e", "escape")
MAX_LOOP_ITERATIONS = 100
MAX_OUTPUT = {"subject": 300, "body": 20_000}
URL_RE = re.compile(r"https?://[^\s<>\"'）。，]+")
_TRAILING = ".,;:!?)]}"


class TemplateRefused(ValueError):
    """A subject or body that may not be saved or rendered; the message names the field."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """No attribute is safe, no call but ``range`` (bounded); only :data:`FILTERS`."""

    def is_safe_attribute(self, obj, attr, value):
        return False

    def is_safe_callable(self, obj):
        return obj is _bounded_range


def _bounded_range(*args):
    values = range(*args)
    if len(values) > MAX_LOOP_ITERATIONS:
        raise TemplateRefused(str(_l("a loop may run at most %(n)s times", n=MAX_LOOP_ITERATIONS)))
    return values


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, keep_trailing_newline=True)
    base_filters = env.filters
    env.filters = {name: base_filters[name] for name in FILTERS}
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "string", "number")}
    env.globals = {"range": _bounded_range}
    return env


SANDBOX = _environment()
_FIELD_LABELS = {"subject": _l("Subject"), "body": _l("Body")}
_ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
    nodes.Filter,
    nodes.Test,
    nodes.For,
)


def _refuse(field: str, reason) -> TemplateRefused:
    return TemplateRefused(
        str(
            _l(
                "%(field)s: %(reason)s. Use only the placeholders listed under the form, e.g. {{ contact_name }}.",
                field=str(_FIELD_LABELS.get(field, field)),
                reason=str(reason),
            )
        )
    )


def _range_length(node) -> int | None:
    """The number of iterations of ``range(<literal ints>)``, else None."""
    if not (isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range"):
        return None
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not 1 <= len(node.args) <= 3:
        return None
    if not all(isinstance(a, nodes.Const) and type(a.value) is int for a in node.args):
        return None
    try:
        return len(range(*(a.value for a in node.args)))
    except ValueError:  # a step of 0
        return None


def _check_node(field: str, node, names: frozenset, multiplier: int) -> None:
    if isinstance(node, nodes.For):
        length = _range_length(node.iter)
        if length is None:
            raise _refuse(field, _l("a loop may only go over range(n) with a number n"))
        if node.recursive or node.test is not None or not isinstance(node.target, nodes.Name):
            raise _refuse(field, _l("this kind of loop is not allowed"))
        multiplier *= max(length, 1)
        if multiplier > MAX_LOOP_ITERATIONS:
            raise _refuse(field, _l("a loop may run at most %(n)s times", n=MAX_LOOP_ITERATIONS))
        inner = names | {node.target.name}
        for child in (*node.body, *node.else_):
            _check_node(field, child, inner, multiplier)
        return
    if not isinstance(node, _ALLOWED):
        what = type(node).__name__
        if isinstance(node, nodes.BinExpr | nodes.UnaryExpr):
            what = "arithmetic"
        if isinstance(node, nodes.Assign | nodes.AssignBlock | nodes.With):
            what = "assignment"
        reason = {
            "arithmetic": _l("arithmetic is not allowed"),
            "assignment": _l("assignments are not allowed"),
            "Getattr": _l("attributes (a dot after a name) are not allowed"),
            "Getitem": _l("indexing ([…]) is not allowed"),
            "Call": _l("calling functions is not allowed"),
        }.get(what, _l("“%(what)s” is not allowed", what=what))
        raise _refuse(field, reason)
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in names:
        raise _refuse(field, _l("unknown placeholder {{ %(name)s }}", name=node.name))
    if isinstance(node, nodes.Name) and node.ctx != "load":
        raise _refuse(field, _l("assignments are not allowed"))
    if isinstance(node, nodes.Filter | nodes.Test):
        if node.name not in (FILTERS if isinstance(node, nodes.Filter) else SANDBOX.tests):
            raise _refuse(field, _l("the filter or test “%(name)s” is not allowed", name=node.name))
        if node.dyn_args or node.dyn_kwargs or not all(isinstance(a, nodes.Const) for a in node.args):
            raise _refuse(field, _l("a filter's arguments must be plain values"))
    for child in node.iter_child_nodes():
        _check_node(field, child, names, multiplier)


def _compile(field: str, source: str):
    try:
        tree = SANDBOX.parse(source or "")
    except TemplateSyntaxError as exc:
        raise _refuse(field, _l("line %(line)s: %(message)s", line=exc.lineno, message=exc.message)) from exc
    _check_node(field, tree, PLACEHOLDER_NAMES, 1)
    return SANDBOX.from_string(source or "")


def render_field(field: str, source: str, values: dict) -> str:
    """``source`` (the subject or the body) rendered with ``values``; raises
    :class:`TemplateRefused` naming the field for a template that is not allowed or whose
    output is longer than :data:`MAX_OUTPUT`."""
    template = _compile(field, source)
    limit, parts, size = MAX_OUTPUT[field], [], 0
    try:
        for chunk in template.generate({name: values.get(name) or "" for name in PLACEHOLDER_NAMES}):
            size += len(chunk)
            if size > limit:
                raise _refuse(field, _l("the text would be longer than %(n)s characters", n=limit))
            parts.append(chunk)
    except TemplateRefused as exc:
        raise exc if str(exc).startswith(str(_FIELD_LABELS[field])) else _refuse(field, exc) from None
    except Exception as exc:  # a sandbox refusal or a filter's error on odd values
        raise _refuse(field, exc) from exc
    text = "".join(parts)
    return " ".join(text.split()) if field == "subject" else text


def sample_values() -> dict:
    return {p.name: p.sample for p in PLACEHOLDERS}


def check_template(subject: str, body: str) -> None:
    """Refuse (:class:`TemplateRefused`) a subject or body that cannot be sent: checked with
    the sample values, and with long ones (a loop over a long name must stay in bounds)."""
    for values in (sample_values(), {p.name: "x" * 200 for p in PLACEHOLDERS}):
        render_field("subject", subject, values)
        render_field("body", body, values)


# -- the message -----------------------------------------------------------------------------
def email_links(body: str) -> list[str]:
    """The URLs written in the body, in order, each once: the only targets of the click
    redirect ``/m/c/<token>/<n>`` (n counts from 1). URLs a placeholder brings in are not
    linked."""
    found = []
    for match in URL_RE.finditer(body or ""):
        url = match.group(0).rstrip(_TRAILING)
        if url not in found:
            found.append(url)
    return found


def _base() -> str:
    return config("BASE_URL").rstrip("/")


OPEN_PATH, CLICK_PATH, UNSUBSCRIBE_PATH = "/m/o/%s.gif", "/m/c/%s/%d", "/m/u/%s"


def to_html(text: str, links: list[str], token: str | None) -> str:
    """The HTML alternative of the rendered plain ``text``: escaped, paragraphs and line
    breaks kept, the author's URLs linked (through the click redirect when ``token``)."""
    pieces, last = [], 0
    for match in URL_RE.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        pieces.append(html.escape(text[last : match.start()]))
        if url in links:
            href = _base() + CLICK_PATH % (token, links.index(url) + 1) if token else url
            pieces.append(f'<a href="{html.escape(href)}">{html.escape(url)}</a>')
        else:
            pieces.append(html.escape(url))
        last = match.start() + len(url)
    pieces.append(html.escape(text[last:]))
    paragraphs = re.split(r"\n\s*\n", "".join(pieces).strip())
    body = "\n".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p)
    if token:
        unsubscribe = _base() + UNSUBSCRIBE_PATH % token
        body += (
            f'\n<p style="color:#888;font-size:12px"><a href="{html.escape(unsubscribe)}">'
            f"{html.escape(str(_l('Unsubscribe')))}</a></p>"
            f'\n<img src="{html.escape(_base() + OPEN_PATH % token)}" width="1" height="1" alt="">'
        )
    return f'<!DOCTYPE html><html><body style="font-family:sans-serif">\n{body}\n</body></html>'


def build_message(email: MarketingEmail, address: str, values: dict, token: str | None):
    """The message for one recipient (``token`` None: a test message without tracking)."""
    subject = render_field("subject", email.subject, values)
    text = render_field("body", email.body, values)
    plain = text
    if token:
        plain += "\n\n-- \n" + str(_l("Unsubscribe: %(url)s", url=_base() + UNSUBSCRIBE_PATH % token)) + "\n"
    message = compose(address, subject, plain, to_html(text, email_links(email.body), token))
    if token:
        mailto = config("MAIL_UNSUBSCRIBE_MAILTO") or message["From"]
        message["List-Unsubscribe"] = f"<{_base() + UNSUBSCRIBE_PATH % token}>, <mailto:{mailto}?subject=unsubscribe>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def recipient_values(log: EmailLog) -> dict:
    """The placeholders' values for one ledger row (its client or lead as they are now)."""
    values = {"email": log.address, "our_company": settings.company_name()}
    if log.client is not None:
        values.update(
            contact_name=log.client.contact_name,
            company=log.client.name,
            owner_name=log.client.owner.name if log.client.owner else "",
        )
    elif log.lead is not None:
        person = log.lead.assigned_to or log.lead.owner
        values.update(contact_name=log.lead.contact_name, company=log.lead.company_name, owner_name=person.name)
    return values


def send_test(email: MarketingEmail, user) -> str:
    """Send the e-mail to ``user`` now (one message, sample values, no tracking); returns
    the address. Raises :class:`TemplateRefused`, :class:`MailError` or ValueError (the user
    has no address)."""
    address = normalise(user.email)
    if not address:
        raise ValueError(str(_l("Your user has no e-mail address: enter one on your user record first.")))
    values = {**sample_values(), "owner_name": user.name or user.username, "email": address}
    values["our_company"] = settings.company_name()
    from .mail import send

    send(build_message(email, address, values, None))
    return address


# -- the queue -----------------------------------------------------------------------------
@dataclass
class Recipient:
    """One address of a segment: its client or lead and the names a preview may show."""

    address: str
    company: str
    contact_name: str
    client_id: int | None = None
    lead_id: int | None = None


def normalise(address: str | None) -> str:
    return (address or "").strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class QueueRefused(ValueError):
    pass


def queue(email: MarketingEmail, recipients: list[Recipient], user) -> dict:
    """Queue ``email`` for ``recipients`` in the caller's transaction: one conditional
    UPDATE draft → queued (the loser of a double click gets :class:`QueueRefused`), then one
    ledger row per distinct address. Returns the counts {queued, skipped}."""
    check_template(email.subject, email.body)
    now = clock.now()
    won = db.session.execute(
        update(MarketingEmail)
        .where(MarketingEmail.id == email.id, MarketingEmail.status == "draft")
        .values(status="queued", queued_at=now, queued_by_id=user.id, version=MarketingEmail.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise QueueRefused(str(_l("%(email)s is already queued or sent: it is queued only once.", email=str(email))))
    unsubscribed = set(db.session.execute(select(EmailUnsubscribe.address)).scalars())
    seen: set[str] = set()
    rows = []
    for person in recipients:
        address = normalise(person.address)
        status, reason = "queued", None
        if not address:
            status, reason = "skipped", "no_address"
            address = f"#{'c' if person.client_id else 'l'}{person.client_id or person.lead_id}"  # unique per row
        elif address in seen:
            status, reason = "skipped", "duplicate"
            address = f"{address}#{'c' if person.client_id else 'l'}{person.client_id or person.lead_id}"
        elif address in unsubscribed:
            status, reason = "skipped", "unsubscribed"
        seen.add(address)
        rows.append(
            {
                "email_id": email.id,
                "client_id": person.client_id,
                "lead_id": person.lead_id,
                "address": address[:120],
                "status": status,
                "skip_reason": reason,
                "token": token_hash(secrets.token_urlsafe(32)),  # replaced when sent: never revealed
            }
        )
    if rows:
        db.session.execute(insert(EmailLog), rows)
    skipped = sum(r["status"] == "skipped" for r in rows)
    db.session.execute(
        update(MarketingEmail)
        .where(MarketingEmail.id == email.id)
        .values(recipient_count=len(rows), skipped_count=skipped)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(email)
    audit_note(db.session, "queue", str(_l("%(n)s recipients", n=len(rows) - skipped)))
    audit_unchanged(db.session, email)
    if not rows or skipped == len(rows):
        _finish(email.id)
    return {"queued": len(rows) - skipped, "skipped": skipped}


# -- the worker ------------------------------------------------------------------------------
SENT_STATES = ("sent", "opened", "clicked", "unsubscribed")
INTERRUPTED = "interrupted after it was claimed; not resent, so nobody gets it twice"


def refresh_counts(email_ids) -> None:
    """The e-mails' counts from their ledger (SQL aggregates), committed by the caller."""
    for email_id in set(email_ids):
        sent, failed, skipped = db.session.execute(
            select(
                func.count(case((EmailLog.status.in_(SENT_STATES), 1))),
                func.count(case((EmailLog.status.in_(("failed", "bounced")), 1))),
                func.count(case((EmailLog.status == "skipped", 1))),
            ).where(EmailLog.email_id == email_id)
        ).one()
        db.session.execute(
            update(MarketingEmail)
            .where(MarketingEmail.id == email_id)
            .values(sent_count=sent, failed_count=failed, skipped_count=skipped)
            .execution_options(synchronize_session=False)
        )


def _finish(email_id: int) -> None:
    """Mark the e-mail sent once none of its rows is queued or being sent."""
    pending = exists().where(EmailLog.email_id == email_id, EmailLog.status.in_(("queued", "sending")))
    db.session.execute(
        update(MarketingEmail)
        .where(MarketingEmail.id == email_id, MarketingEmail.status.in_(("queued", "sending")), ~pending)
        .values(status="sent", sent_at=clock.now(), version=MarketingEmail.version + 1)
        .execution_options(synchronize_session=False)
    )


def release_interrupted() -> int:
    """Rows claimed longer ago than ``CRM_MAIL_CLAIM_STALE_SECONDS`` and never confirmed:
    failed (interrupted), not resent. Committed; returns how many."""
    limit = clock.now() - timedelta(seconds=config("MAIL_CLAIM_STALE_SECONDS"))
    stale = and_(EmailLog.status == "sending", or_(EmailLog.claimed_at.is_(None), EmailLog.claimed_at <= limit))
    ids = db.session.execute(select(EmailLog.email_id).where(stale)).scalars().all()
    count = 0
    if ids:
        count = db.session.execute(update(EmailLog).where(stale).values(status="failed", error=INTERRUPTED)).rowcount
        refresh_counts(ids)
        for email_id in set(ids):
            _finish(email_id)
    db.session.commit()
    return count


def _claim(log_id: int) -> str | None:
    """Claim one queued row (committed): its new raw token, or None when another worker
    has it or the address unsubscribed meanwhile (then the row is skipped)."""
    raw = secrets.token_urlsafe(32)
    unsubscribed = exists().where(EmailUnsubscribe.address == EmailLog.address)
    won = db.session.execute(
        update(EmailLog)
        .where(EmailLog.id == log_id, EmailLog.status == "queued", ~unsubscribed)
        .values(status="sending", claimed_at=clock.now(), token=token_hash(raw))
    ).rowcount
    if not won:
        db.session.execute(
            update(EmailLog)
            .where(EmailLog.id == log_id, EmailLog.status == "queued", unsubscribed)
            .values(status="skipped", skip_reason="unsubscribed")
        )
    db.session.commit()
    return raw if won else None


def _mark(log_id: int, status: str, error: str | None = None) -> None:
    values = {"status": status, "error": error}
    if status == "sent":
        values["sent_at"] = clock.now()
    db.session.execute(update(EmailLog).where(EmailLog.id == log_id, EmailLog.status == "sending").values(**values))
    db.session.commit()


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def send_batch(log_ids: list[int]) -> dict:
    """Send the rows ``log_ids`` over one SMTP connection, each claimed first."""
    counts = {"sent": 0, "failed": 0, "bounced": 0, "skipped": 0}
    rate = config("MAIL_RATE")
    gap = 1.0 / rate if rate > 0 else 0.0
    smtp = connect()  # MailError: nothing claimed, the rows stay queued
    next_at = time.monotonic()
    try:
        for log_id in log_ids:
            raw = _claim(log_id)
            if raw is None:
                counts["skipped"] += 1
                continue
            log = db.session.get(EmailLog, log_id, populate_existing=True)
            try:
                message = build_message(log.email, log.address, recipient_values(log), raw)
            except TemplateRefused as exc:
                _mark(log_id, "failed", str(exc))
                counts["failed"] += 1
                continue
            if gap:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at, time.monotonic()) + gap
            try:
                refused = smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                refusals = "; ".join(f"{code} {_text(text)}" for code, text in exc.recipients.values())
                _mark(log_id, "bounced", refusals)
                counts["bounced"] += 1
                continue
            except smtplib.SMTPResponseException as exc:
                _mark(log_id, "failed", f"{exc.smtp_code} {_text(exc.smtp_error)}")
                counts["failed"] += 1
                try:  # the server refused this message: the connection goes on with the next
                    smtp.rset()
                except (OSError, smtplib.SMTPException):
                    break
                continue
            except (OSError, smtplib.SMTPException) as exc:  # the connection broke: the rest wait
                _mark(log_id, "failed", str(exc) or type(exc).__name__)
                counts["failed"] += 1
                break
            if refused:
                _mark(log_id, "bounced", str(refused))
                counts["bounced"] += 1
            else:
                _mark(log_id, "sent")
                counts["sent"] += 1
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return counts


def send_queued(once: bool = True, limit_batches: int | None = None) -> dict:
    """The worker: release interrupted claims, then send queued rows batch by batch until
    none is left (``once``) or forever (polling). Returns the totals."""
    totals = {"sent": 0, "failed": 0, "bounced": 0, "skipped": 0, "interrupted": 0, "batches": 0}
    while True:
        totals["interrupted"] += release_interrupted()
        ids = (
            db.session.execute(
                select(EmailLog.id).where(EmailLog.status == "queued").order_by(EmailLog.id).limit(config("MAIL_BATCH"))
            )
            .scalars()
            .all()
        )
        if ids:
            email_ids = set(db.session.execute(select(EmailLog.email_id).where(EmailLog.id.in_(ids))).scalars())
            db.session.execute(
                update(MarketingEmail)
                .where(MarketingEmail.id.in_(email_ids), MarketingEmail.status == "queued")
                .values(status="sending", version=MarketingEmail.version + 1)
            )
            db.session.commit()
            try:
                counts = send_batch(ids)
            finally:
                db.session.rollback()
                refresh_counts(email_ids)
                for email_id in email_ids:
                    _finish(email_id)
                db.session.commit()
            totals["batches"] += 1
            for key, value in counts.items():
                totals[key] += value
            if limit_batches is not None and totals["batches"] >= limit_batches:
                return totals
            continue
        if once:
            return totals
        time.sleep(config("MAIL_POLL_SECONDS"))


# -- tracking ---------------------------------------------------------------------------------
#: user agents of mail scanners and proxies that fetch images and links by themselves
SCANNER_AGENTS = (
    "googleimageproxy",
    "yahoomailproxy",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "microsoft office",
    "python-requests",
    "curl/",
    "wget",
    "bot",
    "spider",
    "crawler",
    "scanner",
    "headless",
)
#: an open this soon after sending is a machine's (a scanner or a prefetch)
MACHINE_OPEN_SECONDS = 10


def find_log(token: str) -> EmailLog | None:
    """The sent ledger row of ``token`` (None for a wrong, unknown or never-sent one)."""
    if not token or len(token) > 100:
        return None
    log = db.session.scalar(select(EmailLog).where(EmailLog.token == token_hash(token)))
    return log if log is not None and log.sent_at is not None else None


def is_machine(log: EmailLog, user_agent: str | None) -> bool:
    agent = (user_agent or "").lower()
    if any(name in agent for name in SCANNER_AGENTS):
        return True
    return log.sent_at is not None and clock.now() - log.sent_at < timedelta(seconds=MACHINE_OPEN_SECONDS)


def record_open(log: EmailLog, user_agent: str | None) -> None:
    """The first open is recorded (a machine's open gives way to a later human one);
    a human open moves the row from sent to opened. Committed."""
    machine = is_machine(log, user_agent)
    first = EmailLog.opened_at.is_(None)
    where = first if machine else or_(first, EmailLog.machine_open.is_(True))
    db.session.execute(
        update(EmailLog).where(EmailLog.id == log.id, where).values(opened_at=clock.now(), machine_open=machine)
    )
    if not machine:
        db.session.execute(
            update(EmailLog).where(EmailLog.id == log.id, EmailLog.status == "sent").values(status="opened")
        )
    db.session.commit()


def click_target(log: EmailLog, n: int) -> str | None:
    """The n-th URL of the e-mail's body (1-based), None when there is none."""
    links = email_links(log.email.body)
    return links[n - 1] if 1 <= n <= len(links) else None


def record_click(log: EmailLog) -> None:
    """The first click is recorded; the row becomes clicked (unless unsubscribed). Committed."""
    db.session.execute(
        update(EmailLog).where(EmailLog.id == log.id, EmailLog.clicked_at.is_(None)).values(clicked_at=clock.now())
    )
    db.session.execute(
        update(EmailLog).where(EmailLog.id == log.id, EmailLog.status.in_(("sent", "opened"))).values(status="clicked")
    )
    db.session.commit()


def unsubscribe(log: EmailLog, source: str) -> None:
    """The row's address is never mailed again (idempotent; committed)."""
    table = EmailUnsubscribe.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    db.session.execute(
        dialect_insert(table)
        .values(address=log.address, at=clock.now(), source=source)
        .on_conflict_do_nothing(index_elements=["address"])
    )
    db.session.execute(
        update(EmailLog).where(EmailLog.id == log.id, EmailLog.status != "unsubscribed").values(status="unsubscribed")
    )
    db.session.commit()


def is_unsubscribed(address: str) -> bool:
    return db.session.scalar(select(exists().where(EmailUnsubscribe.address == normalise(address))))


def register_cli(app) -> None:
    """``flask --app app send-emails [--once]``."""
    import click

    @app.cli.command("send-emails")
    @click.option("--once", is_flag=True, help="Send what is queued, then exit (else keep polling).")
    def send_emails_command(once):
        """Send queued marketing e-mails in batches (CRM_MAIL_BATCH) at CRM_MAIL_RATE a second."""
        from .mail import mail_configured

        if not mail_configured():
            raise click.ClickException("CRM_MAIL_SERVER is not set: no e-mail can be sent")
        try:
            totals = send_queued(once=once)
        except MailError as exc:
            raise click.ClickException(f"the SMTP server could not be reached: {exc}") from exc
        click.echo(
            "Sent {sent}, failed {failed}, bounced {bounced}, skipped {skipped}, "
            "interrupted {interrupted} in {batches} batch(es).".format(**totals)
        )
