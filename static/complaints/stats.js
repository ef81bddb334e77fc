// Draw the 投诉统计 charts from the JSON the page carries (Chart.js, vendored under static/vendor/chartjs).
(function () {
  "use strict";
  var source = document.getElementById("stats-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"];

  function draw(id, rows, kind, color) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    var pie = kind === "doughnut";
    new Chart(canvas, {
      type: kind,
      data: {
        labels: rows.map(function (r) { return r[0]; }),
        datasets: [{
          label: "件数",
          data: rows.map(function (r) { return r[1]; }),
          backgroundColor: pie ? palette : (color || palette[0])
        }]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: pie, position: "bottom" } },
        scales: pie ? {} : { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  draw("chart-category", data.category, "bar", palette[0]);
  draw("chart-department", data.department, "bar", palette[3]);
  draw("chart-severity", data.severity, "doughnut");
  draw("chart-channel", data.channel, "bar", palette[1]);
  draw("chart-breaches", data.breaches, "bar", palette[2]);
}());
