// vaultpage challenge window: a merchant's checkout opens it in an iframe
// or a popup to have the cardholder authenticate one payment. It keeps no
// cookie (a third-party frame may not have one): the page's sealed session
// travels in the X-Vaultpage-Session header of every request, and each
// answer may renew it. The outcome, the authentication id and its
// trans_status (Y or N, nothing secret), is posted to the merchant's
// origin alone.
(function () {
  "use strict";
  var root = document.getElementById("challenge");
  if (!root) return;
  // The token in the URL is used up; it leaves the frame's address and
  // history too.
  if (window.history && window.history.replaceState) window.history.replaceState(null, "", "/a/");
  var session = root.getAttribute("data-session");
  var csrf = root.getAttribute("data-csrf");
  var origin = root.getAttribute("data-origin");
  var authentication = root.getAttribute("data-authentication");
  var alert = document.querySelector("[data-testid=challenge-error]");
  var start = root.querySelector("[data-step=start]");
  var verify = root.querySelector("[data-step=verify]");
  var done = document.querySelector("[data-step=done]");

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "X-Vaultpage-Session": session },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      var renewed = res.headers.get("X-Vaultpage-Session");
      if (renewed) session = renewed;
      return res.json().then(function (data) {
        if (data.outcome) finish(data.outcome);
        if (!res.ok) throw new Error(data.error || "");
        return data;
      });
    });
  }

  function show(err) {
    alert.textContent = (err && err.name === "Error" && err.message) ? err.message : alert.getAttribute("data-default") || "";
    alert.hidden = alert.textContent === "";
  }

  var finished = false;
  function finish(outcome) {
    if (finished) return;
    finished = true;
    root.hidden = true;
    done.querySelector("[data-testid=outcome-heading]").textContent = outcome.heading;
    done.querySelector("[data-testid=outcome-explain]").textContent = outcome.explain;
    done.hidden = false;
    var message = { type: "vaultpage:authentication", authentication_id: authentication, trans_status: outcome.trans_status };
    var target = window.opener || (window.parent !== window ? window.parent : null);
    if (target && origin) target.postMessage(message, origin);
  }

  function busy(el, on) { if (el) el.disabled = on; }

  var passkey = root.querySelector("[data-action=passkey]");
  if (passkey) {
    if (!window.vaultpageWebAuthn) { // static/webauthn.js: none where the browser has no WebAuthn
      passkey.hidden = true;
    } else {
      passkey.addEventListener("click", function () {
        busy(passkey, true);
        alert.hidden = true;
        post("/challenge/passkey")
          .then(window.vaultpageWebAuthn.login)
          .then(function (answer) { return post("/challenge/passkey/finish", answer); })
          .catch(show)
          .then(function () { busy(passkey, false); });
      });
    }
  }

  root.querySelector("[data-action=code]").addEventListener("click", function (ev) {
    busy(ev.target, true);
    alert.hidden = true;
    post("/challenge/code").then(function (data) {
      var sent = verify.querySelector("[data-testid=sent-to]");
      sent.textContent = sent.getAttribute("data-before") + " " + data.sent_to;
      start.hidden = true;
      verify.hidden = false;
      verify.querySelector("input[name=code]").focus();
    }).catch(show).then(function () { busy(ev.target, false); });
  });

  verify.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var button = verify.querySelector("button[type=submit]");
    busy(button, true);
    alert.hidden = true;
    post("/challenge/verify", { code: verify.elements.code.value, passcode: verify.elements.passcode.value })
      .then(function () { verify.reset(); })
      .catch(function (err) { verify.elements.passcode.value = ""; show(err); })
      .then(function () { busy(button, false); });
  });

  root.querySelector("[data-action=cancel]").addEventListener("click", function (ev) {
    busy(ev.target, true);
    post("/challenge/cancel").catch(show);
  });

  // However the challenge ends, in this window or in the cardholder's
  // app, the page learns it and tells the merchant.
  var polls = 0;
  var poll = setInterval(function () {
    polls += 1;
    if (finished || polls > 300) { clearInterval(poll); return; } // 15 minutes: the consent's lifetime
    post("/challenge/status").catch(function () {});
  }, 3000);
})();
