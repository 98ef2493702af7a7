// vaultpage reveal page: copy buttons, and the card details leave the screen
// after the time the page states (at most 5 minutes).
(function () {
  "use strict";
  var root = document.querySelector("[data-hide-after]");
  if (!root) return;
  var seconds = parseInt(root.getAttribute("data-hide-after"), 10);
  if (seconds > 0) {
    setTimeout(function () {
      document.querySelectorAll("[data-secret]").forEach(function (el) { el.textContent = "••••"; });
      var done = document.querySelector("form[data-leave]");
      if (done) done.submit();
    }, seconds * 1000);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var el = document.getElementById(button.getAttribute("data-copy"));
      if (!el || !navigator.clipboard) return;
      navigator.clipboard.writeText(el.textContent.replace(/\s/g, "")).then(function () {
        button.textContent = button.getAttribute("data-copied");
      });
    });
  });
})();
