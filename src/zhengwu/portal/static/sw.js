// The portal's service worker. It keeps the static shell (stylesheet, icons, manifest and the offline
// page) and, when a page cannot be fetched for want of a network, answers with the offline page. The
// shell is fetched without cookies. Of the personal pages it keeps one kind only: 扫码亮证
// (/me/licenses/<id>/qr), the license's signed 2-D code with a masked name — what the holder shows to
// anyone anyway — so that it opens without a network, and no longer than the session it was shown in
// would last unused. Every portal page tells how long that is (X-Offline-Max-Age, seconds) and which
// session it was shown in (X-Offline-Session, a digest); a copy carries its session and its deadline on
// this device's clock (X-Kept-Session, X-Kept-Until) and is dropped once past it, even without a network.
// While the holder goes on using the portal online in that session, each page moves the deadline of that
// session's copies on; a page of another session drops them (they are not its to renew), and a page shown
// without a session (0) drops them all, as does the node sending this browser to the login page from a
// code page, and logging out; one goes when the node no longer shows that page. Every other page and API
// answer (我的办件, 我的证照, 授权管理 …) comes from the node every time and never lands in the browser's cache.
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
        return dropExpired(Date.now());
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

// How long a kept code page may still be shown (ms since the epoch on this device; 0: not at all).
function keptUntil(response) {
  var until = Number(response.headers.get("X-Kept-Until"));
  return isFinite(until) ? until : 0;
}

// A kept copy: the body with the headers as they came, its session and deadline set.
function kept_copy(response, session, until) {
  return response.blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set("X-Kept-Session", session);
    headers.set("X-Kept-Until", String(until));
    return new Response(body, { status: response.status, statusText: response.statusText, headers: headers });
  });
}

// The node's answer, stamped with its session and its deadline for keeping: its seconds from now, on
// this clock (null: not to be kept).
function stamped(response, now) {
  var seconds = Number(response.headers.get("X-Offline-Max-Age"));
  var session = response.headers.get("X-Offline-Session");
  if (!(seconds > 0) || !session) {
    return Promise.resolve(null);
  }
  return kept_copy(response, session, now + seconds * 1000);
}

// What a page answered online says of the session: its copies last as long as it now would (and a
// copy of any other session goes); no session (0) and none may stay; no header (not a portal page) and
// nothing changes.
function renew(response, now) {
  var said = response.headers.get("X-Offline-Max-Age");
  if (said === null) {
    return Promise.resolve();
  }
  var seconds = Number(said);
  var session = response.headers.get("X-Offline-Session");
  if (!(seconds > 0) || !session) {
    return caches.delete(CODES);
  }
  return caches.has(CODES).then(function (any) {
    if (!any) {
      return null;
    }
    return caches.open(CODES).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(
          requests.map(function (request) {
            return cache.match(request).then(function (copy) {
              if (!copy || copy.headers.get("X-Kept-Session") !== session) {
                return cache.delete(request);
              }
              return kept_copy(copy, session, now + seconds * 1000).then(function (renewed) {
                return cache.put(request, renewed);
              });
            });
          })
        );
      });
    });
  });
}

// A page's answer once what it says of the session is applied (a failing cache does not hold it up).
function applied(response) {
  return renew(response, Date.now())
    .catch(function () {
      return null;
    })
    .then(function () {
      return response;
    });
}

// Drop every kept code whose session would have ended by now.
function dropExpired(now) {
  return caches.open(CODES).then(function (cache) {
    return cache.keys().then(function (requests) {
      return Promise.all(
        requests.map(function (request) {
          return cache.match(request).then(function (kept) {
            return kept && keptUntil(kept) > now ? null : cache.delete(request);
          });
        })
      );
    });
  });
}

// The 2-D code page: the node's answer when there is one (kept until the session's end, or dropped if it
// is no longer this browser's to see), the kept copy without a network while it lasts, else the offline
// page.
function licenseCode(request, path) {
  return fetch(request)
    .then(function (response) {
      // A navigation's redirect comes back unfollowed ("opaqueredirect"); a followed one says so.
      if (response.type === "opaqueredirect" || response.redirected) {
        // Sent to the login page: the session is over, and with it every kept code.
        return caches.delete(CODES).then(function () {
          return response;
        });
      }
      // The other copies first (this one is then stored with the same deadline and session).
      return applied(response).then(function () {
        return caches.open(CODES).then(function (cache) {
          var done = response.ok
            ? stamped(response.clone(), Date.now()).then(function (copy) {
                return copy ? cache.put(path, copy) : cache.delete(path);
              })
            : cache.delete(path);
          return done.then(function () {
            return response;
          });
        });
      });
    })
    .catch(function () {
      var now = Date.now();
      return dropExpired(now).then(function () {
        return caches.open(CODES).then(function (cache) {
          return cache.match(path).then(function (kept) {
            return (kept && keptUntil(kept) > now && kept) || caches.match(OFFLINE);
          });
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
    // Always the network, which says whether the session goes on; the offline page only when there is
    // none (the answer itself is not stored).
    event.respondWith(
      fetch(request).then(applied, function () {
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
