"""Customer feedback by link (models/feedback.py, views/feedback.py): issue, answer once,
expired / used / wrong links, validation, XSS in the comment, CSRF, two answers at the same
moment (the database lets one through), staff issuing and mailing the link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import db
from models.auth import Department, Right, Role, User
from models.base import utcnow
from models.lookups import ServiceType
from models.service import ServiceTicket
from tests.conftest import csrf_token_from, run_parallel
from tests.factories import lookup, make_client, user


def _ticket(session, status="handled", client_owner="account_manager", **fields) -> ServiceTicket:
    client = make_client(session, client_owner, email="kehu@example.com")
    ticket = ServiceTicket(
        type=lookup(session, ServiceType, "投诉"),
        title="发票寄错地址",
        client=client,
        request="客户投诉发票寄错",
        status=status,
        **{"created_by": user(session, "clerk"), **fields},
    )
    session.add(ticket)
    session.flush()
    return ticket


def _issued(session, status="handled", days=None) -> tuple[int, str]:
    from models import feedback

    ticket = _ticket(session, status)
    token = feedback.issue_link(ticket, days)
    session.commit()
    return ticket.id, token


def _reload(session, ticket_id) -> ServiceTicket:
    session.expire_all()
    return session.get(ServiceTicket, ticket_id)


def test_issue_stores_only_the_hash_and_reissuing_replaces_the_link(db_session):
    from models import feedback

    ticket_id, token = _issued(db_session)
    ticket = _reload(db_session, ticket_id)
    assert len(token) >= 43 and token not in (ticket.feedback_token_hash or "")
    assert ticket.feedback_token_hash == feedback.token_hash(token)
    assert timedelta(days=13, hours=23) < ticket.feedback_expires_at - utcnow() <= timedelta(days=14)
    second = feedback.issue_link(ticket)
    db_session.commit()
    assert feedback.find(token) is None and feedback.find(second).id == ticket_id
    with pytest.raises(feedback.FeedbackError) as refused:
        feedback.issue_link(_ticket(db_session, "assigned"))
    assert refused.value.kind == "invalid"


def test_answer_lands_on_the_ticket_once(db_session):
    from models import feedback

    ticket_id, token = _issued(db_session)
    feedback.answer(token, "4", ["fast", "professional"], "  很好  ")
    ticket = _reload(db_session, ticket_id)
    assert (ticket.satisfaction, ticket.feedback_reasons, ticket.feedback_comment) == (4, "fast,professional", "很好")
    assert ticket.feedback_at is not None
    with pytest.raises(feedback.FeedbackError) as refused:
        feedback.answer(token, 1, [], "改主意了")
    assert refused.value.kind == "used"
    assert _reload(db_session, ticket_id).satisfaction == 4


@pytest.mark.parametrize(
    ("stars", "reasons", "comment"),
    [(0, [], None), (6, [], None), ("x", [], None), (3, ["bribe"], None), (3, [], "字" * 1001)],
)
def test_invalid_answers_are_refused(db_session, stars, reasons, comment):
    from models import feedback

    ticket_id, token = _issued(db_session)
    with pytest.raises(feedback.FeedbackError) as refused:
        feedback.answer(token, stars, reasons, comment)
    assert refused.value.kind == "invalid"
    assert _reload(db_session, ticket_id).feedback_at is None


def test_expired_and_wrong_links(db_session):
    from models import feedback

    ticket_id, token = _issued(db_session)
    _reload(db_session, ticket_id).feedback_expires_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    with pytest.raises(feedback.FeedbackError) as expired:
        feedback.answer(token, 5)
    assert expired.value.kind == "expired"
    with pytest.raises(feedback.FeedbackError) as wrong:
        feedback.answer(token[:-2] + "xx", 5)
    assert wrong.value.kind == "unknown"


def test_the_public_page_answers_once(app, db_session):
    ticket_id, token = _issued(db_session)
    web = app.test_client()
    page = web.get(f"/feedback/{token}", headers={"Accept-Language": "zh-CN"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "发票寄错地址" in text and 'name="stars"' in text and "响应慢" in text
    assert "admin/client" not in text and "退出" not in text  # no admin menu
    answered = web.post(f"/feedback/{token}", data={"stars": "2", "reasons": ["slow"], "comment": "太慢"})
    assert answered.status_code == 200 and 'id="feedback-thanks"' in answered.get_data(as_text=True)
    assert _reload(db_session, ticket_id).satisfaction == 2
    again = web.get(f"/feedback/{token}", headers={"Accept-Language": "en"})
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)
    refused = web.post(f"/feedback/{token}", data={"stars": "5"})
    assert refused.status_code == 410 and _reload(db_session, ticket_id).satisfaction == 2


def test_english_and_a_bad_form(app, db_session):
    _, token = _issued(db_session)
    web = app.test_client()
    page = web.get(f"/feedback/{token}", headers={"Accept-Language": "en-US"})
    assert "How did we do?" in page.get_data(as_text=True)
    assert 'id="lang-zh"' in page.get_data(as_text=True)
    bad = web.post(f"/feedback/{token}", data={"stars": "9"}, headers={"Accept-Language": "en-US"})
    assert bad.status_code == 400 and "1 to 5 stars" in bad.get_data(as_text=True)


def test_wrong_and_unknown_tokens_look_the_same(app, db_session):
    ticket_id, token = _issued(db_session)
    web = app.test_client()
    wrong = web.get(f"/feedback/{token[:-3]}abc", headers={"Accept-Language": "en"})
    unknown = web.get("/feedback/nothing-here", headers={"Accept-Language": "en"})
    assert wrong.status_code == unknown.status_code == 404
    strip = lambda r: re.sub(r"/feedback/[^\"']*", "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong) == strip(unknown) and "not valid" in strip(wrong)
    _reload(db_session, ticket_id).feedback_expires_at = utcnow() - timedelta(minutes=1)
    db_session.commit()
    expired = web.get(f"/feedback/{token}", headers={"Accept-Language": "en"})
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_csrf_is_required(csrf_app):
    with csrf_app.app_context():
        ticket_id, token = _issued(db.session)
    web = csrf_app.test_client()
    assert web.post(f"/feedback/{token}", data={"stars": "5"}).status_code == 400
    page = web.get(f"/feedback/{token}")
    answered = web.post(f"/feedback/{token}", data={"stars": "5", "csrf_token": csrf_token_from(page.data)})
    assert answered.status_code == 200
    with csrf_app.app_context():
        assert db.session.get(ServiceTicket, ticket_id).satisfaction == 5


def test_two_answers_at_the_same_moment(app, db_session):
    from models import feedback

    ticket_id, token = _issued(db_session)

    def send(stars):
        def call():
            with app.app_context():
                try:
                    return feedback.answer(token, stars, [], f"第{stars}个").satisfaction
                finally:
                    db.session.remove()

        return call

    results = run_parallel([send(1), send(5)])
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, feedback.FeedbackError)]
    assert len(winners) == 1 and len(losers) == 1 and losers[0].kind == "used", results
    ticket = _reload(db_session, ticket_id)
    assert ticket.satisfaction == winners[0] and ticket.feedback_comment == f"第{winners[0]}个"


def test_the_comment_is_shown_escaped(app, db_session):
    from flask import render_template_string
    from flask_login import login_user

    from models import feedback

    ticket_id, token = _issued(db_session)
    feedback.answer(token, 3, ["friendly"], '<script>alert("x")</script>')
    with app.test_request_context("/admin/"):
        ticket = db.session.get(ServiceTicket, ticket_id)
        login_user(user(db.session, "admin"))
        html = render_template_string(
            "{% set panel = feedback_panel(ticket) %}{% include 'feedback/_panel.html' %}", ticket=ticket
        )
    assert "<script>" not in html and "&lt;script&gt;" in html and "态度好" in html


def _give_service_edit(session):
    right = session.scalar(select(Right).where(Right.code == "service.edit"))
    if right is None:  # the service rights come with the ticket views (s19-svc)
        right = Right(code="service.edit", type="action", text="编辑服务")
        session.add(right)
    role = session.scalar(select(Role).where(Role.code == "service"))
    if right not in role.rights:
        role.rights.append(right)
    session.commit()


def test_staff_issue_the_link_and_mail_it(app, client_as, db_session, smtp_server):
    _give_service_edit(db_session)
    ticket = _ticket(db_session, "archived", assigned_to=user(db_session, "service"))
    stranger = User(username="desk_stranger", name="外部门", role=user(db_session, "clerk").role, password_hash="!")
    stranger.department = Department(name="外地分公司")
    other = _ticket(db_session, "archived", client_owner=stranger, created_by=stranger)  # another department's
    db_session.commit()
    agent = client_as("service")
    page = agent.post(f"/admin/service-feedback/{ticket.id}/link")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    link = re.search(r'id="feedback-link" readonly value="([^"]+)"', text).group(1)
    assert "/feedback/" in link and 'id="feedback-mail"' in text
    mailed = agent.post(f"/admin/service-feedback/{ticket.id}/link", data={"send": "1"})
    assert 'id="feedback-sent"' in mailed.get_data(as_text=True)
    [(recipients, message)] = smtp_server.messages
    new_link = re.search(r'id="feedback-link" readonly value="([^"]+)"', mailed.get_data(as_text=True)).group(1)
    assert recipients == ["kehu@example.com"] and new_link in message.get_body(("plain",)).get_content()
    assert app.test_client().get(link.split("localhost", 1)[1]).status_code == 404  # replaced
    assert agent.post(f"/admin/service-feedback/{other.id}/link").status_code == 404  # out of scope
    assert client_as("clerk").post(f"/admin/service-feedback/{ticket.id}/link").status_code == 403


def test_no_mail_button_without_mail(client_as, db_session):
    _give_service_edit(db_session)
    ticket = _ticket(db_session, "handled", assigned_to=user(db_session, "service"))
    db_session.commit()
    page = client_as("service").post(f"/admin/service-feedback/{ticket.id}/link")
    assert page.status_code == 200 and 'id="feedback-mail"' not in page.get_data(as_text=True)


def test_client_satisfaction_is_the_average_of_answers(db_session):
    from models import feedback

    first_id, first = _issued(db_session)
    client = _reload(db_session, first_id).client
    second = _ticket(db_session, "archived", satisfaction=None)
    second.client = client
    token = feedback.issue_link(second)
    db_session.commit()
    feedback.answer(first, 5)
    feedback.answer(token, 2)
    assert feedback.client_satisfaction(db_session, client.id) == (3.5, 2)


def test_phone_sized_page_in_chromium(browser, csrf_app, csrf_server, tmp_path):
    from tests.conftest import screenshot_folder, shot

    with csrf_app.app_context():
        ticket_id, token = _issued(db.session)
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{csrf_server}/feedback/{token}")
        assert page.locator("#feedback-form").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways: {width}px"
        box = page.locator("label[for=stars-5]").bounding_box()
        assert box["height"] >= 40 and box["x"] + box["width"] <= 375
        folder = screenshot_folder(tmp_path)
        shot(page, folder / "feedback-phone.png", full_page=True)
        page.locator("label[for=stars-4]").click()
        page.locator("input[value=professional]").check()
        page.fill("#comment", "处理得很专业")
        page.click("#feedback-submit")
        assert page.locator("#feedback-thanks").is_visible()
    finally:
        context.close()
    with csrf_app.app_context():
        ticket = db.session.get(ServiceTicket, ticket_id)
        assert (ticket.satisfaction, ticket.feedback_reasons, ticket.feedback_comment) == (
            4,
            "professional",
            "处理得很专业",
        )


def test_the_client_page_shows_the_satisfaction(db_session, client_as):
    from models import feedback

    ticket_id, token = _issued(db_session)
    feedback.answer(token, 4)
    client_id = _reload(db_session, ticket_id).client_id
    html = client_as("admin").get(f"/admin/client/details/?id={client_id}&lang=en").get_data(as_text=True)
    shown = re.search(r'id="client-satisfaction">(.*?)</p>', html, re.S).group(1)
    assert "4.0 / 5" in shown and "1 answers" in shown


def test_the_ticket_page_offers_the_link_and_shows_the_answer(client_as, db_session):
    from models import feedback

    _give_service_edit(db_session)
    waiting = _ticket(db_session, "assigned", assigned_to=user(db_session, "service"))
    handled = _ticket(db_session, "handled", assigned_to=user(db_session, "service"))
    db_session.commit()
    agent = client_as("service")
    assert 'id="feedback-issue"' not in agent.get(f"/admin/service/details/?id={waiting.id}").get_data(as_text=True)
    page = agent.get(f"/admin/service/details/?id={handled.id}").get_data(as_text=True)
    assert f'action="/admin/service-feedback/{handled.id}/link"' in page and 'id="feedback-issue"' in page
    token = feedback.issue_link(db_session.get(ServiceTicket, handled.id))
    db_session.commit()
    feedback.answer(token, 4, [], "师傅很专业")
    answered = agent.get(f"/admin/service/details/?id={handled.id}").get_data(as_text=True)
    assert "师傅很专业" in answered and "★★★★" in answered and 'id="feedback-issue"' not in answered


def test_a_ticket_archived_with_the_agents_rating_can_still_ask_the_customer(db_session):
    from models import feedback
    from models.workflow import perform

    ticket = _ticket(db_session, "handled", assigned_to=user(db_session, "service"))
    perform(ticket, "archive", user(db_session, "admin"), satisfaction=3, comment="电话回访")
    db_session.commit()
    assert ticket.status == "archived" and ticket.feedback_at is not None
    token = feedback.issue_link(ticket)
    db_session.commit()
    feedback.answer(token, 5, ["professional"], "后来解决了")
    answered = _reload(db_session, ticket.id)
    assert (answered.satisfaction, answered.feedback_comment) == (5, "后来解决了")
    with pytest.raises(feedback.FeedbackError, match="already been used"):
        feedback.answer(token, 1)
