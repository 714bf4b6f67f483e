// The portal's service worker. It keeps the static shell (stylesheet, icons, manifest and the offline
// page) and, when a page cannot be fetched for want of a network, answers with the offline page. The
// shell is fetched without cookies. Of the personal pages it keeps one kind only: 扫码亮证
// (/me/licenses/<id>/qr), the license's signed 2-D code with a masked name — what the holder shows to
// anyone anyway — so that it opens without a network. Those copies are dropped when the node no longer
// shows the page to this browser, and all of them at logout. Every other page and API answer (我的办件,
// 我的证照, 授权管理 …) comes from the node every time and never lands in the browser's cache.
"use strict";
var SHELL = "zw-shell-v1";
var CODES = "zw-license-codes-v1";
var OFFLINE = "/offline";
var CODE_PAGE = /^\/me\/licenses\/[0-9A-Za-z_-]{1,64}\/qr$/;
var FILES = [
  OFFLINE,
  "/portal/static/portal.css",
  "/portal/static/icon-192.png",
  "/portal/static/icon-512.png",
  "/manifest.webmanifest",
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches
      .open(SHELL)
      .then(function (cache) {
        return cache.addAll(
          FILES.map(function (path) {
            return new Request(path, { credentials: "omit", cache: "reload" });
          })
        );
      })
      .then(function () {
        return self.skipWaiting();
      })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches
      .keys()
      .then(function (keys) {
        return Promise.all(
          keys
            .filter(function (key) {
              return key !== SHELL && key !== CODES;
            })
            .map(function (key) {
              return caches.delete(key);
            })
        );
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

// The 2-D code page: the node's answer when there is one (kept, or dropped if it is no longer this
// browser's to see), the kept copy without a network, the offline page when none was kept.
function licenseCode(request, path) {
  return fetch(request)
    .then(function (response) {
      return caches.open(CODES).then(function (cache) {
        var done =
          response.ok && !response.redirected
            ? cache.put(path, response.clone())
            : cache.delete(path);
        return done.then(function () {
          return response;
        });
      });
    })
    .catch(function () {
      return caches.open(CODES).then(function (cache) {
        return cache.match(path).then(function (kept) {
          return kept || caches.match(OFFLINE);
        });
      });
    });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.method === "POST" && url.pathname === "/identity/logout") {
    // Logging out forgets the kept codes; the logout itself goes on untouched.
    event.waitUntil(caches.delete(CODES));
    return;
  }
  if (request.method !== "GET") {
    return;
  }
  if (request.mode === "navigate" && CODE_PAGE.test(url.pathname)) {
    event.respondWith(licenseCode(request, url.pathname));
    return;
  }
  if (request.mode === "navigate") {
    // Always the network; the offline page only when there is none (the answer is not stored).
    event.respondWith(
      fetch(request).catch(function () {
        return caches.match(OFFLINE);
      })
    );
    return;
  }
  if (FILES.indexOf(url.pathname) > 0) {
    // The shell's files: fresh from the node when it answers, the kept copy otherwise.
    event.respondWith(
      fetch(request).catch(function () {
        return caches.match(url.pathname);
      })
    );
  }
});
