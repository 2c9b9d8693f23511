"""The public pages of a marketing e-mail (views/marketing_tracking.py): the open pixel
(human and machine opens told apart), the click redirect only to the URLs written in the
e-mail (no open redirect), and unsubscribing — GET changes nothing, the page's POST needs
its CSRF token, the RFC 8058 one-click POST needs none; wrong tokens are 404 and reused
ones change nothing twice; an unsubscribed address is skipped when queued again."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models.base import utcnow
from models.marketing_mail import EmailLog, EmailUnsubscribe, MarketingEmail
from models.marketing_send import Recipient, token_hash
from tests.conftest import csrf_token_from
from tests.factories import make_client, user
from tests.test_marketing_mail import queue_in

BODY = "您好 {{ contact_name }}：\n详情见 https://shop.example.com/spring?a=1&b=2 与 http://news.example.com/x 。"


def sent_row(session, address="reader@example.com", sent_ago=3600, body=BODY) -> tuple[EmailLog, str]:
    """A ledger row as the worker leaves it after sending (sent an hour ago), and its raw token."""
    email = MarketingEmail(subject="新品", body=body, owner=user(session, "marketing"), status="sent")
    session.add(email)
    session.flush()
    raw = secrets.token_urlsafe(32)
    log = EmailLog(
        email_id=email.id,
        address=address,
        status="sent",
        token=token_hash(raw),
        sent_at=utcnow() - timedelta(seconds=sent_ago),
    )
    session.add(log)
    session.commit()
    return log, raw


@pytest.fixture
def web(csrf_app):
    return csrf_app.test_client()


def reload(session, log) -> EmailLog:
    session.expire_all()
    return session.get(EmailLog, log.id)


HUMAN = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"}


def test_open_pixel_records_a_human_open_once(web, db_session):
    log, raw = sent_row(db_session)
    response = web.get(f"/m/o/{raw}.gif", headers=HUMAN)
    assert response.status_code == 200 and response.mimetype == "image/gif" and response.data.startswith(b"GIF89a")
    first = reload(db_session, log)
    assert (first.status, first.machine_open) == ("opened", False) and first.opened_at is not None
    assert web.get(f"/m/o/{raw}.gif", headers=HUMAN).status_code == 200  # reused: idempotent
    assert reload(db_session, log).opened_at == first.opened_at
    assert web.get(f"/m/o/{raw[:-1]}x.gif").status_code == 404
    assert web.get("/m/o/not-a-token.gif").status_code == 404


def test_scanner_and_instant_opens_are_machine_opens_and_give_way_to_a_human(web, db_session):
    log, raw = sent_row(db_session)
    web.get(f"/m/o/{raw}.gif", headers={"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"})
    row = reload(db_session, log)
    assert (row.status, row.machine_open) == ("sent", True) and row.opened_at is not None
    web.get(f"/m/o/{raw}.gif", headers=HUMAN)
    row = reload(db_session, log)
    assert (row.status, row.machine_open) == ("opened", False)

    fresh, fresh_raw = sent_row(db_session, "fresh@example.com", sent_ago=1)  # fetched at delivery
    web.get(f"/m/o/{fresh_raw}.gif", headers=HUMAN)
    row = reload(db_session, fresh)
    assert (row.status, row.machine_open) == ("sent", True)


def test_click_redirects_only_to_the_urls_of_the_email(web, db_session):
    log, raw = sent_row(db_session)
    response = web.get(f"/m/c/{raw}/1")
    assert response.status_code == 302 and response.headers["Location"] == "https://shop.example.com/spring?a=1&b=2"
    row = reload(db_session, log)
    assert row.status == "clicked" and row.clicked_at is not None
    assert web.get(f"/m/c/{raw}/2").headers["Location"] == "http://news.example.com/x"
    assert reload(db_session, log).clicked_at == row.clicked_at  # the first click is kept
    for n in (0, 3, 99):
        assert web.get(f"/m/c/{raw}/{n}").status_code == 404
    assert web.get(f"/m/c/{raw}/-1").status_code == 404
    assert web.get(f"/m/c/{raw}/1?next=https://evil.example.com").headers["Location"].startswith("https://shop.")
    assert web.get("/m/c/wrong-token/1").status_code == 404


def test_get_of_the_unsubscribe_page_changes_nothing_and_its_post_does(web, db_session):
    log, raw = sent_row(db_session)
    page = web.get(f"/m/u/{raw}")
    assert page.status_code == 200 and b'id="unsubscribe-button"' in page.data and b"reader@example.com" in page.data
    web.get(f"/m/u/{raw}")
    assert reload(db_session, log).status == "sent"
    assert db_session.execute(select(func.count()).select_from(EmailUnsubscribe)).scalar() == 0

    refused = web.post(f"/m/u/{raw}", data={})  # the page's form without its CSRF token
    assert refused.status_code == 400 and b'id="unsubscribe-error"' in refused.data
    assert reload(db_session, log).status == "sent"

    done = web.post(f"/m/u/{raw}", data={"csrf_token": csrf_token_from(page.data)})
    assert done.status_code == 200 and b'id="unsubscribe-done"' in done.data
    assert reload(db_session, log).status == "unsubscribed"
    [entry] = db_session.execute(select(EmailUnsubscribe)).scalars()
    assert (entry.address, entry.source) == ("reader@example.com", "page")

    again = web.post(f"/m/u/{raw}", data={"csrf_token": csrf_token_from(page.data)})  # reused: idempotent
    assert again.status_code == 200
    assert db_session.execute(select(func.count()).select_from(EmailUnsubscribe)).scalar() == 1
    assert b'id="unsubscribe-done"' in web.get(f"/m/u/{raw}").data
    assert web.get("/m/u/wrong").status_code == 404 and web.post("/m/u/wrong").status_code == 404


def test_one_click_post_unsubscribes_without_a_csrf_token(web, db_session):
    log, raw = sent_row(db_session)
    other = web.post(f"/m/u/{raw}", data={"List-Unsubscribe": "One-Click", "extra": "1"})
    assert other.status_code == 400  # not the RFC 8058 body: the page's CSRF rule holds
    response = web.post(
        f"/m/u/{raw}", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert reload(db_session, log).status == "unsubscribed"
    [entry] = db_session.execute(select(EmailUnsubscribe)).scalars()
    assert entry.source == "one-click"


def test_an_unsubscribed_address_is_skipped_when_queued_again(app, web, db_session):
    log, raw = sent_row(db_session, "leaver@example.com")
    web.post(f"/m/u/{raw}", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    client = make_client(db_session, "account_manager", email="Leaver@example.com")
    email = MarketingEmail(subject="第二封", body="你好", owner=user(db_session, "marketing"))
    db_session.add(email)
    db_session.commit()
    assert queue_in(
        app, email.id, [Recipient(client.email, client.name, client.contact_name, client_id=client.id)]
    ) == {
        "queued": 0,
        "skipped": 1,
    }
    db_session.expire_all()
    [row] = db_session.execute(select(EmailLog).where(EmailLog.email_id == email.id)).scalars()
    assert (row.status, row.skip_reason) == ("skipped", "unsubscribed")
    assert db_session.get(MarketingEmail, email.id).status == "sent"  # nobody left to send to


def test_a_queued_row_has_no_working_link_before_it_is_sent(app, web, db_session):
    client = make_client(db_session, "account_manager", email="later@example.com")
    email = MarketingEmail(subject="x", body="y https://a.example.com", owner=user(db_session, "marketing"))
    db_session.add(email)
    db_session.commit()
    queue_in(app, email.id, [Recipient(client.email, client.name, client.contact_name, client_id=client.id)])
    db_session.expire_all()
    [row] = db_session.execute(select(EmailLog).where(EmailLog.email_id == email.id)).scalars()
    # the stored value is a hash; neither it nor anything else opens a page of an unsent row
    assert web.get(f"/m/u/{row.token}").status_code == 404
    assert web.get(f"/m/c/{row.token}/1").status_code == 404
