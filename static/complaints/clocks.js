// Keep the complaint clocks current between page loads: recount every running clock each minute.
(function () {
  "use strict";
  var AMBER_SHARE = 0.25;

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    minutes = minutes % 60;
    if (days) { return days + " 天 " + hours + " 小时"; }
    if (hours) { return hours + " 小时 " + minutes + " 分钟"; }
    return minutes + " 分钟";
  }

  function refresh() {
    var now = Date.now();
    var clocks = document.querySelectorAll(".complaint-clock[data-due]");
    Array.prototype.forEach.call(clocks, function (el) {
      var start = Date.parse(el.getAttribute("data-start"));
      var due = Date.parse(el.getAttribute("data-due"));
      var atDue = el.getAttribute("data-breach-at-due") === "1";
      var state = "ok";
      if (now > due || (atDue && now >= due)) {
        state = "red";
      } else if (due - start > 0 && due - now < (due - start) * AMBER_SHARE) {
        state = "amber";
      }
      el.classList.remove("clock-ok", "clock-amber", "clock-red");
      el.classList.add("clock-" + state);
      el.setAttribute("data-state", state);
      var text = el.querySelector(".clock-text");
      if (text) {
        text.textContent = state === "red" ? "已超时 " + span(now - due) : "剩余 " + span(due - now);
      }
    });
  }

  window.setInterval(refresh, 60000);
}());
