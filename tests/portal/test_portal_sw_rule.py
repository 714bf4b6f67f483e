"""The service worker's rule for the kept 扫码亮证 pages, run in Node.js against the worker's own file: a
copy is kept for the seconds the node allows (``X-Offline-Max-Age``: the session's remaining life) on the
device's clock and shown without a network only until then — past it the offline page answers and the
copy is gone; any page of the same session (``X-Offline-Session``) moves the copies' deadline on, a page
of another session drops them, and so does a page shown without a session (0); an answer without the
header is not kept and changes nothing; a redirect (to the login page: the session ended) drops every
kept copy; a copy kept by an older worker (no deadline) goes on activation.

Node comes from the machine or, failing that, from Playwright's driver (which bundles one). The browser
test (tests/browser/test_browser_portal_offline_qr.py) checks the same rule in Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SW = Path(__file__).resolve().parents[2] / "src" / "zhengwu" / "portal" / "static" / "sw.js"

HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const stores = new Map();
function store(name) {
  if (!stores.has(name)) stores.set(name, new Map());
  const entries = stores.get(name);
  const key = (r) => (typeof r === "string" ? r : new URL(r.url).pathname);
  return {
    put: async (r, response) => { entries.set(key(r), response); },
    match: async (r) => { const found = entries.get(key(r)); return found ? found.clone() : undefined; },
    delete: async (r) => entries.delete(key(r)),
    keys: async () => [...entries.keys()].map((p) => new Request("https://node.test" + p)),
    addAll: async () => {},
  };
}
const caches = {
  open: async (name) => store(name),
  delete: async (name) => stores.delete(name),
  has: async (name) => stores.has(name),
  keys: async () => [...stores.keys()],
  match: async (r) => { for (const n of stores.keys()) { const f = await store(n).match(r); if (f) return f; } },
};
let clock = 1_000_000_000;
let network = null;  // a function giving the node's answer, or null: no network
const handlers = {};
const self = {
  location: { origin: "https://node.test" },
  addEventListener: (type, fn) => { handlers[type] = fn; },
  skipWaiting: async () => {},
  clients: { claim: async () => {} },
};
const context = vm.createContext({
  self, caches, Response, Headers, Request, URL, Promise, Number, String, isFinite,
  Date: { now: () => clock },
  fetch: async () => { if (!network) throw new TypeError("Failed to fetch"); return network(); },
});
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), context);

async function open(path) {
  let answer;
  const event = {
    request: { url: "https://node.test" + path, method: "GET", mode: "navigate" },
    respondWith: (p) => { answer = p; },
    waitUntil: () => {},
  };
  handlers.fetch(event);
  const response = await answer;
  return response.type === "opaqueredirect" ? "(redirect)" : await response.text();
}
async function kept() {
  const codes = stores.get("zw-license-codes-v1");
  if (!codes) return {};
  const out = {};
  for (const [path, response] of codes) out[path] = response.headers.get("X-Kept-Until");
  return out;
}
// A page of the node: its seconds and session as every portal page sends them (none: not a portal page).
const page = (body, seconds, session = "s1") => () =>
  new Response(body, {
    headers: seconds === undefined ? {} : seconds > 0
      ? { "X-Offline-Max-Age": String(seconds), "X-Offline-Session": session }
      : { "X-Offline-Max-Age": String(seconds) },
  });

(async () => {
  await store("zw-shell-v1").put("/offline", new Response("offline page"));
  const steps = {};
  const A = "/me/licenses/A/qr", B = "/me/licenses/B/qr";
  network = page("code A", 1800);
  steps.online = await open(A);
  network = page("code B", 600);
  await open(B);
  steps.kept = await kept();
  network = null;
  clock += 599_000;
  steps.before_end = [await open(A), await open(B)];
  clock += 2_000;  // the session would have ended by the time its latest page said
  steps.after_end = [await open(A), await open(B)];
  steps.kept_after_end = await kept();

  network = page("code A", 1800);
  await open(A);
  network = page("code B, no header");
  steps.no_header = await open(B);
  steps.kept_without_header = await kept();

  // Any page of the same session moves the deadline of the kept copies on; one that is not the portal's
  // (no header) changes nothing; without a network a renewed copy lasts to its new deadline.
  const renewed_at = clock;
  network = page("code A", 1800);
  await open(A);
  network = page("code B", 1800);
  await open(B);
  clock += 1_000_000;
  network = page("我的办件", 1500);
  steps.other_page = await open("/me/cases");
  steps.kept_renewed = await kept();
  clock += 60_000;
  network = page("API docs");
  await open("/api/docs");
  steps.kept_after_plain_page = await kept();
  network = null;
  clock += 1_400_000;  // past the first deadline (renewed_at + 1800 s), before the renewed one
  steps.offline_after_renewal = [await open(A), await open(B)];
  steps.first_deadline_passed = clock > renewed_at + 1_800_000;
  clock += 100_000;
  steps.offline_past_renewal = await open(A);
  steps.kept_past_renewal = await kept();

  // Another session's page does not renew them: it drops them (even the same person's next login).
  network = page("code A", 1800);
  await open(A);
  network = page("首页", 1800, "s2");
  steps.other_session = await open("/");
  steps.kept_after_other_session = await kept();
  // A page shown without a session (0): none may stay.
  network = page("code A", 1800, "s2");
  await open(A);
  steps.kept_in_s2 = Object.keys(await kept());
  network = page("首页", 0);
  await open("/");
  steps.codes_after_no_session = stores.has("zw-license-codes-v1");

  network = page("code A", 1800);
  await open(A);
  network = () => ({ type: "opaqueredirect", ok: false, status: 0, redirected: false, headers: new Headers() });
  steps.redirect = await open(B);
  steps.codes_after_redirect = stores.has("zw-license-codes-v1");

  // A copy an older worker kept (no deadline) is dropped when this worker activates.
  await store("zw-license-codes-v1").put(A, new Response("old copy"));
  await new Promise((done) => handlers.activate({ waitUntil: (p) => p.then(done) }));
  steps.kept_after_activate = await kept();
  process.stdout.write(JSON.stringify(steps));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _node() -> str:
    found = shutil.which("node")
    if found:
        return found
    try:
        import playwright

        bundled = Path(playwright.__file__).parent / "driver" / "node"
    except ImportError:
        bundled = None
    if bundled is not None and os.access(bundled, os.X_OK):
        return str(bundled)
    pytest.skip("no Node.js on this machine (nor Playwright's)")


@pytest.fixture(scope="module")
def steps() -> dict[str, Any]:
    """What the worker did at each step of the harness (one run for the module)."""
    done = subprocess.run(
        [_node(), "-", str(SW)], input=HARNESS, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_kept_codes_last_as_long_as_the_session_and_no_longer(steps: dict[str, Any]) -> None:
    a, b = "/me/licenses/A/qr", "/me/licenses/B/qr"
    assert steps["online"] == "code A"
    start = 1_000_000_000
    # The session's latest word holds for all its copies, even a shorter one (near its absolute end).
    assert steps["kept"] == {a: str(start + 600_000), b: str(start + 600_000)}
    assert steps["before_end"] == ["code A", "code B"], "kept copies open without a network"
    assert steps["after_end"] == ["offline page", "offline page"], "past the deadline no copy is shown"
    assert steps["kept_after_end"] == {}, "and they are gone"


def test_pages_of_the_session_renew_its_copies_and_no_other_does(steps: dict[str, Any]) -> None:
    a, b = "/me/licenses/A/qr", "/me/licenses/B/qr"
    assert steps["other_page"] == "我的办件", "the page itself comes from the node as it is"
    renewed = steps["kept_renewed"]
    assert list(renewed) == [a, b] and renewed[a] == renewed[b]
    assert steps["kept_after_plain_page"] == renewed, "a page without the header changes nothing"
    assert steps["first_deadline_passed"] and steps["offline_after_renewal"] == ["code A", "code B"]
    assert steps["offline_past_renewal"] == "offline page" and steps["kept_past_renewal"] == {}
    assert steps["other_session"] == "首页" and steps["kept_after_other_session"] == {}
    assert steps["kept_in_s2"] == [a], "the new session keeps its own copies"
    assert steps["codes_after_no_session"] is False


def test_no_deadline_no_copy_and_a_redirect_drops_all(steps: dict[str, Any]) -> None:
    assert steps["no_header"] == "code B, no header"
    assert list(steps["kept_without_header"]) == ["/me/licenses/A/qr"]
    assert steps["redirect"] == "(redirect)" and steps["codes_after_redirect"] is False
    assert steps["kept_after_activate"] == {}
