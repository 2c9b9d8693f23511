// Event handlers for Flask-Admin controls whose inline onclick attributes our
// Content-Security-Policy forbids (no inline script anywhere).
(function () {
  "use strict";
  // Flask-Admin's dropdown helper stops clicks on href="javascript:void(0)" links
  // without cancelling them; the CSP would then block the javascript: navigation.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('a[href^="javascript:"]');
    if (link) { event.preventDefault(); }
  }, true);
  // x-editable parses its option lists with `new Function`, which the CSP forbids:
  // parse JSON with JSON.parse instead.
  if (window.jQuery) {
    window.jQuery(function ($) {
      if ($.fn.editable) { $.fn.editable.defaults.emptytext = "—"; }
      if ($.fn.editableutils) {
        $.fn.editableutils.tryParseJson = function (s, safe) {
          if (typeof s === "string" && /^[\{\[].*[\}\]]$/.test(s)) {
            try { return JSON.parse(s); } catch (e) { if (!safe) { throw e; } }
          }
          return s;
        };
      }
    });
  }
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-crm-action],[data-crm-confirm],[data-crm-inline-add],[data-crm-check-all]");
    if (!el) { return; }
    if (el.hasAttribute("data-crm-action")) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(el.getAttribute("data-crm-action")); }
    } else if (el.hasAttribute("data-crm-confirm")) {
      if (!window.confirm(el.getAttribute("data-crm-confirm"))) { event.preventDefault(); }
    } else if (el.hasAttribute("data-crm-inline-add")) {
      event.preventDefault();
      window.faForm.addInlineField(el, el.getAttribute("data-crm-inline-add"));
    }
  });
  // Role edit page: ticking a module or menu ticks everything below it.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input.crm-right")) { return; }
    var item = box.closest("li");
    if (item) {
      item.querySelectorAll("input.crm-right").forEach(function (child) { child.checked = box.checked; });
    }
  });
})();

// Date and date-time fields (views/form_fields.py: data-role crm-date / crm-datetime) over
// Flask-Admin's bootstrap-daterangepicker 1.3, which rewrote the field on every key press
// ("2" → "0002-01-01 …") and put its own date back when it closed. Here the field belongs
// to the clerk: typing is never touched, the picker writes only when a date is picked
// (a day of a date field, 确定 of a date-time field), it opens on the typed value or the
// server's "now" (data-now, in the configured time zone, not the browser's clock), and
// every picker of the page — list filters included — speaks the UI language.
(function () {
  "use strict";
  var FORMATS = {
    "crm-date": ["YYYY-MM-DD"],
    "crm-datetime": ["YYYY-MM-DD HH:mm:ss", "YYYY-MM-DD HH:mm", "YYYY-MM-DDTHH:mm:ss", "YYYY-MM-DDTHH:mm"]
  };
  var ready = false;

  function pickerLocale() {
    var el = document.getElementById("crm-picker-locale");
    if (!el) { return null; }
    try {
      var locale = JSON.parse(el.getAttribute("data-locale"));
      Object.keys(locale).forEach(function (key) { if (locale[key] === null) { delete locale[key]; } });
      return locale;
    } catch (e) { return null; }
  }

  function typed($el) {
    var text = $.trim($el.val() || "");
    if (!text) { return null; }
    var value = window.moment(text, FORMATS[$el.attr("data-role")], true);
    return value.isValid() ? value : null;
  }

  function attach($el, role) {
    var withTime = role === "crm-datetime";
    var format = $el.attr("data-date-format");
    $el.daterangepicker({
      singleDatePicker: true, showDropdowns: true, timePicker: withTime, timePicker12Hour: false,
      timePickerIncrement: 1, format: format
    });
    var picker = $el.data("daterangepicker");
    $el.off("keyup.daterangepicker");        // no parsing (and rewriting) of half-typed text
    picker.updateInputText = function () {}; // the picker never writes by itself …
    $el.on("apply.daterangepicker", function () { // … only when a date is picked
      $el.val(picker.endDate.format(format)).trigger("change");
    });
    function sync() {                         // show the typed value, else the server's now
      var value = typed($el) || window.moment($el.attr("data-now"), "YYYY-MM-DD HH:mm:ss", true);
      if (!value.isValid()) { value = window.moment(); }
      if (!withTime) { value = value.startOf("day"); }
      picker.startDate = value.clone(); picker.endDate = value.clone();
      picker.oldStartDate = value.clone(); picker.oldEndDate = value.clone();
      picker.updateView(); picker.updateCalendars();
    }
    $el.on("show.daterangepicker", sync);
    $el.on("input", function () { if (typed($el)) { sync(); } });
    sync();
  }

  function setUp() {
    if (ready || !window.jQuery || !window.jQuery.fn.daterangepicker || !window.faForm) { return; }
    ready = true;
    var $ = window.jQuery, original = $.fn.daterangepicker, locale = pickerLocale();
    if (locale) {
      $.fn.daterangepicker = function (options, callback) {
        var merged = $.extend(true, {}, options || {});
        merged.locale = $.extend({}, locale, merged.locale || {});
        return original.call(this, merged, callback);
      };
    }
    window.faForm.addFieldConverter(function ($el, name) {
      if (!FORMATS[name]) { return false; }
      attach($el, name);
      return true;
    });
  }

  if (window.jQuery) {
    window.jQuery(document).on("adminFormReady", setUp); // form.js loads after this file …
    setUp();                                              // … or before it
  }
})();
