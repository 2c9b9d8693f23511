// Finance forms (no inline script: CSP). The server computes and checks everything again;
// this only saves typing.
//  * Invoice form: tax = amount × rate rounded half-up to the fen, total = amount + tax,
//    filled in as the user types (unless the user typed a value of their own).
//  * Receipt form: when the client changes, the allocation rows offer that client's
//    approved, signed or archived contracts (GET <view>/contracts/?client_id=).
(function () {
  "use strict";

  // -- exact money arithmetic on integer fen (never floats) -------------------------
  function toFen(text) {
    var s = String(text || "").replace(/[,\s¥]/g, "");
    var m = /^(\d+)(?:\.(\d{0,2}))?$/.exec(s);
    if (!m) { return null; }
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10);
  }
  function fromFen(fen) {
    var cents = String(fen % 100);
    return Math.floor(fen / 100) + "." + (cents.length < 2 ? "0" + cents : cents);
  }
  function taxFen(amountFen, rate) {
    // half-up: floor((amount × rate + 50) / 100) for non-negative amounts
    return Math.floor((amountFen * rate + 50) / 100);
  }

  function invoiceForm() {
    var amount = document.getElementById("amount");
    var rate = document.getElementById("tax_rate");
    var tax = document.getElementById("tax");
    var total = document.getElementById("total");
    if (!amount || !rate || !tax || !total) { return; }
    // a value that is empty or equals what the rule gives follows the amount and rate;
    // one the user typed differently is left alone (the server then says what is wrong)
    var fen0 = toFen(amount.value), rate0 = parseInt(rate.value, 10);
    var tax0 = fen0 === null || isNaN(rate0) ? null : taxFen(fen0, rate0);
    tax.dataset.auto = tax.value === "" || toFen(tax.value) === tax0 ? "1" : "0";
    total.dataset.auto = total.value === "" || (tax0 !== null && toFen(total.value) === fen0 + tax0) ? "1" : "0";
    [tax, total].forEach(function (el) {
      el.addEventListener("input", function () { el.dataset.auto = el.value === "" ? "1" : "0"; });
    });
    function fill() {
      var fen = toFen(amount.value);
      var r = parseInt(rate.value, 10);
      if (fen === null || isNaN(r)) { return; }
      var t = taxFen(fen, r);
      if (tax.dataset.auto === "1") { tax.value = fromFen(t); }
      var tFen = toFen(tax.value);
      if (total.dataset.auto === "1" && tFen !== null) { total.value = fromFen(fen + tFen); }
    }
    amount.addEventListener("input", fill);
    rate.addEventListener("change", fill);
    if (window.jQuery) { window.jQuery(rate).on("change", fill); }
    fill();
  }

  function receiptForm() {
    var client = document.getElementById("client");
    if (!client || !document.getElementById("allocations")) { return; }
    var options = null;
    var url = window.location.pathname.replace(/(new|edit)\/?$/, "contracts/");

    function contractSelects() {
      return document.querySelectorAll('select[id^="allocations-"][id$="-contract"]');
    }
    function fillSelect(select) {
      if (options === null) { return; }
      var current = select.value;
      while (select.options.length) { select.remove(0); }
      select.add(new Option("—", "__None"));
      options.forEach(function (o) { select.add(new Option(o.text, String(o.id))); });
      select.value = options.some(function (o) { return String(o.id) === current; }) ? current : "__None";
      if (window.jQuery) { window.jQuery(select).trigger("change"); }
    }
    function load() {
      var id = client.value;
      if (!id) { options = []; contractSelects().forEach(fillSelect); return; }
      fetch(url + "?client_id=" + encodeURIComponent(id), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (data) { options = data; contractSelects().forEach(fillSelect); });
    }
    if (window.jQuery) { window.jQuery(client).on("change", load); }
    client.addEventListener("change", load);
    // rows added later start from the server's template: give them the current list
    document.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest('[data-crm-inline-add="allocations"]')) {
        window.setTimeout(function () {
          contractSelects().forEach(function (s) { if (s.options.length <= 1) { fillSelect(s); } });
        }, 0);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    invoiceForm();
    receiptForm();
  });
})();
