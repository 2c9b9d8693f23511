"""The ECharts option builder of reports/charts.py: points carry their drill-through urls,
pie and funnel points their names, exact amounts become numbers a chart can draw."""

from decimal import Decimal

import pytest

from reports.charts import Series, echarts_option


def test_bar_and_line_share_the_category_axis_and_keep_their_urls():
    option = echarts_option(
        ["一月", "二月"],
        [
            Series("订单", [Decimal("12.34"), Decimal("0")], urls=["/admin/orders/?m=1", None]),
            Series("目标", [10, 20], kind="line"),
        ],
        money=True,
    )
    assert option["xAxis"]["data"] == ["一月", "二月"] and option["crm"] == {"money": True}
    orders, target = option["series"]
    assert orders["type"] == "bar" and orders["data"] == [{"value": 12.34, "url": "/admin/orders/?m=1"}, {"value": 0.0}]
    assert target["type"] == "line" and target["data"] == [{"value": 10}, {"value": 20}]
    assert option["tooltip"] == {"trigger": "axis"} and "legend" in option


def test_a_funnel_names_its_points_and_a_bad_series_is_refused():
    option = echarts_option(["初步接洽", "需求确认"], [Series("商机", [5, 3], kind="funnel", urls=["/a", "/b"])])
    assert "xAxis" not in option and option["tooltip"] == {"trigger": "item"}
    assert option["series"][0]["data"] == [
        {"value": 5, "name": "初步接洽", "url": "/a"},
        {"value": 3, "name": "需求确认", "url": "/b"},
    ]
    with pytest.raises(ValueError):
        Series("x", [1, 2], urls=["/a"])
    with pytest.raises(ValueError):
        Series("x", [1], kind="radar")


def test_list_url_opens_the_list_filtered_by_its_own_named_filters(app, client_as, db_session):
    from datetime import date

    from models.lookups import ClientType
    from tests.factories import lookup, make_client
    from views.crud import list_url

    important = lookup(db_session, ClientType, "重要客户")
    make_client(db_session, "account_manager", name="钻取甲有限公司", type_id=important.id)
    make_client(db_session, "account_manager", name="钻取乙有限公司")
    db_session.commit()
    with app.test_request_context("/"):
        url = list_url(
            "client", {"client_type_equals": important.id, "created_at_between": (date(2000, 1, 1), date(2099, 12, 31))}
        )
        with pytest.raises(KeyError, match="client_type_equals"):
            list_url("client", {"no_such_filter": 1})
    assert (
        url.startswith("/admin/client/?flt0_client_type_equals=")
        and "flt1_created_at_between=2000-01-01+to+2099-12-31" in url
    )
    page = client_as("admin").get(url).data.decode()
    assert "钻取甲有限公司" in page and "钻取乙有限公司" not in page
