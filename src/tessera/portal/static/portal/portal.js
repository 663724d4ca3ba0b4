/* The member portal's only script: choosing a language submits its form at once (the button shows only
   without JavaScript); spending points is confirmed in a dialog; promo codes get a copy button. A file,
   not an inline handler: the portal's Content-Security-Policy forbids those. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    confirmSpending();
    copyButtons();
  });

  /* Spending points is asked about first ("Redeem 100 points for …?") in a modal dialog; only its
     "Yes" sends the form, with confirmed=1. Without this script the server asks on a page of its own. */
  function confirmSpending() {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    var pending = null;
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        pending = form;
        document.getElementById("confirm-question").textContent = form.dataset.confirm;
        dialog.returnValue = "";
        dialog.showModal();
      });
    });
    dialog.addEventListener("close", function () {
      var form = pending;
      pending = null;
      if (!form || dialog.returnValue !== "confirm") { return; }
      var yes = document.createElement("input");
      yes.type = "hidden"; yes.name = "confirmed"; yes.value = "1";
      form.appendChild(yes);
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      form.submit();  // submit() skips the submit listener: asked once
    });
  }

  /* "Copy" beside a promo code, where the browser lets a page write to the clipboard. */
  function copyButtons() {
    if (!navigator.clipboard || !window.isSecureContext) { return; }
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          button.textContent = button.dataset.copied;
          setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  }
})();
