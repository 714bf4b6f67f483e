// Registers the portal's service worker (installable app, offline page). The pages work without it.
"use strict";
if ("serviceWorker" in navigator) {
  window.addEventListener("load", function () {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {
      // No service worker (private mode, an old browser): the portal works as plain pages.
    });
  });
}
