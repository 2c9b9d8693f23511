"""Appointment reminders (SPEC §4.3): remind_at ≤ scheduled_at; my due reminders on the
dashboard with done / postpone, and their count in the navigation bar."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.conftest import count_queries, csrf_token_from, english, login
from tests.factories import lookup

_seq = itertools.count(1)


def _wired(app):
    from views.reminders import init_app

    init_app(app)  # harmless when app.py already did it
    return app


# the worker's shared apps (conftest.shared_app), not one new app per test (about 1.4 s each)
@pytest.fixture
def app(shared_app):
    return _wired(shared_app())


@pytest.fixture
def csrf_app(shared_app):
    return _wired(shared_app(WTF_CSRF_ENABLED=True))


# ----------------------------------------------------------------------------- helpers
def make_client(session, owner="account_manager"):
    return factories.make_client(session, owner)


def make_appointment(
    session,
    client,
    user="account_manager",
    remind_in=-timedelta(minutes=5),
    scheduled_in=timedelta(hours=2),
    status="待办",
    content=None,
):
    from models.base import utcnow
    from models.customers import Appointment
    from models.lookups import AppointmentType

    now = utcnow()
    appointment = Appointment(
        client=client,
        type=lookup(session, AppointmentType),
        scheduled_at=now + scheduled_in,
        remind_at=now + remind_in,
        content=content or f"预约内容{next(_seq)}",
        status=status,
        user=factories.user(session, user) if user else None,
    )
    session.add(appointment)
    session.flush()
    return appointment


def reminder_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="reminder-(\d+)"', html)]


def navbar_count(html: str) -> int | None:
    match = re.search(r'id="reminder-count">(\d+)<', html)
    return int(match.group(1)) if match else None


def reload(session, model, pk):
    session.expire_all()
    return session.get(model, pk)


# ------------------------------------------------------------------ remind_at ≤ scheduled_at
def test_reminder_after_the_appointment_is_refused_by_the_form(client_as, db_session):
    from models.customers import Appointment
    from models.lookups import AppointmentType

    client = make_client(db_session)
    db_session.commit()
    manager = english(client_as("account_manager"))
    data = {
        "client": str(client.id),
        "type": str(lookup(db_session, AppointmentType).id),
        "scheduled_at": "2026-11-20 09:00:00",
        "remind_at": "2026-11-20 10:00:00",
        "content": "上门拜访",
        "user": str(client.owner_id),
        "status": "待办",
    }
    response = manager.post("/admin/appointment/new/", data=data)
    assert response.status_code == 200
    assert "must not be later than the appointment time" in response.get_data(as_text=True)
    assert db_session.execute(select(Appointment)).first() is None
    ok = manager.post("/admin/appointment/new/", data={**data, "remind_at": "2026-11-20 09:00:00"})
    assert ok.status_code == 302
    assert db_session.execute(select(Appointment.content)).scalar() == "上门拜访"


def test_reminder_after_the_appointment_is_refused_by_the_model(app):
    """The rule holds at every flush (CLI, imports), not only in the form."""
    from models import db
    from models.base import FieldError
    from models.customers import Appointment

    # a request context: select_locale() reads request.args (see the report: outside a
    # request the label of the FieldError cannot be translated)
    with app.test_request_context("/?lang=en"):
        client = make_client(db.session)
        with pytest.raises(FieldError) as refused:
            make_appointment(db.session, client, remind_in=timedelta(hours=3), scheduled_in=timedelta(hours=2))
        assert refused.value.field == "Reminder time"
        assert "must not be later than the appointment time" in refused.value.message
        db.session.rollback()
        make_appointment(
            db.session, make_client(db.session), remind_in=timedelta(hours=2), scheduled_in=timedelta(hours=2)
        )
        db.session.commit()
        assert db.session.execute(select(Appointment)).scalars().one().remind_at is not None


# --------------------------------------------------------------------------- the list
@pytest.fixture
def reminders(db_session):
    """account_manager: two due (older first), one future, one done, one cancelled, one on a
    deleted client; am_team: one due."""
    mine = make_client(db_session)
    theirs = make_client(db_session, owner="am_team")
    gone = make_client(db_session)
    rows = {
        "due_new": make_appointment(db_session, mine, remind_in=-timedelta(minutes=1), content="新的提醒"),
        "due_old": make_appointment(db_session, mine, remind_in=-timedelta(days=1), content="<b>旧的提醒</b>"),
        "future": make_appointment(db_session, mine, remind_in=timedelta(minutes=30)),
        "done": make_appointment(db_session, mine, status="已完成"),
        "cancelled": make_appointment(db_session, mine, status="已取消"),
        "deleted_client": make_appointment(db_session, gone),
        "other_user": make_appointment(db_session, theirs, user="am_team"),
    }
    gone.soft_delete(None)
    db_session.commit()
    return {name: (row.id, row.client_id) for name, row in rows.items()}


def test_due_reminders_of_mine_only_oldest_first(app, reminders):
    from models import db
    from models.auth import User
    from views.reminders import due_count, due_reminders

    with app.app_context():
        manager = db.session.execute(select(User).where(User.username == "account_manager")).scalar_one()
        rows = due_reminders(manager)
        assert [r.id for r in rows] == [reminders["due_old"][0], reminders["due_new"][0]]
        assert rows[0].client_name.startswith("测试客户") and rows[0].content == "<b>旧的提醒</b>"
        assert due_count(manager) == 2
        colleague = db.session.execute(select(User).where(User.username == "am_team")).scalar_one()
        assert [r.id for r in due_reminders(colleague)] == [reminders["other_user"][0]]
        # "now" is a parameter: in an hour the future one is due too
        from models.base import utcnow

        later = utcnow() + timedelta(hours=1)
        assert reminders["future"][0] in [r.id for r in due_reminders(manager, now=later)]
        assert due_count(manager, now=later) == 3


def test_due_reminders_is_one_query(app, reminders):
    from models import db
    from models.auth import User
    from views.reminders import due_reminders

    with app.app_context():
        manager = db.session.execute(select(User).where(User.username == "account_manager")).scalar_one()
        with count_queries(app) as statements:
            rows = due_reminders(manager)
            [(r.client_name, r.content, r.remind_at) for r in rows]
        assert len(statements) == 1


def test_dashboard_lists_my_due_reminders(client_as, reminders):
    manager = english(client_as("account_manager"))
    html = manager.get("/admin/").get_data(as_text=True)
    assert "My reminders" in html
    assert reminder_ids(html) == [reminders["due_old"][0], reminders["due_new"][0]]
    client_id = reminders["due_old"][1]
    assert f'href="/admin/client/details/?id={client_id}"' in html
    assert "&lt;b&gt;旧的提醒&lt;/b&gt;" in html and "<b>旧的提醒</b>" not in html  # escaped
    assert f'action="/reminders/{reminders["due_old"][0]}/done"' in html
    assert f'action="/reminders/{reminders["due_old"][0]}/postpone"' in html


def test_dashboard_without_due_reminders(client_as, reminders):
    html = english(client_as("clerk")).get("/admin/").get_data(as_text=True)
    assert reminder_ids(html) == []
    assert "No reminders are due." in html
    assert navbar_count(html) is None and 'id="reminder-bell"' not in html


def test_navbar_count(client_as, reminders):
    manager = client_as("account_manager")
    assert navbar_count(manager.get("/admin/").get_data(as_text=True)) == 2
    assert navbar_count(manager.get("/admin/client/").get_data(as_text=True)) == 2
    colleague = client_as("am_team")
    assert navbar_count(colleague.get("/admin/linkman/").get_data(as_text=True)) == 1


def test_navbar_count_is_one_query_per_page(app, client_as, reminders):
    manager = client_as("account_manager")
    with count_queries(app) as statements:
        html = manager.get("/admin/client/").get_data(as_text=True)
    assert navbar_count(html) == 2
    assert len([s for s in statements if "appointment" in s.lower()]) == 1
    with count_queries(app) as statements:  # the dashboard reuses its list for the badge
        manager.get("/admin/")
    assert len([s for s in statements if "appointment" in s.lower()]) == 1


# ------------------------------------------------------------------------- done / postpone
def test_done(client_as, db_session, reminders):
    from models.audit import AuditLog
    from models.customers import Appointment

    appointment_id = reminders["due_old"][0]
    manager = english(client_as("account_manager"))
    response = manager.post(f"/reminders/{appointment_id}/done")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/#my-reminders")
    assert reload(db_session, Appointment, appointment_id).status == "已完成"
    html = manager.get("/admin/").get_data(as_text=True)
    assert "Appointment marked as done." in html
    assert reminder_ids(html) == [reminders["due_new"][0]] and navbar_count(html) == 1
    entry = db_session.execute(
        select(AuditLog).where(
            AuditLog.table_name == "appointment", AuditLog.record_id == appointment_id, AuditLog.action == "update"
        )
    ).scalar_one()
    assert entry.changes["status"] == ["待办", "已完成"]
    assert entry.user.username == "account_manager"
    # twice: harmless
    assert manager.post(f"/reminders/{appointment_id}/done").status_code == 302
    assert reload(db_session, Appointment, appointment_id).status == "已完成"


def test_postpone_by_minutes(client_as, db_session, reminders):
    from models.base import utcnow
    from models.customers import Appointment

    appointment_id = reminders["due_old"][0]
    manager = english(client_as("account_manager"))
    before = utcnow()
    response = manager.post(f"/reminders/{appointment_id}/postpone", data={"minutes": "30"})
    assert response.status_code == 302
    remind_at = reload(db_session, Appointment, appointment_id).remind_at
    assert before + timedelta(minutes=30) <= remind_at <= utcnow() + timedelta(minutes=30)
    html = manager.get("/admin/").get_data(as_text=True)
    assert "Reminder postponed to" in html
    assert reminder_ids(html) == [reminders["due_new"][0]] and navbar_count(html) == 1


def test_postpone_defaults_to_an_hour(client_as, db_session, reminders):
    from models.base import utcnow
    from models.customers import Appointment

    appointment_id = reminders["due_new"][0]
    before = utcnow()
    assert client_as("account_manager").post(f"/reminders/{appointment_id}/postpone").status_code == 302
    remind_at = reload(db_session, Appointment, appointment_id).remind_at
    assert before + timedelta(minutes=60) <= remind_at <= utcnow() + timedelta(minutes=60)


def test_postpone_until_a_local_time(client_as, db_session):
    """``until`` is typed in the display time zone (Asia/Shanghai, UTC+8)."""
    from datetime import datetime

    from models.customers import Appointment

    client = make_client(db_session)
    appointment = make_appointment(db_session, client, scheduled_in=timedelta(days=400))
    db_session.commit()
    target = (datetime.now(UTC) + timedelta(days=2)).replace(hour=1, minute=30, second=0, microsecond=0)
    local = (target + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    manager = client_as("account_manager")
    assert manager.post(f"/reminders/{appointment.id}/postpone", data={"until": local}).status_code == 302
    assert reload(db_session, Appointment, appointment.id).remind_at == target


def test_postpone_never_goes_past_the_appointment(client_as, db_session):
    from models.customers import Appointment

    client = make_client(db_session)
    soon = make_appointment(db_session, client, scheduled_in=timedelta(minutes=20))
    past = make_appointment(db_session, client, remind_in=-timedelta(hours=2), scheduled_in=-timedelta(hours=1))
    db_session.commit()
    scheduled = soon.scheduled_at
    manager = english(client_as("account_manager"))
    assert manager.post(f"/reminders/{soon.id}/postpone", data={"minutes": "60"}).status_code == 302
    assert reload(db_session, Appointment, soon.id).remind_at == scheduled  # capped
    old = reload(db_session, Appointment, past.id).remind_at
    manager.post(f"/reminders/{past.id}/postpone", data={"minutes": "60"})
    assert reload(db_session, Appointment, past.id).remind_at == old
    assert "has passed, so the reminder cannot be postponed" in manager.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize(
    "data,message",
    [
        ({"minutes": "0"}, "must be between 1 and"),
        ({"minutes": "abc"}, "must be between 1 and"),
        ({"until": "tomorrow"}, "enter a date and time like"),
        ({"until": "2001-01-01 09:00"}, "choose a time in the future"),
        ({"until": "2999-01-01 09:00"}, "cannot be later than the appointment"),
    ],
)
def test_bad_postpone_input_changes_nothing(client_as, db_session, reminders, data, message):
    from models.customers import Appointment

    appointment_id = reminders["due_old"][0]
    old = reload(db_session, Appointment, appointment_id).remind_at
    manager = english(client_as("account_manager"))
    assert manager.post(f"/reminders/{appointment_id}/postpone", data=data).status_code == 302
    assert reload(db_session, Appointment, appointment_id).remind_at == old
    assert message in manager.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("action", ["done", "postpone"])
@pytest.mark.parametrize("username", ["am_team", "admin", "sales_director"])
def test_only_the_appointments_user_may_act(client_as, db_session, reminders, action, username):
    from models.customers import Appointment

    appointment_id = reminders["due_old"][0]
    before = reload(db_session, Appointment, appointment_id)
    status, remind_at = before.status, before.remind_at
    assert client_as(username).post(f"/reminders/{appointment_id}/{action}").status_code == 404
    after = reload(db_session, Appointment, appointment_id)
    assert (after.status, after.remind_at) == (status, remind_at)


def test_deleted_clients_and_unknown_ids_are_404(client_as, reminders):
    manager = client_as("account_manager")
    assert manager.post(f"/reminders/{reminders['deleted_client'][0]}/done").status_code == 404
    assert manager.post("/reminders/999999/done").status_code == 404


def test_get_is_not_allowed_and_anonymous_is_sent_to_login(app, client_as, reminders):
    appointment_id = reminders["due_old"][0]
    assert client_as("account_manager").get(f"/reminders/{appointment_id}/done").status_code == 405
    response = app.test_client().post(f"/reminders/{appointment_id}/done")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_done_needs_the_csrf_token(csrf_app, db_session, reminders):
    from models.customers import Appointment

    appointment_id = reminders["due_old"][0]
    manager = csrf_app.test_client()
    assert login(manager, "account_manager").status_code == 302
    assert manager.post(f"/reminders/{appointment_id}/done").status_code == 400
    assert manager.post(f"/reminders/{appointment_id}/postpone", data={"minutes": "30"}).status_code == 400
    assert reload(db_session, Appointment, appointment_id).status == "待办"
    token = csrf_token_from(manager.get("/admin/").data)
    response = manager.post(f"/reminders/{appointment_id}/done", data={"csrf_token": token})
    assert response.status_code == 302
    assert reload(db_session, Appointment, appointment_id).status == "已完成"


def test_init_app_twice_is_harmless(app):
    from views.reminders import init_app

    init_app(app)
    assert "reminders" in app.blueprints
