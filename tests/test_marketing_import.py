"""The lead import (issue 13 item 3): declared like the client import (models/imports/leads.py)
and run by the same machinery — upload, preview with the guessed mapping, every row checked
(fields, the campaign by name within the user's scope, duplicates within the file, against
live clients and open leads), all or nothing, the background job."""

from __future__ import annotations

import io
import re
from datetime import date
from urllib.parse import parse_qs, urlparse

from sqlalchemy import func, select

from models.lookups import CampaignType
from models.marketing import Campaign, Lead
from reports.csvfile import csv_bytes
from tests.factories import lookup, make_client, user

URL = "/admin/lead/import/"
HEADINGS = ["公司名称", "联系人", "手机", "邮箱", "市场活动", "备注"]


def lead_rows(*rows) -> bytes:
    return csv_bytes([HEADINGS, *rows])


def row(n: int, **cells) -> list[str]:
    values = {
        "公司名称": f"导入线索{n}有限公司",
        "联系人": f"联系人{n}",
        "手机": f"1360000{n:04d}",
        "邮箱": f"lead{n}@example.com",
        "市场活动": "",
        "备注": "",
        **cells,
    }
    return [values[h] for h in HEADINGS]


def upload(web, content: bytes, filename="leads.csv"):
    response = web.post(URL, data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")
    assert response.status_code == 302, response.data.decode()[:2000]
    return parse_qs(urlparse(response.headers["Location"]).query)["token"][0]


def submit(web, token):
    """Submit the preview; once queued, run the job as the worker would."""
    response = web.post(URL, data={"token": token})
    if response.status_code == 302:
        with web.application.app_context():
            result = web.application.test_cli_runner().invoke(args=["run-jobs", "--once"])
        assert result.exit_code == 0, result.output
        return web.get(response.headers["Location"])
    return response


def leads_in(session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(Lead)).scalar()


def campaign(session, owner="marketing", name="秋季展会") -> Campaign:
    record = Campaign(
        name=name, type=lookup(session, CampaignType), starts_on=date(2026, 9, 1), owner=user(session, owner)
    )
    session.add(record)
    session.commit()
    return record


def test_preview_guesses_the_lead_fields_and_the_import_saves_every_row(en_client, db_session):
    fair = campaign(db_session)
    web = en_client("marketing")
    token = upload(web, lead_rows(row(1, 市场活动="秋季展会"), row(2, 备注="展位来访")))
    preview = web.get(f"{URL}?token={token}").get_data(as_text=True)
    assert "Import leads" in preview
    for field in ("company_name", "contact_name", "mobile", "email", "campaign", "notes"):
        assert f'<option value="{field}" selected>' in preview, field
    page = submit(web, token).get_data(as_text=True)
    assert "2 leads imported." in page
    leads = {lead.company_name: lead for lead in db_session.execute(select(Lead)).scalars()}
    assert set(leads) == {"导入线索1有限公司", "导入线索2有限公司"}
    first, second = leads["导入线索1有限公司"], leads["导入线索2有限公司"]
    assert first.campaign_id == fair.id and second.campaign_id is None
    assert first.owner.username == "marketing" and first.status == "new"
    assert second.notes == "展位来访" and first.name_key == "导入线索1有限公司"


def test_a_bad_row_imports_nothing_and_names_row_and_field(en_client, db_session):
    web = en_client("marketing")
    token = upload(web, lead_rows(row(1), row(2, 手机="12345"), row(3, 联系人="")))
    page = submit(web, token).get_data(as_text=True)
    assert "Nothing was imported" in page
    assert leads_in(db_session) == 0
    assert re.search(r"<td>\s*4\s*</td>\s*<td>\s*Contact\s*</td>\s*<td>\s*required: the cell is empty", page)
    assert re.search(r"<td>\s*3\s*</td>\s*<td>\s*Mobile\s*</td>\s*<td>\s*“12345”", page)


def test_duplicates_in_the_file_against_clients_and_open_leads(en_client, db_session):
    make_client(db_session, "marketing", name="老客户有限公司")
    open_lead = Lead(
        company_name="已有线索有限公司",
        contact_name="赵六",
        email="known@example.com",
        owner=user(db_session, "marketing"),
    )
    closed = Lead(
        company_name="作废线索有限公司",
        contact_name="钱七",
        status="disqualified",
        owner=user(db_session, "marketing"),
    )
    db_session.add_all([open_lead, closed])
    db_session.commit()
    web = en_client("marketing")
    content = lead_rows(
        row(1),
        row(2, 手机="13600000001"),  # the same mobile as row 1
        row(3, 公司名称="老客户有限公司"),
        row(4, 邮箱="known@example.com"),
        row(5, 公司名称="作废线索有限公司"),  # a disqualified lead does not count
    )
    page = submit(web, upload(web, content)).get_data(as_text=True)
    assert "Nothing was imported" in page and leads_in(db_session) == 2
    assert "same contact mobile as row 2" in page
    assert "same company name as the existing client" in page
    assert f"the same as the open lead #{open_lead.id}" in page
    assert not re.search(r"<td>\s*6\s*</td>", page)  # the file's row 6: the disqualified lead's name


def test_a_campaign_outside_the_scope_is_unknown(en_client, db_session):
    campaign(db_session, owner="am_other", name="别部门的活动")
    web = en_client("marketing")
    page = submit(web, upload(web, lead_rows(row(1, 市场活动="别部门的活动")))).get_data(as_text=True)
    assert "unknown value “别部门的活动”" in page
    assert leads_in(db_session) == 0


def test_the_import_needs_its_right(en_client):
    assert en_client("account_manager").get(URL).status_code == 403
    assert en_client("marketing").get(URL).status_code == 200
