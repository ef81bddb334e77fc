// Show the chosen file's name in the upload box (Bootstrap's custom file input needs it).
(function () {
  var input = document.getElementById("import-file");
  if (!input) { return; }
  input.addEventListener("change", function () {
    var label = input.parentNode.querySelector(".custom-file-label");
    if (label) { label.textContent = input.files.length ? input.files[0].name : "未选择文件"; }
  });
})();
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
        set("import-percent", p.total ? Math.floor(100 * p.done / p.total) : 100);
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
