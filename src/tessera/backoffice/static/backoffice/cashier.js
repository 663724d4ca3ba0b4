/* The cashier screen (E3), keyboard first (issue 14): after every step the cursor is where the next
   keystroke belongs, so a sale needs no Tab and no mouse. No build step, no framework.

   Basket: Enter moves product → quantity → unit price → the next line (a new one when it was the last);
   Enter on an empty product box asks for the quote; F2 quote, F4 continue to confirmation, Alt+N add a
   line; a product box suggests the items sold lately, and a known name brings its last price. Receipt:
   Print has the focus, and once printed Next customer has it.

   Without JavaScript the page still works: one line, Enter asks for the server's quote, and the
   `autofocus` attributes the server writes place the cursor. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // Chrome may skip `autofocus` (after a redirect, when something else took the focus): the till's
  // pages name their starting field with it, and here it gets the focus for sure.
  ready(function () {
    var start = document.querySelector("[autofocus]");
    if (start && document.activeElement !== start) start.focus();
  });

  // The receipt's Print button (no inline handler: the Content-Security-Policy forbids them).
  ready(function () {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () {
        window.print();
        var next = button.dataset.then && document.getElementById(button.dataset.then);
        if (next) next.focus();
      });
    });
  });

  ready(function () {
    var root = document.getElementById("cashier-basket");
    if (!root) return;
    var form = document.getElementById("basket-form");
    var rows = document.getElementById("line-rows");
    var template = document.getElementById("line-template");
    var total = document.getElementById("lines-TOTAL_FORMS") || document.querySelector("input[name$='-TOTAL_FORMS']");
    var addButton = document.getElementById("add-line");
    var quoteButton = document.getElementById("quote-button");
    var continueButton = document.getElementById("continue-button");
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

    function field(row, suffix) {
      return row ? row.querySelector("input[name$='-" + suffix + "']") : null;
    }

    // Focus and select: typing replaces what is there (the quantity's 1, a price being corrected).
    function place(input) {
      if (!input) return;
      input.focus();
      if (typeof input.select === "function") input.select();
    }

    function lines() {
      return Array.prototype.slice.call(rows.querySelectorAll(".js-line"));
    }

    function anyItem() {
      return lines().some(function (row) { return (field(row, "name") || {}).value; });
    }

    function submit(button) {
      if (!button) return;
      if (form.requestSubmit) form.requestSubmit(button);
      else button.click();
    }

    // The quick-pick of recent items: each product box suggests them, and a known name brings its last
    // price into an empty price box (selected, so typing another replaces it).
    var recent = {};
    document.querySelectorAll("#recent-items option").forEach(function (option) {
      recent[option.value] = option.dataset.price;
    });

    function offerRecent(row) {
      var input = field(row, "name");
      if (input && Object.keys(recent).length) input.setAttribute("list", "recent-items");
    }

    function priceOfRecent(row) {
      var name = field(row, "name");
      var price = field(row, "unit_price");
      if (name && price && !price.value && recent[name.value.trim()] !== undefined) {
        price.value = recent[name.value.trim()];
        recompute();
      }
    }

    function addLine() {
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      offerRecent(rows.lastElementChild);
      place(field(rows.lastElementChild, "name"));
    }

    // Enter walks along a line and on to the next one; elsewhere it keeps its meaning (a quote).
    function enterInLine(input, row) {
      var name = input.name || "";
      if (/-name$/.test(name)) {
        if (!input.value.trim()) {
          if (anyItem()) submit(quoteButton);
          return;
        }
        priceOfRecent(row);
        place(field(row, "quantity"));
      } else if (/-quantity$/.test(name)) {
        place(field(row, "unit_price"));
      } else if (/-unit_price$/.test(name)) {
        var next = row.nextElementSibling;
        if (next) place(field(next, "name"));
        else addLine();
      }
    }

    document.addEventListener("keydown", function (event) {
      // An input method (Telex, pinyin) uses Enter to end a word: that Enter is not ours.
      if (event.isComposing || event.keyCode === 229) return;
      if (event.key === "F2" || event.key === "F4") {
        event.preventDefault();
        submit(event.key === "F2" ? quoteButton : continueButton);
        return;
      }
      if (event.altKey && !event.ctrlKey && (event.key === "n" || event.key === "N")) {
        event.preventDefault();
        addLine();
        return;
      }
      if (event.key !== "Enter" || event.altKey || event.ctrlKey || event.shiftKey || event.metaKey) return;
      var row = event.target.closest && event.target.closest(".js-line");
      if (!row || !rows.contains(row)) return;
      event.preventDefault();
      enterInLine(event.target, row);
    });

    if (addButton && template && total) {
      addButton.hidden = false;
      addButton.addEventListener("click", addLine);
    }
    rows.addEventListener("input", recompute);
    // A name picked from the suggestions (mouse or keys) brings its price at once.
    rows.addEventListener("change", function (event) {
      var row = event.target.closest && event.target.closest(".js-line");
      if (row && /-name$/.test(event.target.name || "")) priceOfRecent(row);
    });
    lines().forEach(offerRecent);
    recompute();

    // Where the cursor starts: the first field the server refused (a line's, then the basket's), else
    // Continue after a quote, else the first empty product box.
    var refused = form.querySelector("#line-rows .text-red-600, .errors");
    if (refused) {
      place(refused.classList.contains("errors")
        ? refused.querySelector("input:not([type=hidden]), select")
        : refused.parentNode.querySelector("input"));
    } else if (document.getElementById("quote")) {
      continueButton.focus();
    } else {
      var empty = lines().map(function (row) { return field(row, "name"); }).filter(function (input) {
        return input && !input.value;
      })[0];
      place(empty || field(rows.querySelector(".js-line"), "name"));
    }
    // The keys work now: show them, and tell the browser tests the page is ready for the keyboard.
    root.querySelectorAll("#cashier-keys, .js-key").forEach(function (hint) { hint.hidden = false; });
    root.dataset.keys = "ready";
  });
})();
