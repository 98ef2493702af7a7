// vaultpage passkeys on the hosted pages (with static/webauthn.js). A button with
// data-passkey="login" or "register" starts the ceremony at data-begin,
// hands the options to the browser, posts the authenticator's answer to
// data-finish, and follows the "next" the server returns. Buttons stay
// hidden where the browser has no WebAuthn.
(function () {
  "use strict";
  var webauthn = window.vaultpageWebAuthn; // static/webauthn.js
  if (!webauthn) return;

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

  document.querySelectorAll("button[data-passkey]").forEach(function (button) {
    var ceremony = button.getAttribute("data-passkey") === "register" ? webauthn.register : webauthn.login;
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
