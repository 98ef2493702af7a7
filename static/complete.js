// vaultpage outcome page: tells whoever opened the hosted flow how it
// ended, then goes back after the seconds the page states (or at once, on
// the Back button). The outcome is not secret: the consent id and status.
(function () {
  "use strict";
  var el = document.getElementById("vaultpage-result");
  if (!el) return;
  var r = JSON.parse(el.textContent);
  var message = { type: "vaultpage:complete", consent_id: r.consent_id, status: r.status };
  if (r.mode === "popup" && window.opener && r.target_origin) {
    // Only the partner's registered origin may receive the outcome.
    window.opener.postMessage(message, r.target_origin);
  }
  if (r.mode === "sdk") {
    if (window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.vaultpage) {
      window.webkit.messageHandlers.vaultpage.postMessage(message);
    }
    if (window.VaultPageAndroid && window.VaultPageAndroid.onComplete) {
      window.VaultPageAndroid.onComplete(JSON.stringify(message));
    }
    if (window.ReactNativeWebView && window.ReactNativeWebView.postMessage) {
      window.ReactNativeWebView.postMessage(JSON.stringify(message));
    }
  }
  var gone = false;
  function go() {
    if (gone) return;
    gone = true;
    clearInterval(tick);
    if (r.mode === "popup") window.close();
    else if (r.mode === "sdk") window.location.replace(r.scheme_url);
    else if (r.return_url) window.location.replace(r.return_url);
  }
  var back = document.querySelector("[data-go]");
  if (back) {
    back.addEventListener("click", function (ev) {
      ev.preventDefault();
      go();
    });
  }
  var left = parseInt(r.return_after, 10);
  var seconds = document.querySelector("[data-seconds]");
  if (!(left > 0) || !back) return;
  var tick = setInterval(function () {
    left -= 1;
    if (seconds) seconds.textContent = String(Math.max(left, 0));
    if (left <= 0) go();
  }, 1000);
})();
