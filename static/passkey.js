// vaultpage passkeys: the WebAuthn glue for the hosted pages. A button with
// data-passkey="login" or "register" starts the ceremony at data-begin,
// hands the options to the browser, posts the authenticator's answer to
// data-finish, and follows the "next" the server returns. Buttons stay
// hidden where the browser has no WebAuthn.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function decode(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }

  function encode(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.error || "");
        return data;
      });
    });
  }

  function login(options) {
    var pk = options.publicKey;
    pk.challenge = decode(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return navigator.credentials.get({ publicKey: pk }).then(function (cred) {
      var r = cred.response;
      return {
        id: cred.id, rawId: encode(cred.rawId), type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment || undefined,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: encode(r.clientDataJSON),
          authenticatorData: encode(r.authenticatorData),
          signature: encode(r.signature),
          userHandle: r.userHandle ? encode(r.userHandle) : undefined
        }
      };
    });
  }

  function register(options) {
    var pk = options.publicKey;
    pk.challenge = decode(pk.challenge);
    pk.user.id = decode(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
      var r = cred.response;
      return {
        id: cred.id, rawId: encode(cred.rawId), type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment || undefined,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: encode(r.clientDataJSON),
          attestationObject: encode(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : []
        }
      };
    });
  }

  document.querySelectorAll("button[data-passkey]").forEach(function (button) {
    var ceremony = button.getAttribute("data-passkey") === "register" ? register : login;
    var csrf = button.getAttribute("data-csrf");
    var alert = document.getElementById(button.getAttribute("data-alert"));
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      if (alert) alert.hidden = true;
      post(button.getAttribute("data-begin"), csrf)
        .then(ceremony)
        .then(function (answer) { return post(button.getAttribute("data-finish"), csrf, answer); })
        .then(function (data) { window.location.assign(data.next); })
        .catch(function (err) {
          button.disabled = false;
          if (!alert) return;
          // The server's message when it gave one; the page's otherwise (the
          // cardholder closed the prompt, or the device has no passkey).
          alert.textContent = (err && err.message && err.name === "Error") ? err.message : alert.getAttribute("data-default");
          alert.hidden = false;
        });
    });
  });
})();
