/* The member portal's only script: choosing a language submits its form at once (the button shows only
   without JavaScript). A file, not an inline handler: the portal's Content-Security-Policy forbids those. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
})();
