// Guildhall live updates: plain JS, no inline script (CSP script-src 'self').
// An element with data-live-src subscribes to a Server-Sent Events stream; on each
// "change" event it re-fetches its data-fragment URL and swaps its content, so
// pages stay server-rendered and work without this file.
(function () {
  "use strict";

  function refresh(el) {
    var url = el.getAttribute("data-fragment");
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        el.innerHTML = html;
        el.setAttribute("data-updated", String(Date.now()));
        var st = el.querySelector("[data-status]");
        if (st && st.getAttribute("data-status") !== "collecting") {
          var form = document.getElementById("sign-form");
          if (form) {
            var note = document.createElement("p");
            note.className = "muted";
            note.textContent = "This ceremony no longer accepts signatures.";
            form.replaceWith(note);
          }
        }
        document.dispatchEvent(new CustomEvent("guildhall:updated", { detail: { el: el } }));
      })
      .catch(function () { /* the next event or reconnect retries */ });
  }

  function subscribe(el) {
    var src = el.getAttribute("data-live-src");
    if (!src || !window.EventSource) return;
    var es = new EventSource(src);
    es.addEventListener("change", function () { refresh(el); });
    // After a reconnect the page may have missed events: refresh once.
    es.addEventListener("hello", function (e) {
      if (el.getAttribute("data-seen-hello")) refresh(el);
      el.setAttribute("data-seen-hello", "1");
      document.body.setAttribute("data-live", "connected");
    });
    es.onerror = function () { document.body.setAttribute("data-live", "reconnecting"); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-src]").forEach(subscribe);
  });
})();
