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
          // The request to sign at the top goes: nothing can be signed now.
          var panel = document.getElementById("sign-panel");
          if (panel) {
            var note = document.createElement("p");
            note.className = "yourpart muted";
            note.id = "no-longer";
            note.textContent = "This ceremony no longer accepts signatures.";
            panel.replaceWith(note);
          }
        }
        document.dispatchEvent(new CustomEvent("guildhall:updated", { detail: { el: el } }));
      })
      .catch(function () { /* the next event or reconnect retries */ });
  }

  // A page keeps its stream only while it is shown. A page in the back/forward
  // cache that kept it would hold one of the browser's six connections to this
  // host (HTTP/1.1) until the cache dropped it; after a few pages every new
  // navigation would wait for one. So: close on pagehide, reopen on pageshow
  // when the page comes back from the cache (the "hello" then refreshes it).
  function subscribe(el) {
    var src = el.getAttribute("data-live-src");
    if (!src || !window.EventSource) return;
    var es = null;
    function open() {
      if (es) return;
      es = new EventSource(src);
      es.addEventListener("change", function () { refresh(el); });
      // After a reconnect the page may have missed events: refresh once.
      es.addEventListener("hello", function () {
        if (el.getAttribute("data-seen-hello")) refresh(el);
        el.setAttribute("data-seen-hello", "1");
        document.body.setAttribute("data-live", "connected");
      });
      es.onerror = function () { document.body.setAttribute("data-live", "reconnecting"); };
    }
    function close() {
      if (!es) return;
      es.close();
      es = null;
      document.body.setAttribute("data-live", "closed");
    }
    window.addEventListener("pagehide", close);
    window.addEventListener("pageshow", function (e) { if (e.persisted) open(); });
    open();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-src]").forEach(subscribe);
  });
})();

// Passkeys: registration on /account, signing on the review page. The server
// sends WebAuthn options as JSON (binary fields base64url); we convert them for
// the browser API and convert the authenticator's answer back.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function showError(id, msg) {
    var el = document.getElementById(id);
    if (!el) return;
    el.textContent = msg;
    el.hidden = false;
  }
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.detail || j.title || ("request failed (" + r.status + ")"));
        return j;
      });
    });
  }

  function register(btn) {
    btn.disabled = true;
    postJSON("/account/passkeys/begin", {}).then(function (begin) {
      var pk = begin.publicKey;
      pk.challenge = b64urlToBuf(pk.challenge);
      pk.user.id = b64urlToBuf(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
      return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
        var resp = {
          id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: bufToB64url(cred.response.clientDataJSON),
            attestationObject: bufToB64url(cred.response.attestationObject),
            transports: cred.response.getTransports ? cred.response.getTransports() : []
          },
          clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
        };
        var label = document.getElementById("passkey-label");
        return postJSON("/account/passkeys/finish", { ticket: begin.ticket, label: label ? label.value : "", credential: resp });
      });
    }).then(function (done) {
      window.location.assign(done.redirect || "/account");
    }).catch(function (e) {
      btn.disabled = false;
      showError("passkey-error", "The passkey was not registered: " + e.message);
    });
  }

  function sign(btn) {
    btn.disabled = true;
    var opts = JSON.parse(btn.getAttribute("data-options"));
    opts.challenge = b64urlToBuf(opts.challenge);
    (opts.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    navigator.credentials.get({ publicKey: opts }).then(function (cred) {
      var resp = {
        id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
        response: {
          clientDataJSON: bufToB64url(cred.response.clientDataJSON),
          authenticatorData: bufToB64url(cred.response.authenticatorData),
          signature: bufToB64url(cred.response.signature),
          userHandle: cred.response.userHandle ? bufToB64url(cred.response.userHandle) : undefined
        },
        clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
      };
      return postJSON(btn.getAttribute("data-url"), { ticket: btn.getAttribute("data-ticket"), credential: resp });
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (e) {
      btn.disabled = false;
      showError("sign-error", "Nothing was signed: " + e.message);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var reg = document.getElementById("passkey-register");
    if (reg) reg.addEventListener("click", function () { register(reg); });
    var s = document.getElementById("passkey-sign");
    if (s) s.addEventListener("click", function () { sign(s); });
  });
})();
