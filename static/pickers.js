// Form pickers (no inline script: CSP). The server checks every choice again; this only
// narrows what is offered and saves typing.
//  * A select with data-follows="client" and data-choices-url (views/crud/pickers.py)
//    offers only the rows of the chosen client: when the client changes, its options
//    are replaced by GET <data-choices-url>?parent_id=<client>.
//  * A product select with data-product-fill (views/orders.py) fills the line's unit and
//    unit price from GET <view>/product/?id= when the product is picked; the user can
//    still change them (only picking a product again overwrites them).
(function () {
  "use strict";

  function onChange(element, handler) {
    if (window.jQuery) { window.jQuery(element).on("change", handler); } else { element.addEventListener("change", handler); }
  }

  function follow(select) {
    var parent = document.getElementById(select.dataset.follows);
    if (!parent) { return; }
    var url = select.dataset.choicesUrl;
    function replace(options) {
      var current = select.value;
      while (select.options.length) { select.remove(0); }
      select.add(new Option("—", "__None"));
      options.forEach(function (o) { select.add(new Option(o.text, String(o.id))); });
      select.value = options.some(function (o) { return String(o.id) === current; }) ? current : "__None";
      if (window.jQuery) { window.jQuery(select).trigger("change.select2"); }
    }
    function load() {
      var id = parent.value;
      if (!id || id === "__None") { replace([]); return; }
      fetch(url + "?parent_id=" + encodeURIComponent(id), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { replace(data); } });
    }
    onChange(parent, load);
    load();
  }

  function lineFields(select) {
    // lines-0-product → lines-0-unit, lines-0-unit_price
    var stem = select.id.replace(/product$/, "");
    return {unit: document.getElementById(stem + "unit"), price: document.getElementById(stem + "unit_price")};
  }

  function fillFromProduct(select) {
    var id = select.value;
    if (!id || id === "__None") { return; }
    var url = window.location.pathname.replace(/(new|edit)\/?$/, "product/");
    fetch(url + "?id=" + encodeURIComponent(id), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || select.value !== String(data.id)) { return; }
        var fields = lineFields(select);
        if (fields.unit) { fields.unit.value = data.unit; }
        if (fields.price) { fields.price.value = data.unit_price; }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-follows]").forEach(follow);
    if (window.jQuery) {
      // inline line rows are added later: listen on the document
      window.jQuery(document).on("change", "select[data-product-fill]", function () { fillFromProduct(this); });
    }
  });
})();
