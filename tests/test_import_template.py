"""The import template (issue 14 item 3): for every declared import kind an XLSX with the
kind's headings, one example row and a sheet of the allowed lookup values; the example
row maps unchanged and passes the validation of the preview."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.imports import KINDS, guess_mapping, read_table, validate
from models.lookups import Area
from tests.factories import user

URLS = {"clients": "/admin/client/import/", "leads": "/admin/lead/import/"}
#: who imports each kind
IMPORTERS = {"clients": "clerk", "leads": "marketing"}


def test_every_kind_has_a_template_url():
    assert set(KINDS) == set(URLS)


@pytest.mark.parametrize("kind_name", list(URLS))
def test_the_template_holds_headings_an_example_and_the_allowed_values(en_client, db_session, kind_name):
    s = db_session
    kind = KINDS[kind_name]
    who = IMPORTERS[kind_name]
    clerk = en_client(who)
    page = clerk.get(URLS[kind_name]).get_data(as_text=True)
    assert f'href="{URLS[kind_name]}template/"' in page and "Download the template" in page
    response = clerk.get(f"{URLS[kind_name]}template/")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f"{kind_name}-import-template.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    sheet, values = book.worksheets
    assert [sheet.title, values.title] == ["Import", "Allowed values"]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2
    with clerk.application.test_request_context(headers={"Accept-Language": "en"}):
        labels = [kind.label(f) for f in kind.fields]
    assert list(rows[0]) == labels
    example = dict(zip(kind.fields, rows[1], strict=True))
    assert example["owner"] == who
    allowed = {column[0].value: [c.value for c in column[1:] if c.value] for column in values.iter_cols()}
    lookup_fields = [f for f in kind.fields if kind.related(f) is not None]
    assert set(allowed) >= {labels[kind.fields.index(f)] for f in lookup_fields}
    assert who in allowed[labels[kind.fields.index("owner")]]
    for field in lookup_fields:
        if field != "owner" and allowed[labels[kind.fields.index(field)]]:
            assert example[field] == allowed[labels[kind.fields.index(field)]][0]
    if kind_name == "clients":
        areas = s.execute(select(Area.name).where(Area.is_active.is_(True))).scalars().all()
        assert sorted(allowed[labels[kind.fields.index("area")]]) == sorted(areas)
        assert example["name"] == "示例科技有限公司" and example["contact_gender"] == "男"

    # the example row, as downloaded, maps unchanged and passes the preview's validation
    headers, table = read_table("template.xlsx", io.BytesIO(response.data))
    mapping = guess_mapping(headers, kind)
    assert mapping == list(kind.fields)
    clean, errors = validate(table, mapping, user(s, who), kind)
    assert errors == [] and len(clean) == 1


def test_the_template_needs_the_import_right(client_as):
    assert client_as("account_manager").get("/admin/lead/import/template/").status_code in (302, 403)
