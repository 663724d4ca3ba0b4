/* Beside every typed-money field (input[data-money]), what the server reads it as: "= 150.000 ₫", or why
 * it cannot read it. The server's parser is the one authority (issue 14): this only asks it, a moment
 * after the typing stops. The script tag carries the address: <script data-url="…/staff/amount/">. */
(function () {
  "use strict";
  var url = document.currentScript && document.currentScript.dataset.url;
  if (!url) { return; }

  function attach(input) {
    // The page may place the answer (<output for="…" class="money-preview">); else it goes after the field.
    var output = input.id && document.querySelector("output.money-preview[for='" + input.id + "']");
    if (!output) {
      output = document.createElement("output");
      output.className = "money-preview";
      output.setAttribute("aria-live", "polite");
      input.insertAdjacentElement("afterend", output);
    }
    var timer = null, asked = 0;

    function show(text, error) {
      output.textContent = text;
      output.classList.toggle("error", Boolean(error));
    }
    function ask() {
      var text = input.value.trim();
      var mine = ++asked;
      if (!text) { show(""); return; }
      fetch(url + "?text=" + encodeURIComponent(text), { credentials: "same-origin" })
        .then(function (response) {
          return response.json().then(function (data) {
            if (mine !== asked) { return; }  // a later keystroke already asked
            if (response.ok) { show("= " + data.display); } else { show(data.detail || "", true); }
          });
        })
        .catch(function () { if (mine === asked) { show(""); } });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 250);
    });
    if (input.form) { input.form.addEventListener("reset", function () { asked++; show(""); }); }
    if (input.value) { ask(); }
  }

  function start() { document.querySelectorAll("input[data-money]").forEach(attach); }
  if (document.readyState !== "loading") { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
