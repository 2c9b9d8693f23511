"""Interactive charts: an Apache ECharts option built here from a report's or the dashboard's
figures, drawn in the browser by ``static/charts.js`` (vendored ECharts in
``static/vendor/echarts/``, no CDN, no inline script under the strict CSP).

A page puts ``{{ chart(option) }}`` where the chart goes and ``{{ chart_scripts() }}`` once
in its ``tail`` block (macros in ``templates/admin/crm/_chart.html``). Each data point may
carry a ``url``: a click on its bar, point or slice opens that address — the list filtered
to the records behind the figure (drill-through). Amounts are exact in the tables; a chart
only draws them, so its values are floats in yuan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

KINDS = ("bar", "line", "pie", "funnel")


@dataclass
class Series:
    """One named row of values, one per category; ``urls`` (same length, or None) make the
    points clickable. ``kind`` is bar or line on a category axis, pie or funnel on its own."""

    name: str
    values: list
    kind: str = "bar"
    urls: list | None = None
    extra: dict = field(default_factory=dict)  # ECharts series options (stack, yAxisIndex, …)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"chart kind {self.kind!r} is not one of {KINDS}")
        if self.urls is not None and len(self.urls) != len(self.values):
            raise ValueError("a chart series needs one url (or None) per value")


def _number(value) -> float | int:
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return float(value)
    return value


def _points(series: Series, categories: list[str] | None) -> list[dict]:
    points = []
    for n, value in enumerate(series.values):
        point: dict = {"value": _number(value)}
        if categories is not None and series.kind in ("pie", "funnel"):
            point["name"] = str(categories[n])
        if series.urls and series.urls[n]:
            point["url"] = series.urls[n]
        points.append(point)
    return points


def echarts_option(categories: list, series: list[Series], *, money: bool = False, title: str = "") -> dict:
    """The ECharts option for ``series`` over ``categories`` (labels already translated).
    Bar and line series share one category axis; a pie or funnel series is drawn alone.
    ``money`` formats axis labels and tooltips as ¥ amounts in the browser."""
    categories = [str(c) for c in categories]
    option: dict = {"crm": {"money": money}, "tooltip": {}, "animation": False}
    if title:
        option["title"] = {"text": str(title), "left": "center", "textStyle": {"fontSize": 14}}
    if len(series) > 1 or any(s.kind in ("pie", "funnel") for s in series):
        option["legend"] = {"bottom": 0, "type": "scroll"}
    if any(s.kind in ("pie", "funnel") for s in series):
        option["tooltip"] = {"trigger": "item"}
        option["series"] = [
            {
                "type": s.kind,
                "name": str(s.name),
                "data": _points(s, categories),
                **({"radius": ["35%", "65%"]} if s.kind == "pie" else {"sort": "none", "top": 40, "bottom": 40}),
                **s.extra,
            }
            for s in series
        ]
        return option
    option["tooltip"] = {"trigger": "axis"}
    option["grid"] = {"left": 16, "right": 16, "top": 40 if title else 16, "bottom": 40, "containLabel": True}
    option["xAxis"] = {"type": "category", "data": categories, "axisLabel": {"interval": 0, "hideOverlap": True}}
    option["yAxis"] = {"type": "value"}
    option["series"] = [{"type": s.kind, "name": str(s.name), "data": _points(s, None), **s.extra} for s in series]
    return option
