// Material Symbols draw an icon from the ligature of its name: to a screen reader the icon *is* the word
// ("dock_to_right", "filter_list"). Hide every icon from assistive technology, and name a control whose
// only content is an icon after its title (issue 14). The header's own buttons are named in templates.
(function () {
  "use strict";
  var ICON = ".material-symbols-outlined";

  function iconOnly(control) {
    var icons = Array.prototype.map.call(control.querySelectorAll(ICON), function (icon) {
      return icon.textContent;
    });
    return icons.length > 0 && control.textContent.replace(/\s+/g, "") === icons.join("").replace(/\s+/g, "");
  }

  function name(root) {
    root.querySelectorAll(ICON).forEach(function (icon) {
      icon.setAttribute("aria-hidden", "true");
    });
    root.querySelectorAll("a, button").forEach(function (control) {
      if (!control.hasAttribute("aria-label") && control.title && iconOnly(control)) {
        control.setAttribute("aria-label", control.title);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { name(document); });
  } else {
    name(document);
  }
})();
