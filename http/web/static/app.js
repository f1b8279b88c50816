// xpromo dashboard: copy-to-clipboard and date-range shortcuts. Every page
// works without this file except the copy buttons.
"use strict";
(function () {
  function iso(d) {
    var m = String(d.getMonth() + 1).padStart(2, "0"), day = String(d.getDate()).padStart(2, "0");
    return d.getFullYear() + "-" + m + "-" + day;
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (b) {
      var text = b.getAttribute("data-copy");
      var label = b.getAttribute("data-label") || b.textContent;
      b.setAttribute("data-label", label);
      var done = function () { b.classList.add("copied"); b.textContent = "Copied"; setTimeout(function () { b.classList.remove("copied"); b.textContent = label; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
      } else { fallback(text); done(); }
      return;
    }
    var r = ev.target.closest("[data-range]");
    if (r) {
      var f = r.closest("form"), now = new Date(), from, to = now;
      switch (r.getAttribute("data-range")) {
        case "month": from = new Date(now.getFullYear(), now.getMonth(), 1); break;
        case "last-month": from = new Date(now.getFullYear(), now.getMonth() - 1, 1); to = new Date(now.getFullYear(), now.getMonth(), 0); break;
        default: from = new Date(now.getTime() - (parseInt(r.getAttribute("data-range"), 10) - 1) * 864e5);
      }
      f.elements.from.value = iso(from); f.elements.to.value = iso(to);
      f.submit();
    }
  });
  function fallback(text) {
    var t = document.createElement("textarea");
    t.value = text; t.setAttribute("readonly", ""); t.style.position = "absolute"; t.style.left = "-9999px";
    document.body.appendChild(t); t.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(t);
  }
  document.querySelectorAll(".quick").forEach(function (q) { q.hidden = false; });
})();
