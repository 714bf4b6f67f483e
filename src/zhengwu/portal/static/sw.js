// The portal's service worker. It keeps the static shell (stylesheet, icons, manifest and the offline
// page) and, when a page cannot be fetched for want of a network, answers with the offline page. It never
// stores a page or an API answer: personal pages (我的办件, 我的证照, 授权管理 …) come from the node every
// time, so nothing personal lands in the browser's cache. The shell is fetched without cookies.
"use strict";
var SHELL = "zw-shell-v1";
var OFFLINE = "/offline";
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
              return key !== SHELL;
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

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
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
