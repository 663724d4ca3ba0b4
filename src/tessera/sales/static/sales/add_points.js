/* The add-points page (issue 14): suggestions for the member field as staff type a phone, a name or a
 * card number (a <datalist>, so the browser's own keyboard handling applies), and the points the entry
 * will add, asked of the server, which computes them with the earning rules exactly as saving will.
 * Without this script the page still works: the member is typed by phone or card number, and
 * "Show the points" asks the server the same question with a round trip. */
(function () {
  "use strict";

  function debounce(run, wait) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(run, wait); };
  }

  function start() {
    var form = document.getElementById("add-points-form");
    if (!form) { return; }
    var member = form.elements.member;
    var list = document.getElementById("member-suggestions");
    var found = document.getElementById("member-found");
    var preview = document.getElementById("points-preview");
    var suggested = 0, previewed = 0;

    function suggest() {
      var text = member.value.trim();
      var mine = ++suggested;
      if (text.length < 2) { list.replaceChildren(); return; }
      fetch(form.dataset.suggestUrl + "?q=" + encodeURIComponent(text), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (mine !== suggested) { return; }
          list.replaceChildren.apply(list, data.results.map(function (row) {
            var option = document.createElement("option");
            option.value = row.value;
            option.label = row.label;
            option.textContent = row.label;
            return option;
          }));
        })
        .catch(function () {});
    }

    function ask() {
      var mine = ++previewed;
      var params = new URLSearchParams(new FormData(form));
      params.delete("csrfmiddlewaretoken");
      fetch(form.dataset.previewUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data || mine !== previewed) { return; }
          preview.textContent = data.points;
          var memberErrors = member.value.trim() && data.errors.member;
          found.textContent = memberErrors ? memberErrors.join(" ") : data.member;
        })
        .catch(function () {});
    }

    member.setAttribute("list", list.id);
    member.addEventListener("input", debounce(suggest, 200));
    form.addEventListener("input", debounce(ask, 300));
    form.addEventListener("change", debounce(ask, 300));
  }

  if (document.readyState !== "loading") { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
