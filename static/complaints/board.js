// Drag a card onto another column: runs the card's own move form for that column (same path as the buttons).
(function () {
  "use strict";
  var dragged = null;

  function formFor(card, status) {
    return card ? card.querySelector('.move-form[data-target="' + status + '"]') : null;
  }

  Array.prototype.forEach.call(document.querySelectorAll(".complaint-card"), function (card) {
    if (!card.querySelector(".move-form")) { return; }
    card.setAttribute("draggable", "true");
    card.addEventListener("dragstart", function (event) {
      dragged = card;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.id);
    });
    card.addEventListener("dragend", function () { dragged = null; });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-status].board-column, [data-status].board-folded"),
    function (column) {
      var status = column.getAttribute("data-status");
      column.addEventListener("dragover", function (event) {
        if (formFor(dragged, status)) {
          event.preventDefault();
          column.classList.add("drop-target");
        }
      });
      column.addEventListener("dragleave", function () { column.classList.remove("drop-target"); });
      column.addEventListener("drop", function (event) {
        column.classList.remove("drop-target");
        var form = formFor(dragged, status);
        if (!form) { return; }
        event.preventDefault();
        var input = form.querySelector("select, textarea");
        if (input) {
          // The move needs an answer (satisfaction, reason): open the card's moves and ask for it.
          var details = form.closest("details");
          if (details) { details.open = true; }
          input.focus();
          return;
        }
        form.submit();
      });
    });
}());
