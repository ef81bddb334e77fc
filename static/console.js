/* The console's own behaviour, bound by data attributes so the page needs no inline
   handler under its Content-Security-Policy (script-src 'self' 'nonce-…'). */
(function () {
  "use strict";

  // Chinese calendar words for moment (2.9) and so for the date pickers.
  if (window.moment) {
    moment.locale("zh-cn", {
      months: "一月_二月_三月_四月_五月_六月_七月_八月_九月_十月_十一月_十二月".split("_"),
      monthsShort: "1月_2月_3月_4月_5月_6月_7月_8月_9月_10月_11月_12月".split("_"),
      weekdays: "星期日_星期一_星期二_星期三_星期四_星期五_星期六".split("_"),
      weekdaysShort: "周日_周一_周二_周三_周四_周五_周六".split("_"),
      weekdaysMin: "日_一_二_三_四_五_六".split("_"),
      week: { dow: 1, doy: 4 }
    });
    moment.locale("zh-cn");
  }

  var PICKER_LOCALE = {
    applyLabel: "确定",
    cancelLabel: "取消",
    fromLabel: "从",
    toLabel: "至",
    weekLabel: "周",
    customRangeLabel: "自定义"
  };

  // Give every date picker the Chinese buttons (Flask-Admin's form.js creates them on ready).
  function localisePickers() {
    var $ = window.jQuery;
    if (!$ || !$.fn.daterangepicker || $.fn.daterangepicker._console) {
      return;
    }
    var original = $.fn.daterangepicker;
    $.fn.daterangepicker = function (options, callback) {
      options = $.extend({}, options || {});
      options.locale = $.extend({}, PICKER_LOCALE, options.locale || {});
      return original.call(this, options, callback);
    };
    $.fn.daterangepicker._console = true;
  }

  // A link that only opens a menu or marks the current tab never navigates
  // (a "javascript:" address is itself blocked by the CSP).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('a[href^="javascript:"], a[href="#"]');
    if (link) {
      event.preventDefault();
    }
  }, true);

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", function (event) {
    if (!event.target.closest) {
      return;
    }
    var action = event.target.closest("[data-model-action]");
    if (action && window.modelActions) {
      event.preventDefault();
      window.modelActions.execute(action.getAttribute("data-model-action"));
      return;
    }
    var add = event.target.closest("[data-inline-add]");
    if (add && window.faForm) {
      event.preventDefault();
      window.faForm.addInlineField(add, add.getAttribute("data-inline-add"));
    }
  });

  // Phone width: each list row becomes a card; cells carry their column's label.
  function labelListCells() {
    var tables = document.querySelectorAll("table.model-list, table.card-list");
    Array.prototype.forEach.call(tables, function (table) {
      var heads = table.querySelectorAll("thead th");
      var labels = Array.prototype.map.call(heads, function (th) {
        return th.textContent.replace(/\s+/g, " ").trim();
      });
      var dataColumns = 0;
      Array.prototype.forEach.call(heads, function (th, i) {
        if (th.classList.contains("column-header")) {
          dataColumns += 1;
          th.setAttribute("data-column-order", String(dataColumns));
        }
      });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr, tr"), function (row) {
        var order = 0;
        Array.prototype.forEach.call(row.children, function (cell, i) {
          if (cell.tagName !== "TD") {
            return;
          }
          if (labels[i]) {
            cell.setAttribute("data-label", labels[i]);
          }
          var head = heads[i];
          if (head && head.classList.contains("column-header")) {
            order += 1;
            if (head.classList.contains("col-policy_flags")) {
              cell.classList.add("card-flags");
            } else if (order === 1) {
              cell.classList.add("card-title-cell");
            } else if (order > 3) {
              cell.classList.add("card-extra");
            }
          }
        });
      });
    });
  }

  // A refused save: the banner's links scroll to the field and focus it.
  function focusFromBanner() {
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-field-link]");
      if (!link) {
        return;
      }
      var field = document.getElementById(link.getAttribute("data-field-link"));
      if (field) {
        event.preventDefault();
        field.scrollIntoView({ block: "center" });
        field.focus();
      }
    });
  }

  // Required fields carry a red star beside their label (wtf-peewee's own validator sets the flag
  // that renders "required"; Flask-Admin only stars DataRequired/InputRequired).
  function markRequired() {
    var inputs = document.querySelectorAll("form.admin-form [required], form.admin-form [data-required]");
    Array.prototype.forEach.call(inputs, function (input) {
      var label = input.id && document.querySelector('label[for="' + input.id + '"]');
      if (label && !label.querySelector(".text-danger, .required-mark")) {
        var mark = document.createElement("strong");
        mark.className = "text-danger required-mark";
        mark.setAttribute("title", "必填");
        mark.textContent = " *";
        label.appendChild(mark);
      }
    });
  }

  function ready() {
    markRequired();
    localisePickers();
    labelListCells();
  }

  focusFromBanner();
  if (window.jQuery) {
    window.jQuery(ready);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
