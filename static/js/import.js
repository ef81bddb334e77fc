// Poll an import job's progress and refresh the page when it is finished (CSP-safe: no inline script).
(function () {
  var box = document.getElementById("import-job");
  if (!box || box.getAttribute("data-status") !== "running") { return; }
  var url = box.getAttribute("data-progress-url");
  function set(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        set("import-status", p.label);
        set("import-done", p.done);
        set("import-imported", p.imported);
        set("import-updated", p.updated);
        set("import-skipped", p.skipped);
        set("import-failed", p.failed);
        var bar = document.getElementById("import-progress");
        if (bar) { bar.value = p.done; }
        if (p.status === "running") { setTimeout(poll, 1000); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
