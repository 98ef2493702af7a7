// vaultpage reveal and PIN view pages: copy buttons, the time left counted
// down, and the secrets leave the screen when it runs out (at most 5
// minutes). The page then posts its done form with why=time, so that the
// next page says why.
(function () {
  "use strict";
  var root = document.querySelector("[data-hide-after]");
  if (!root) return;
  var left = parseInt(root.getAttribute("data-hide-after"), 10);
  var clock = document.querySelector("[data-clock]");
  var warn = document.querySelector("[data-last-minute]");
  function show(s) {
    if (!clock) return;
    var ss = s % 60;
    clock.textContent = Math.floor(s / 60) + ":" + (ss < 10 ? "0" : "") + ss;
  }
  function leave() {
    document.querySelectorAll("[data-secret]").forEach(function (el) { el.textContent = "••••"; });
    var done = document.querySelector("form[data-leave]");
    if (!done) return;
    var why = done.querySelector("[data-why]");
    if (why) why.value = "time";
    done.submit();
  }
  if (left > 0) {
    var ends = Date.now() + left * 1000;
    var tick = setInterval(function () {
      var s = Math.max(0, Math.round((ends - Date.now()) / 1000));
      show(s);
      if (s === 60 && warn) warn.textContent = warn.getAttribute("data-last-minute");
      if (s <= 0) {
        clearInterval(tick);
        leave();
      }
    }, 1000);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener("click", function () {
      var el = document.getElementById(button.getAttribute("data-copy"));
      if (!el) return;
      navigator.clipboard.writeText(el.textContent.replace(/\s/g, "")).then(function () {
        button.textContent = button.getAttribute("data-copied");
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
})();
