// vaultpage completion page: hands the consent's outcome to whoever opened
// the hosted flow. The outcome is not secret: the consent id and its status.
(function () {
  "use strict";
  var el = document.getElementById("vaultpage-result");
  if (!el) return;
  var r = JSON.parse(el.textContent);
  var message = { type: "vaultpage:complete", consent_id: r.consent_id, status: r.status };
  if (r.mode === "popup") {
    if (window.opener && r.target_origin) {
      // Only the partner's registered origin may receive the outcome.
      window.opener.postMessage(message, r.target_origin);
    }
    window.close();
    return;
  }
  if (r.mode === "sdk") {
    try {
      if (window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.vaultpage) {
        window.webkit.messageHandlers.vaultpage.postMessage(message);
      }
      if (window.VaultPageAndroid && window.VaultPageAndroid.onComplete) {
        window.VaultPageAndroid.onComplete(JSON.stringify(message));
      }
      if (window.ReactNativeWebView && window.ReactNativeWebView.postMessage) {
        window.ReactNativeWebView.postMessage(JSON.stringify(message));
      }
    } finally {
      window.location.replace(r.scheme_url);
    }
  }
})();
