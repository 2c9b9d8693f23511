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
