// Draws every [data-crm-chart] box with Apache ECharts from the JSON option in the
// <script type="application/json"> that follows it (reports/charts.py writes both).
// A click on a point that carries a url opens it: the list behind the figure.
(function () {
  "use strict";
  if (!window.echarts) { return; }
  var yuan = new Intl.NumberFormat(document.documentElement.lang || undefined, {
    style: "currency", currency: "CNY", maximumFractionDigits: 2
  });
  function money(value) { return yuan.format(value); }
  function draw(box) {
    var source = box.nextElementSibling;
    if (!source || !source.classList.contains("crm-chart-option")) { return; }
    var option = JSON.parse(source.textContent);
    if (option.crm && option.crm.money) {
      option.tooltip = option.tooltip || {};
      option.tooltip.valueFormatter = money;
      if (option.yAxis) { option.yAxis.axisLabel = { formatter: function (v) { return money(v); } }; }
    }
    delete option.crm;
    var chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption(option);
    chart.on("click", function (params) {
      var url = params.data && params.data.url;
      if (url) { window.location.assign(url); }
    });
    window.addEventListener("resize", function () { chart.resize(); });
    box.crmChart = chart;
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-crm-chart]"), draw);
})();
