/* Staff scanner (H1). Finds a card by camera (BarcodeDetector), keyboard-wedge scanner or typing, then
 * adds or deducts points. Each intended action gets one Idempotency-Key; over a flaky connection it is
 * resent with the same key and body until the server answers, so a retry never adds twice. An action
 * still unanswered when the page closes is kept in localStorage and resent when the page opens again. */
(function () {
  "use strict";
  var root = document.getElementById("scanner");
  if (!root) { return; }
  var text = JSON.parse(document.getElementById("scanner-messages").textContent);
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var language = root.dataset.language;
  var PENDING = "tessera.scanner.pending";
  var MAX_TRIES = 8;
  var member = null;
  var busy = false;
  var $ = function (id) { return document.getElementById(id); };

  function fmt(n) { return Number(n).toLocaleString(language); }
  function say(message, kind) { var s = $("status"); s.textContent = message; s.className = "status " + (kind || ""); }
  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 15) | 64; bytes[8] = (bytes[8] & 63) | 128;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }
  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function detail(problem) { return (problem && problem.detail) || text.failed; }

  function showToday(today) {
    $("today-added").textContent = fmt(today.added);
    $("today-deducted").textContent = fmt(today.deducted);
  }

  function showMember(found) {
    member = found;
    $("member").hidden = false;
    $("member-name").textContent = found.name;
    $("member-phone").textContent = found.phone_tail;
    $("member-card").textContent = found.card || "";
    $("balance").textContent = fmt(found.balance);
    $("spendable").textContent = fmt(found.spendable);
    ["add-form", "deduct-form"].forEach(function (id) { if ($(id)) { $(id).hidden = false; } });
  }

  function clearMember() {
    member = null;
    $("member").hidden = true;
    ["add-form", "deduct-form"].forEach(function (id) { if ($(id)) { $(id).hidden = true; } });
  }

  function lookup(code) {
    code = (code || "").trim();
    if (!code) { return; }
    $("code").value = code;
    say("…");
    fetch(root.dataset.lookupUrl + "?q=" + encodeURIComponent(code), { credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { clearMember(); say(detail(data), "error"); return; }
          say("");
          showMember(data);
          var amount = $("amount");
          if (amount) { amount.focus(); }
        });
      })
      .catch(function () { say(text.offline, "error"); });
  }

  /* --- writes: one key per intended action, resent until answered --- */
  function attempt(action, tries) {
    return fetch(action.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Idempotency-Key": action.key },
      body: action.body
    }).then(function (response) {
      if (response.status >= 500) { throw new Error("server " + response.status); }
      return response.json().catch(function () { return {}; }).then(function (data) {
        localStorage.removeItem(PENDING);
        return { ok: response.ok, data: data, kind: action.kind };
      });
    }).catch(function (error) {
      if (tries + 1 >= MAX_TRIES) { throw error; }
      say(text.offline, "warning");
      return wait(Math.min(1000 * Math.pow(2, tries), 15000)).then(function () { return attempt(action, tries + 1); });
    });
  }

  function settle(result) {
    if (!result.ok) { say(detail(result.data), "error"); return; }
    var template = result.kind === "add" ? text.added : text.deducted;
    say(template.replace("%(points)s", fmt(result.data.points)), result.kind === "add" ? "success" : "deducted");
    $("balance").textContent = fmt(result.data.balance);
    $("spendable").textContent = fmt(result.data.spendable);
    showToday(result.data.today);
  }

  function send(kind, url, payload, form) {
    if (busy) { return; }
    busy = true;
    var action = { kind: kind, key: uuid(), url: url, body: JSON.stringify(payload) };
    localStorage.setItem(PENDING, JSON.stringify(action));
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    attempt(action, 0).then(function (result) {
      settle(result);
      if (result.ok) { form.reset(); }
    }, function () { say(text.offline, "error"); }).then(function () {
      busy = false;
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  function resendPending() {
    var saved = localStorage.getItem(PENDING);
    if (!saved || busy) { return; }
    busy = true;
    attempt(JSON.parse(saved), 0).then(settle, function () { say(text.offline, "error"); })
      .then(function () { busy = false; });
  }

  $("find-form").addEventListener("submit", function (event) { event.preventDefault(); lookup($("code").value); });

  if ($("add-form")) {
    $("add-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!member) { return; }
      send("add", root.dataset.addUrl, { member: member.member, amount: $("amount").value }, event.target);
    });
  }
  /* A deduction is asked about first ("Deduct 50 points from Nguyễn Văn An?") in a modal dialog: Esc or
   * Cancel sends nothing; only the dialog's own "Deduct" button sends, with "confirmed": true. */
  if ($("deduct-form")) {
    var dialog = $("deduct-confirm");
    var asked = null;
    $("deduct-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!member || busy) { return; }
      asked = { member: member.member, points: Number($("points").value), reason: $("reason").value, confirmed: true };
      $("deduct-question").textContent = text.deductQuestion
        .replace("%(points)s", fmt(asked.points)).replace("%(name)s", member.name);
      dialog.returnValue = "";
      dialog.showModal();
    });
    dialog.addEventListener("close", function () {
      var payload = asked;
      asked = null;
      if (dialog.returnValue === "confirm" && payload) {
        send("deduct", root.dataset.deductUrl, payload, $("deduct-form"));
      } else {
        say(text.cancelled, "warning");
        $("points").focus();
      }
    });
  }

  /* --- keyboard-wedge scanners type fast and end with Enter, wherever the focus is --- */
  var buffer = "", last = 0;
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) { return; }
    var now = Date.now();
    if (now - last > 80) { buffer = ""; }
    last = now;
    if (event.key === "Enter") {
      if (buffer.length >= 4) { event.preventDefault(); lookup(buffer); }
      buffer = "";
    } else if (event.key.length === 1) {
      buffer += event.key;
    }
  });

  /* --- camera --- */
  var stream = null;
  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); stream = null; }
    $("video").hidden = true;
  }
  function startCamera() {
    var detector = new window.BarcodeDetector({ formats: ["qr_code", "code_128"] });
    var video = $("video");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (media) {
      stream = media;
      video.srcObject = media;
      video.hidden = false;
      return video.play();
    }).then(function scanFrame() {
      if (!stream) { return; }
      detector.detect(video).then(function (codes) {
        if (codes.length) { stopCamera(); lookup(codes[0].rawValue); } else { setTimeout(scanFrame, 200); }
      }, function () { setTimeout(scanFrame, 400); });
    }).catch(function () {
      stopCamera();
      $("camera-note").textContent = text.cameraUnavailable;
      $("camera-note").hidden = false;
    });
  }
  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $("camera").hidden = false;
    $("camera").addEventListener("click", function () { if (stream) { stopCamera(); } else { startCamera(); } });
  } else {
    $("camera-note").textContent = text.cameraUnavailable;
    $("camera-note").hidden = false;
  }

  window.addEventListener("online", resendPending);
  resendPending();
})();
