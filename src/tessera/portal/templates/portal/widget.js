/* Tessera website widget (G2). Paste into the shop:
 *   <script src=".../m/<slug>/widget.js" data-phone="..." data-timestamp="..." data-token="..." async></script>
 * Without a valid signed token it draws nothing. No framework; the panel lives in a shadow DOM.
 * It needs no inline script, eval or inline style on the shop's page: a shop with a Content-Security-Policy
 * lists this site in script-src and connect-src (docs/widget.md). */
(function () {
  "use strict";
  var config = {{ config|safe }};
  var script = document.currentScript;
  if (!script || !window.fetch || !document.body || !document.body.attachShadow) { return; }
  var phone = script.getAttribute("data-phone");
  var timestamp = script.getAttribute("data-timestamp");
  var token = script.getAttribute("data-token");
  if (!phone || !timestamp || !token) { return; }
  var t = config.text;

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "w-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function call(method, path, body, key) {
    var headers = { "X-Widget-Phone": phone, "X-Widget-Timestamp": timestamp, "X-Widget-Token": token };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (key) { headers["Idempotency-Key"] = key; }
    return fetch(config.api + "/" + path, {
      method: method, headers: headers, body: body, mode: "cors", credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw data; }
        return data;
      });
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  var style = [
    ":host { all: initial; }",
    ".fab { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 999px;",
    "  padding: 12px 18px; font: 600 15px system-ui, sans-serif; color: #fff; background: " + config.primary + ";",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); cursor: pointer; }",
    ".panel { position: fixed; right: 20px; bottom: 76px; z-index: 2147483000; width: 300px; max-width: calc(100vw - 40px);",
    "  background: #fff; color: #1f2937; border-radius: 14px; box-shadow: 0 8px 30px rgba(0,0,0,.25);",
    "  font: 14px/1.45 system-ui, sans-serif; overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    ".head { background: " + config.primary + "; color: #fff; padding: 12px 14px; font-weight: 600; }",
    ".body { padding: 12px 14px; }",
    ".points { font-size: 28px; font-weight: 700; color: " + config.primary + "; }",
    ".muted { color: #6b7280; }",
    "ul { list-style: none; margin: 8px 0 0; padding: 0; }",
    "li { display: flex; justify-content: space-between; gap: 8px; align-items: center; padding: 6px 0; border-top: 1px solid #eee; }",
    "li button { border: 0; border-radius: 8px; padding: 6px 10px; background: " + config.accent + "; cursor: pointer; font: inherit; }",
    ".code { font: 600 16px ui-monospace, monospace; background: #f3f4f6; padding: 6px 8px; border-radius: 6px; margin-top: 8px; }"
  ].join("\n");

  function render(me) {
    var host = el("div", { id: "tessera-widget" });
    var root = host.attachShadow({ mode: "open" });
    // A constructed style sheet is not an inline <style>: the shop's own Content-Security-Policy lets it
    // through whatever its style-src says. Browsers without them get the <style> element.
    if ("adoptedStyleSheets" in root && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(style);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", {}, style));
    }
    var button = el("button", { "class": "fab", type: "button", "aria-expanded": "false" }, t.open);
    var panel = el("section", { "class": "panel", hidden: "", role: "dialog", "aria-label": config.merchant });
    panel.appendChild(el("div", { "class": "head" }, config.merchant));
    var body = el("div", { "class": "body" });
    panel.appendChild(body);
    body.appendChild(el("div", { "class": "muted" }, t.points));
    body.appendChild(el("div", { "class": "points", "data-points": "" }, me.points.balance.toLocaleString()));
    body.appendChild(el("div", { "class": "muted" }, t.available + ": " + me.points.spendable.toLocaleString()));
    if (me.tier) { body.appendChild(el("div", { "data-tier": "" }, t.tier + ": " + me.tier.name)); }
    var list = el("ul");
    if (!me.offers.length) { body.appendChild(el("p", { "class": "muted" }, t.no_offers)); }
    me.offers.forEach(function (offer) {
      var item = el("li");
      item.appendChild(el("span", {}, offer.name + " · " + offer.points.toLocaleString()));
      var redeem = el("button", { type: "button" }, t.redeem);
      var key = uuid(); // one key per intended redemption: a retry never spends twice
      redeem.addEventListener("click", function () {
        redeem.disabled = true;
        call("POST", "redeem", JSON.stringify({ offer: offer.id }), key).then(function (result) {
          body.appendChild(el("div", { "class": "code", "data-code": "" }, t.your_code + ": " + result.code));
          key = uuid();
        }, function () {
          body.appendChild(el("p", { "class": "muted" }, t.failed));
        }).then(function () { redeem.disabled = false; });
      });
      item.appendChild(redeem);
      list.appendChild(item);
    });
    body.appendChild(list);
    button.addEventListener("click", function () {
      var open = panel.hasAttribute("hidden");
      if (open) { panel.removeAttribute("hidden"); } else { panel.setAttribute("hidden", ""); }
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? t.close : t.open;
    });
    root.appendChild(panel);
    root.appendChild(button);
    document.body.appendChild(host);
  }

  call("GET", "me").then(render, function () { /* not signed in, or not a member: show nothing */ });
})();
