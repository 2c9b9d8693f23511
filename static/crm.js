// Event handlers for Flask-Admin controls whose inline onclick attributes our
// Content-Security-Policy forbids (no inline script anywhere).
(function () {
  "use strict";
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
