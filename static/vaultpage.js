// vaultpage.js — partners embed this to run the hosted flow in a popup.
//
//   VaultPage.launch(token, {
//     origin: "https://cards.example",          // where vaultpage runs
//     onComplete: function (r) { ... }          // r.consentId, r.status: approved | canceled | error
//   });
//
// The popup posts its outcome with a strict target origin (the partner's
// registered return URL's origin); this script accepts it only from the
// vaultpage origin. Always confirm with GET /v3/consents/{id} from your server.
(function (global) {
  "use strict";
  function launch(token, opts) {
    opts = opts || {};
    var origin = (opts.origin || "").replace(/\/$/, "");
    if (!/^https?:\/\//.test(origin)) throw new Error("VaultPage.launch: opts.origin is required");
    if (!/^vpk_[A-Za-z0-9_-]+$/.test(token)) throw new Error("VaultPage.launch: malformed token");
    var done = false;
    var popup = global.open(origin + "/c/" + token, "vaultpage", "popup,width=420,height=720");
    function finish(result) {
      if (done) return;
      done = true;
      global.removeEventListener("message", onMessage);
      clearInterval(watch);
      if (typeof opts.onComplete === "function") opts.onComplete(result);
    }
    function onMessage(ev) {
      if (ev.origin !== origin || !ev.data || ev.data.type !== "vaultpage:complete") return;
      finish({ consentId: ev.data.consent_id, status: ev.data.status === "approved" ? "approved" : (ev.data.status === "canceled" ? "canceled" : "error") });
    }
    global.addEventListener("message", onMessage);
    // A popup closed without a message means the cardholder closed it. The
    // completion page posts its outcome just before it closes itself, and
    // that message may still be queued when the close is seen: give it a
    // moment to arrive before reporting "canceled" without a consent.
    var watch = setInterval(function () {
      if (popup && !popup.closed) return;
      clearInterval(watch);
      setTimeout(function () { finish({ consentId: null, status: "canceled" }); }, 750);
    }, 500);
    if (!popup) finish({ consentId: null, status: "error" });
    return popup;
  }
  global.VaultPage = { launch: launch };
})(window);
