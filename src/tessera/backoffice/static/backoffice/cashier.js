/* The cashier screen's basket (E3): add lines and see the running total. No build step, no framework.
   Without JavaScript the page still works: one line, and the server's quote. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // The receipt's Print button (no inline handler: the Content-Security-Policy forbids them).
  ready(function () {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  });

  ready(function () {
    var root = document.getElementById("cashier-basket");
    if (!root) return;
    var rows = document.getElementById("line-rows");
    var template = document.getElementById("line-template");
    var total = document.getElementById("lines-TOTAL_FORMS") || document.querySelector("input[name$='-TOTAL_FORMS']");
    var addButton = document.getElementById("add-line");
    var output = document.getElementById("basket-total");
    var currency = root.dataset.currency;
    var format;
    try {
      format = new Intl.NumberFormat(document.documentElement.lang || undefined, { style: "currency", currency: currency });
    } catch (e) {
      format = { format: function (n) { return n.toFixed(2) + " " + currency; } };
    }

    function recompute() {
      var sum = 0;
      rows.querySelectorAll(".js-line").forEach(function (row) {
        var quantity = parseInt((row.querySelector(".js-quantity") || {}).value || "1", 10) || 0;
        var price = parseFloat((row.querySelector(".js-money") || {}).value || "0") || 0;
        sum += quantity * price;
      });
      output.textContent = format.format(sum);
    }

    function addLine() {
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var added = rows.lastElementChild;
      var first = added && added.querySelector("input");
      if (first) first.focus();
    }

    if (addButton && template && total) {
      addButton.hidden = false;
      addButton.addEventListener("click", addLine);
    }
    // Alt+N adds a line from anywhere in the basket, so the mouse is never needed.
    root.addEventListener("keydown", function (event) {
      if (event.altKey && (event.key === "n" || event.key === "N")) {
        event.preventDefault();
        addLine();
      }
    });
    rows.addEventListener("input", recompute);
    recompute();
  });
})();
