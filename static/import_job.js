// The import job page (templates/admin/crm/client_import_job.html): polls the job's
// JSON status, moves the progress bar, and reloads the page once the job has finished
// so the server renders the result. Without script the page refreshes itself.
(function () {
  "use strict";
  var box = document.getElementById("import-job");
  if (!box || box.getAttribute("data-finished") === "1" || !window.fetch) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("import-progress");
  var done = document.getElementById("import-done");
  var status = box.getAttribute("data-status") || "";  // the state the page was rendered in
  function show(state) {
    if (bar) {
      bar.style.width = state.percent + "%";
      bar.setAttribute("aria-valuenow", state.percent);
      bar.textContent = state.percent + " %";
    }
    if (done) { done.textContent = state.done; }
    // the wording of each state is the server's: reload when the state changes
    if (state.finished || (status && state.status !== status)) { window.location.reload(); return false; }
    status = state.status;
    return true;
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (state) { if (show(state)) { window.setTimeout(poll, 1500); } })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
}());
