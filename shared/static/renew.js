// Silent renewal of the 5-minute access token while a page is open (shared/login.py): the identity
// provider's session gives a new token through /login/renew without leaving the page. Tabs share the
// time of the last renewal, so several open tabs renew about once between them.
(function () {
  var EVERY_MS = 3 * 60 * 1000;
  var KEY = "jpass_renewed_at";
  function last() { return Number(window.localStorage.getItem(KEY) || 0); }
  function renew() {
    window.localStorage.setItem(KEY, String(Date.now()));
    fetch("/login/renew", { credentials: "same-origin", redirect: "follow" }).catch(function () {});
  }
  if (!last()) { window.localStorage.setItem(KEY, String(Date.now())); }
  window.setInterval(function () {
    if (document.visibilityState === "visible" && Date.now() - last() >= EVERY_MS) { renew(); }
  }, 30 * 1000);
})();
