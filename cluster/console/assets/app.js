// Granary console: plain JavaScript, no framework, no build step.
//
// Rules this file keeps:
//   - Data from the API (labels, errors, stacks, results, identities, ids)
//     reaches the page only as text: el() creates elements and text nodes;
//     nothing here assigns innerHTML, outerHTML or insertAdjacentHTML, and no
//     attribute takes a URL or handler built from data except hash links
//     made by link(), whose target is encoded.
//   - Every API call goes through api(), which sends the token and turns
//     401/403 into the token prompt or a clear message.
//   - Polls are spaced: each poller's at least MIN_POLL_MS apart, and all
//     of a page's together by the gate (at most 1/COST_FACTOR of the time
//     waiting on the node), and none while the tab is hidden. The cluster
//     page's poll is held back HEALTH_POLL_MAX_MS at most: see there. The
//     task counts (/v1/tasks:stats) are not gated: the store keeps them
//     with its writes, so they cost the node one small read at any size.
"use strict";

const MIN_POLL_MS = 2000;
const MAX_POLL_MS = 60000;
const COST_FACTOR = 200; // polls wait >= 200 x the answer time: the node serves this page <= 0.5% of the time
const LONG_POLL = "30s";
// HEALTH_POLL_MAX_MS bounds how long the gate holds back the cluster
// page's poll: that page is where a dead or cut-off member shows, and on a
// loaded machine 200 x the answer time is half a minute or more (a 150 ms
// answer: 30 s), so a killed member would stay shown healthy that long.
// GET /v1/cluster is answered from a report the node makes at most once a
// second however many consoles ask, mostly waiting on Consul and on the
// members, so asking every 10 s costs the node little even then.
const HEALTH_POLL_MAX_MS = 10000;
const PROGRESS_POLL = "2s";
const TOKEN_KEY = "granary.token";
const STATES = ["pending", "running", "retrying", "completed", "failed", "cancelled"];

// ---------- DOM helpers (text only) ----------

// el(tag, attrs, ...children): children are nodes, strings (text), numbers,
// arrays, or null/false (skipped). attrs: class, for, type, name, value,
// id, title, href (only through link()), data-*, and on* functions.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        e.addEventListener(k.slice(2), v);
      } else if (k === "class") {
        e.className = v;
      } else if (k === "value") {
        e.value = v;
      } else if (k === "checked" || k === "disabled" || k === "selected" || k === "hidden" || k === "open") {
        e[k] = !!v;
      } else if (k === "href") {
        throw new Error("use link() for links");
      } else {
        e.setAttribute(k, String(v));
      }
    }
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

// link makes an in-console link: #/page/segment... (each segment encoded).
function link(text, page, ...segments) {
  const a = document.createElement("a");
  a.href = "#/" + [page, ...segments.map(encodeURIComponent)].join("/");
  a.textContent = text;
  return a;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function badge(text, kind) {
  return el("span", { class: "badge b-" + (kind || text) }, text);
}

function when(iso) {
  if (!iso) return el("span", { class: "muted" }, "—");
  const t = new Date(iso);
  if (isNaN(t)) return el("span", { class: "muted" }, String(iso));
  return el("span", { title: t.toISOString() }, ago(t));
}

function ago(t) {
  const s = (Date.now() - t.getTime()) / 1000;
  const abs = Math.abs(s);
  let txt;
  if (abs < 1) txt = "now";
  else if (abs < 90) txt = Math.round(abs) + "s";
  else if (abs < 5400) txt = Math.round(abs / 60) + "m";
  else if (abs < 172800) txt = Math.round(abs / 3600) + "h";
  else txt = Math.round(abs / 86400) + "d";
  if (txt === "now") return txt;
  return s >= 0 ? txt + " ago" : "in " + txt;
}

function labels(obj) {
  if (!obj) return null;
  return Object.keys(obj).sort().map((k) => el("span", { class: "label mono" }, k + "=" + obj[k]));
}

function kv(pairs) {
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.appendChild(el("dt", null, k));
    dl.appendChild(el("dd", null, v === null || v === "" ? el("span", { class: "muted" }, "—") : v));
  }
  return dl;
}

function stat(k, v, title) {
  return el("div", { class: "stat", title: title }, el("div", { class: "v" }, v), el("div", { class: "k" }, k));
}

// ---------- the API ----------

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (e) {
    return "";
  }
}

async function api(method, path, body, signal) {
  const headers = { Accept: "application/json" };
  const tok = token();
  if (tok) headers.Authorization = "Bearer " + tok;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new APIError(0, "unreachable", "the node did not answer (" + e.message + ")");
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (resp.ok) return data;
  const code = (data && data.error && data.error.code) || "http_" + resp.status;
  const msg = (data && data.error && data.error.message) || resp.statusText || "HTTP " + resp.status;
  if (resp.status === 401) {
    showTokenPanel(tok
      ? "The node refused this token (401 " + code + "): " + msg + ". Enter a valid read or write token."
      : "This node's API needs a token (401 " + code + "): " + msg + ". Enter a read or write token.");
    throw new APIError(401, code, "401 unauthenticated: " + msg);
  }
  if (resp.status === 403) {
    throw new APIError(403, code, "403 permission denied: " + msg + " (this needs a token with more rights: a write token)");
  }
  throw new APIError(resp.status, code, resp.status + " " + code + ": " + msg);
}

function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.append(k, v);
  }
  const s = u.toString();
  return s ? "?" + s : "";
}

const enc = encodeURIComponent;

// ---------- errors, token, liveness ----------

// showError shows msg (or hides the box when empty). owner is who shows
// it: a poller clears only its own message when it succeeds again, so the
// answer to a button (a 403, say) stays until the next page or action.
let errorOwner = null;
function showError(msg, owner) {
  const box = document.getElementById("error");
  box.textContent = msg;
  box.hidden = !msg;
  errorOwner = msg ? owner || null : null;
}

function showTokenPanel(reason) {
  document.getElementById("token-panel").hidden = false;
  if (reason) document.getElementById("token-reason").textContent = reason;
  document.getElementById("token-input").focus();
}

function initToken() {
  const panel = document.getElementById("token-panel");
  document.getElementById("token-button").addEventListener("click", () => {
    panel.hidden = !panel.hidden;
  });
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = document.getElementById("token-input").value.trim();
    try {
      if (v) sessionStorage.setItem(TOKEN_KEY, v);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      showError("cannot keep the token: sessionStorage is not available");
    }
    document.getElementById("token-input").value = "";
    panel.hidden = true;
    showError("");
    route();
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {}
    document.getElementById("token-input").value = "";
    route();
  });
}

let lastHeard = 0;
function heard() {
  lastHeard = Date.now();
  tickLive();
}
function tickLive() {
  const live = document.getElementById("live");
  if (!lastHeard) return;
  const s = Math.round((Date.now() - lastHeard) / 1000);
  live.textContent = s < 2 ? "live" : "updated " + s + "s ago";
  live.classList.toggle("stale", s > 30);
}

// ---------- polling ----------

// Poller runs fn(signal) now and again after each answer, spaced as the
// header comment says; stop() ends it. fn throws to report an error,
// which backs off exponentially up to MAX_POLL_MS.
class Poller {
  constructor(fn, opts) {
    this.fn = fn;
    this.min = (opts && opts.min) || MIN_POLL_MS;
    this.longPoll = !!(opts && opts.longPoll);
    // cheap: an answer the node makes at a small, fixed cost whatever the
    // number of tasks (the counts of /v1/tasks:stats, kept with the
    // writes): not gated, polled every min ms.
    this.cheap = !!(opts && opts.cheap);
    this.maxWait = (opts && opts.maxWait) || MAX_GATE_MS; // the most the gate holds it back
    this.stopped = false;
    this.failures = 0;
    this.timer = null;
    this.ctrl = null;
    this.first = true; // the first fetch of a page is not held back
    this.onVisible = () => {
      if (!document.hidden && !this.stopped && !this.ctrl && !this.timer) this.run();
    };
    document.addEventListener("visibilitychange", this.onVisible);
    this.run();
  }
  async run() {
    this.timer = null;
    if (this.stopped) return;
    if (document.hidden) return; // resumed by visibilitychange
    this.ctrl = new AbortController();
    const signal = this.ctrl.signal;
    let wait;
    try {
      if (this.longPoll || this.cheap) {
        // A long poll's answer time is mostly waiting, which costs the
        // node nothing: it is not gated, and the next may follow soon.
        // A cheap poll costs the node about the same however loaded it is.
        await this.fn(signal);
      } else {
        await gated(this.fn, signal, this.first, this.maxWait);
      }
      this.first = false;
      heard();
      this.failures = 0;
      if (errorOwner === this) showError("");
      wait = this.longPoll ? 1000 : this.min;
    } catch (e) {
      if (this.stopped || e.name === "AbortError") return;
      this.failures++;
      showError(e.message || String(e), this);
      wait = Math.min(MAX_POLL_MS, this.min * Math.pow(2, this.failures));
      if (e.status === 401) wait = MAX_POLL_MS;
    } finally {
      this.ctrl = null;
    }
    if (!this.stopped) this.timer = setTimeout(() => this.run(), wait);
  }
  now() {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
    this.first = true; // asked for by the reader (a button, a page turn)
    this.run();
  }
  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
    document.removeEventListener("visibilitychange", this.onVisible);
  }
}

// The gate spaces the polls of every poller of the page together: one at
// a time, and after one that took d ms, none starts before COST_FACTOR x d
// ms have passed. A poll's time on the node is at most its answer time, so
// the console keeps the node busy at most 1/COST_FACTOR of the time however
// many pollers a page has and however slow the answers get (it then polls
// less often, up to once per MAX_GATE_MS). The first fetch of a page, or
// one the reader asked for, goes at once (it still counts for the next);
// a poller with a maxWait waits that long at most (HEALTH_POLL_MAX_MS).
const MAX_GATE_MS = 600000;
const gate = { notBefore: 0, chain: Promise.resolve() };

function gated(fn, signal, now, maxWait) {
  const turn = gate.chain.then(async () => {
    if (signal.aborted) throw new DOMException("aborted", "AbortError");
    const wait = gate.notBefore - Date.now();
    if (!now && wait > 0) await sleep(Math.min(wait, maxWait || MAX_GATE_MS), signal);
    const start = performance.now();
    try {
      return await fn(signal);
    } finally {
      const took = performance.now() - start;
      gate.notBefore = Math.max(gate.notBefore, Date.now() + COST_FACTOR * took);
    }
  });
  gate.chain = turn.catch(() => {});
  return turn;
}

// ---------- shared data ----------

let kindsCache = null;
async function kinds() {
  if (!kindsCache) {
    const k = await api("GET", "/v1/kinds");
    kindsCache = k.kinds || [];
  }
  return kindsCache;
}

// keepOpen re-opens the <details> that were open before a redraw (by
// their data-key), so a live update does not fold what the reader opened.
function redraw(container, build) {
  const open = new Set();
  container.querySelectorAll("details[open][data-key]").forEach((d) => open.add(d.getAttribute("data-key")));
  const fresh = build();
  clear(container);
  append(container, [fresh]);
  container.querySelectorAll("details[data-key]").forEach((d) => {
    if (open.has(d.getAttribute("data-key"))) d.open = true;
  });
}

function details(key, summary, ...body) {
  return el("details", { "data-key": key }, el("summary", null, summary), ...body);
}

// ---------- pages ----------

const pages = {};
let current = null; // { stop() }

function route() {
  if (current && current.stop) current.stop();
  current = null;
  showError("");
  const hash = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart] = hash.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || "cluster";
  const params = new URLSearchParams(queryPart || "");
  document.querySelectorAll("#nav a").forEach((a) => {
    const p = a.getAttribute("data-page");
    a.classList.toggle("active", p === name || (p === "jobs" && name === "job") || (p === "tasks" && name === "task"));
  });
  const main = document.getElementById("main");
  clear(main);
  const page = pages[name];
  if (!page) {
    // An unknown route says so (it used to look like a list), with the
    // pages there are.
    document.title = "Granary · not found";
    main.appendChild(el("div", { id: "not-found" },
      el("h1", null, "Not found"),
      el("p", null, "The console has no page ", el("span", { class: "mono" }, "#/" + pathPart), ". Its pages:"),
      el("ul", null, Object.keys(pages).filter((p) => p !== "task" && p !== "job").map((p) => el("li", null, link(p, p))))));
    return;
  }
  document.title = "Granary · " + name;
  current = page(main, parts.slice(1), params) || null;
}

// ----- cluster -----
pages.cluster = (main) => {
  main.appendChild(el("h1", null, "Cluster"));
  const body = el("div");
  main.appendChild(body);
  const p = new Poller(async (signal) => {
    const c = await api("GET", "/v1/cluster", undefined, signal);
    redraw(body, () => renderCluster(c));
  }, { maxWait: HEALTH_POLL_MAX_MS });
  return p;
};

function renderCluster(c) {
  const ms = c.members || [];
  const healthy = ms.filter((m) => m.health === "healthy").length;
  const fenced = ms.filter((m) => m.report && m.report.fenced).length;
  const acts = ms.reduce((n, m) => n + (m.report ? m.report.activations : 0), 0);
  const running = ms.reduce((n, m) => n + (m.report ? m.report.running_attempts : 0), 0);
  const abandoned = ms.reduce((n, m) => n + (m.report ? m.report.abandoned_attempts || 0 : 0), 0);
  const rows = ms.map((m) => {
    const r = m.report;
    return el("tr", { "data-member": m.id },
      el("td", { class: "mono" }, m.id, m.id === c.member ? el("span", { class: "muted" }, " (this node)") : null),
      el("td", null, badge(m.health)),
      el("td", null, r ? (r.fenced ? badge("fenced", "fenced") : badge("no", "ok")) : el("span", { class: "muted" }, "?"),
        r && r.fence_reason ? el("div", { class: "muted" }, r.fence_reason) : null),
      el("td", { class: "num" }, r && r.lease_age ? r.lease_age : "—"),
      el("td", null, (m.kinds || []).join(", ")),
      el("td", { class: "mono" }, m.version || "?"),
      el("td", { class: "num" }, r ? String(r.activations) : "—"),
      el("td", { class: "num" }, r ? String(r.running_attempts) : "—"),
      el("td", { class: "num abandoned", title: r ? abandonedTitle(r) : "" }, r ? String(r.abandoned_attempts || 0) : "—"),
      el("td", null, r ? when(r.started_at) : "—"),
      el("td", { class: "muted" }, m.checks || "", m.error ? el("div", null, m.error) : null));
  });
  return el("div", null,
    el("div", { class: "cards" },
      stat("members", String(ms.length)),
      stat("healthy", String(healthy)),
      stat("fenced", String(fenced)),
      stat("activations", String(acts)),
      stat("running attempts", String(running)),
      stat("abandoned attempts", String(abandoned)),
      stat("versions", String(new Set(ms.map((m) => m.version || "?")).size))),
    el("table", { id: "members" },
      el("thead", null, el("tr", null, ["member", "health", "fenced", "lease age", "kinds", "version", "activations", "running", "abandoned", "up since", "checks"].map((h) => el("th", null, h)))),
      el("tbody", null, rows)),
    el("p", { class: "muted" }, "Answered by ", c.member || "?", " ", when(c.at),
      ". Unhealthy: registered in Consul with a failing check (dead, wedged or cut off) until Consul reaps it. The lease age is how long ago the member's last lease renewal was sent; it fences itself past its fence-after bound. Abandoned: attempts that ended while their handler, ignoring its context, had not returned; past a cap (per kind, per member) attempts wait there."));
}

// abandonedTitle splits a member's abandoned attempts by kind, with its caps.
function abandonedTitle(r) {
  const caps = r.abandoned_caps || {};
  const by = Object.entries(r.abandoned_by_kind || {}).map(([k, n]) => k + ": " + n).join(", ");
  return (by ? by + " · " : "") + "caps " + (caps.per_kind || "?") + " a kind, " + (caps.per_member || "?") + " in all";
}

// ----- tasks -----
pages.tasks = (main, _parts, params) => {
  main.appendChild(el("h1", null, "Tasks"));
  const statsBox = el("div");
  main.appendChild(statsBox);
  // Filters: applied to the hash, so a filtered list can be linked to.
  const f = {
    state: params.get("state") || "",
    kind: params.get("kind") || "",
    label: params.get("label") || "",
    job: params.get("job") || "",
  };
  const stateSel = el("select", { name: "state" }, el("option", { value: "" }, "any state"),
    STATES.map((s) => el("option", { value: s, selected: s === f.state }, s)));
  const kindSel = el("select", { name: "kind" }, el("option", { value: "" }, "any kind"));
  if (f.kind) kindSel.appendChild(el("option", { value: f.kind, selected: true }, f.kind));
  kinds().then((ks) => {
    ks.filter((k) => k.type === "task" && k.name !== f.kind).forEach((k) => kindSel.appendChild(el("option", { value: k.name }, k.name)));
  }).catch(() => {});
  const labelIn = el("input", { name: "label", value: f.label, placeholder: "key=value", size: 18 });
  const jobIn = el("input", { name: "job", value: f.job, placeholder: "job id", size: 14 });
  const idIn = el("input", { name: "id", placeholder: "task id", size: 22 });
  main.appendChild(el("form", {
    class: "inline", id: "task-filters",
    onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = "#/tasks" + q({ state: stateSel.value, kind: kindSel.value, label: labelIn.value.trim(), job: jobIn.value.trim() });
    },
  },
  el("label", null, "state", stateSel), el("label", null, "kind", kindSel), el("label", null, "label", labelIn),
  el("label", null, "job", jobIn), el("button", { type: "submit" }, "Filter"),
  el("span", { class: "muted" }, " or open "),
  el("label", null, "task id", idIn),
  el("button", {
    type: "button", class: "secondary",
    onclick: () => { if (idIn.value.trim()) location.hash = "#/task/" + enc(idIn.value.trim()); },
  }, "Open")));

  const listBox = el("div");
  main.appendChild(listBox);
  const cursors = [""]; // cursors[i] is page i's cursor
  let pageNo = 0;
  let prevStats = null;
  const statsPoll = new Poller(async (signal) => {
    const s = await api("GET", "/v1/tasks:stats", undefined, signal);
    const rates = prevStats && s.at !== prevStats.at ? rate(prevStats, s) : (statsBox.rates || null);
    statsBox.rates = rates;
    if (!prevStats || s.at !== prevStats.at) prevStats = s;
    redraw(statsBox, () => renderStats(s, rates));
  }, { cheap: true });
  const listPoll = new Poller(async (signal) => {
    const l = await api("GET", "/v1/tasks" + q({ state: f.state, kind: f.kind, label: f.label, job: f.job, limit: 25, cursor: cursors[pageNo] }), undefined, signal);
    redraw(listBox, () => renderTaskList(l));
  });
  function renderTaskList(l) {
    const tasks = l.tasks || [];
    const pager = el("div", { class: "pager" },
      el("button", { type: "button", class: "small secondary", disabled: pageNo === 0, onclick: () => { pageNo--; listPoll.now(); } }, "← newer"),
      el("span", { class: "muted" }, "page " + (pageNo + 1) + " · " + tasks.length + " tasks"),
      el("button", {
        type: "button", class: "small secondary", disabled: !l.next,
        onclick: () => { cursors[pageNo + 1] = l.next; pageNo++; listPoll.now(); },
      }, "older →"));
    return el("div", null, pager, taskTable(tasks), tasks.length ? null : el("p", { class: "muted" }, "No task matches."));
  }
  return { stop() { statsPoll.stop(); listPoll.stop(); } };
};

function rate(a, b) {
  const dt = (new Date(b.at) - new Date(a.at)) / 1000;
  if (dt <= 0) return null;
  const r = (k) => Math.max(0, ((b.by_state[k] || 0) - (a.by_state[k] || 0)) / dt);
  return { submitted: Math.max(0, (b.total - a.total) / dt), completed: r("completed"), failed: r("failed") };
}

function renderStats(s, rates) {
  const fmt = (x) => (x >= 10 ? x.toFixed(0) : x.toFixed(1)) + "/s";
  const kindNames = Object.keys(s.by_kind || {}).sort();
  return el("div", null,
    el("div", { class: "cards", id: "task-counts" },
      stat("tasks", String(s.total)),
      STATES.map((st) => stat(st, String(s.by_state[st] || 0))),
      stat("submitted", rates ? fmt(rates.submitted) : "…", "new tasks per second between the last two counts (finished tasks removed by retention lower it)"),
      stat("completed", rates ? fmt(rates.completed) : "…"),
      stat("failed", rates ? fmt(rates.failed) : "…")),
    kindNames.length ? el("table", { id: "kind-counts" },
      el("thead", null, el("tr", null, el("th", null, "kind"), STATES.map((st) => el("th", { class: "num" }, st)))),
      el("tbody", null, kindNames.map((k) => el("tr", null,
        el("td", null, link(k, "tasks?kind=" + enc(k))),
        STATES.map((st) => el("td", { class: "num" }, String((s.by_kind[k] || {})[st] || 0))))))) : null,
    el("p", { class: "muted" }, "Counted ", when(s.at), " in ", roundDuration(s.took), "."));
}

// roundDuration shows a Go duration ("6.6573066s", "1m2.5s", "350.2ms") to
// two significant places, as people read it: "6.7s", "1m3s", "350ms".
function roundDuration(d) {
  if (typeof d !== "string") return String(d);
  const units = { h: 3600, m: 60, s: 1, ms: 1e-3, "µs": 1e-6, us: 1e-6, ns: 1e-9 };
  let secs = 0;
  const re = /([\d.]+)(h|ms|µs|us|ns|m|s)/g;
  let m, matched = "";
  while ((m = re.exec(d)) !== null) {
    secs += parseFloat(m[1]) * units[m[2]];
    matched += m[0];
  }
  if (matched !== d) return d; // not a duration: show it as it is
  if (secs >= 60) return Math.floor(secs / 60) + "m" + Math.round(secs % 60) + "s";
  if (secs >= 10) return Math.round(secs) + "s";
  if (secs >= 1) return secs.toFixed(1) + "s";
  if (secs >= 1e-3) return Math.round(secs * 1e3) + "ms";
  return Math.round(secs * 1e6) + "µs";
}

function taskTable(tasks) {
  return el("table", { class: "tasks" },
    el("thead", null, el("tr", null, ["task", "kind", "state", "attempts", "owner", "progress", "submitted", "job", "labels", "error"].map((h) => el("th", null, h)))),
    el("tbody", null, tasks.map((t) => el("tr", { "data-task": t.id },
      el("td", { class: "mono" }, link(t.id, "task", t.id)),
      el("td", null, t.kind),
      el("td", null, badge(t.state)),
      el("td", { class: "num" }, String(t.attempts)),
      el("td", { class: "mono" }, t.owner || ""),
      el("td", null, progress(t)),
      el("td", null, when(t.submitted_at)),
      el("td", { class: "mono" }, t.job_id ? link(t.job_id, "job", t.job_id) : ""),
      el("td", null, labels(t.labels)),
      el("td", { class: "muted" }, t.error ? clip(t.error, 120) : "")))));
}

function clip(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, n) + "…" : s;
}

function progress(t) {
  if (t.state === "completed") return el("progress", { max: 1, value: 1 });
  if (!t.progress && !t.progress_note) return null;
  return el("span", null, el("progress", { max: 1, value: t.progress || 0 }), " ", Math.round((t.progress || 0) * 100) + "%");
}

// ----- one task -----
pages.task = (main, parts) => {
  const id = parts[0] || "";
  main.appendChild(el("h1", null, "Task ", el("span", { class: "mono" }, id)));
  const actions = el("div", { class: "row" });
  const body = el("div");
  main.appendChild(actions);
  main.appendChild(body);
  let st = null;
  let kids; // the task's child job (undefined: not read yet; null: none)
  let kidsOf = ""; // the task's state when kids was read
  const p = new Poller(async (signal) => {
    // A running attempt's progress lives in its member's memory and
    // moves no revision: while the task runs, the long poll is short, so
    // the answer (with the live progress) comes every couple of seconds.
    const wait = st && st.state === "running" ? PROGRESS_POLL : LONG_POLL;
    const path = "/v1/tasks/" + enc(id) + (st && !isTerminal(st.state) ? q({ index: st.revision, wait: wait }) : "");
    if (st && isTerminal(st.state)) {
      // A finished task changes only if restarted: look now and then.
      await sleep(8000, signal);
    }
    st = await api("GET", path, undefined, signal);
    if (kidsOf !== st.state) {
      // Its children's job is read as the page opens and as the task's
      // state changes, not at every poll: a job of 1,000 children is a
      // read of 1,000 tasks.
      kids = await childJob(id, signal);
      kidsOf = st.state;
    }
    redraw(body, () => renderTask(st, kids));
    redraw(actions, () => taskActions(st, () => p.now()));
  }, { longPoll: true });
  return p;
};

// childJob is the job that supervises task id's children (SpawnChild:
// "<id>:children"), with its counts; null if the task spawned none.
async function childJob(id, signal) {
  try {
    return await api("GET", "/v1/jobs/" + enc(id + ":children") + q({ limit: 1 }), undefined, signal);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    return null; // none (not found), or unreadable now: drawn without
  }
}

// children says how many children a task spawned and where they stand,
// linking to their job.
function children(job) {
  if (!job) return undefined;
  const counts = Object.entries(job.counts || {}).filter(([, n]) => n > 0).map(([s, n]) => n + " " + s);
  const total = Object.values(job.counts || {}).reduce((a, n) => a + n, 0);
  return el("span", { id: "task-children" }, link(total + (total === 1 ? " child" : " children"), "job", job.id), counts.length ? " (" + counts.join(", ") + ")" : "");
}

// taskLinks links to each task of ids.
function taskLinks(ids, elID) {
  if (!ids || !ids.length) return undefined;
  const out = el("span", { id: elID, class: "mono" });
  ids.forEach((id, i) => append(out, [i ? ", " : "", link(id, "task", id)]));
  return out;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("aborted", "AbortError")); });
  });
}

function isTerminal(s) {
  return s === "completed" || s === "failed" || s === "cancelled";
}

function taskActions(t, refresh) {
  const out = el("div", { class: "row" });
  if (!isTerminal(t.state)) {
    out.appendChild(el("button", { type: "button", class: "danger", id: "cancel-task", onclick: () => act("DELETE", "/v1/tasks/" + enc(t.id) + q({ reason: "cancelled from the console" }), undefined, refresh) }, "Cancel"));
    out.appendChild(el("button", { type: "button", class: "secondary", id: "restart-task", onclick: () => act("POST", "/v1/tasks/" + enc(t.id) + "/restart", { reason: "restarted from the console", request_id: newID("r-") }, refresh) }, "Restart now"));
  } else if (t.state === "failed" || t.state === "cancelled") {
    out.appendChild(retryButton(t, "retry-task", "", refresh));
  }
  return out;
}

// retryButton sends a failed or cancelled task round again with a fresh
// retry budget (POST /v1/tasks/{id}/retry), its history and checkpoint kept.
function retryButton(t, id, size, refresh) {
  return el("button", { type: "button", class: ("secondary " + size).trim(), id: id || undefined, "data-action": "retry",
    title: "run it again with a fresh retry budget; its history and checkpoint are kept",
    onclick: () => act("POST", "/v1/tasks/" + enc(t.id) + "/retry", { reason: "retried from the console", request_id: newID("q-") }, refresh) }, "Retry");
}

// checkpoint says when the task's last checkpoint was saved, by which
// attempt, and its size: where its next attempt starts.
function checkpoint(t) {
  if (!t.checkpoint_at) return undefined;
  return el("span", { id: "task-checkpoint" }, String(t.checkpoint_bytes || 0), " bytes, saved ", when(t.checkpoint_at), " by attempt ", String(t.checkpoint_attempt || 0));
}

async function act(method, path, body, refresh) {
  try {
    await api(method, path, body);
    showError("");
  } catch (e) {
    showError(e.message);
  }
  if (refresh) refresh();
}

function newID(prefix) {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function renderTask(t, kids) {
  const out = el("div", { id: "task", "data-state": t.state });
  out.appendChild(el("div", { class: "card" }, kv([
    ["state", el("span", { id: "task-state" }, badge(t.state))],
    ["kind", t.kind],
    ["owner", el("span", { class: "mono" }, t.owner || "")],
    ["attempts", attemptsText(t)],
    ["progress", t.progress || t.progress_note ? el("span", null, progress(t), " ", t.progress_note || "") : null],
    ["submitted", when(t.submitted_at)],
    ["started", when(t.started_at)],
    ["finished", t.finished_at ? when(t.finished_at) : null],
    ["next attempt", t.next_attempt_at ? when(t.next_attempt_at) : undefined],
    ["waiting", t.waiting ? el("span", { id: "task-waiting" }, t.waiting) : undefined],
    ["deadline", t.deadline ? when(t.deadline) : undefined],
    ["job", t.job_id ? el("span", null, link(t.job_id, "job", t.job_id), " · ", t.job_strategy || "one_for_one", " · stage ", String(t.job_stage || 0), t.job_restarts ? " · " + t.job_restarts + " job restarts" : "") : undefined],
    ["parent", taskLinks(t.labels && t.labels["granary.parent"] ? [t.labels["granary.parent"]] : [], "task-parent")],
    ["children", children(kids)],
    ["depends on", taskLinks(t.depends_on, "task-depends")],
    ["labels", t.labels ? el("span", { id: "task-labels" }, labels(t.labels)) : undefined],
    ["checkpoint", checkpoint(t)],
    ["retried", t.retries ? el("span", { id: "task-retries" }, t.retries + (t.retries === 1 ? " time, " : " times, last "), when(t.retried_at)) : undefined],
    ["epoch · revision", t.epoch + " · " + t.revision],
  ])));
  if (t.payload !== undefined) out.appendChild(el("div", { class: "card" }, el("h3", null, "Payload"), el("pre", { id: "task-payload" }, JSON.stringify(t.payload, null, 2))));
  if (t.payload_base64) out.appendChild(el("div", { class: "card" }, el("h3", null, "Payload (base64, not JSON)"), el("pre", { id: "task-payload" }, t.payload_base64)));
  if (t.error) out.appendChild(el("div", { class: "card" }, el("h3", null, "Error"), el("pre", { id: "task-error" }, t.error)));
  if (t.result !== undefined) out.appendChild(el("div", { class: "card" }, el("h3", null, "Result"), el("pre", { id: "task-result" }, JSON.stringify(t.result, null, 2))));
  if (t.result_base64) out.appendChild(el("div", { class: "card" }, el("h3", null, "Result (base64, not JSON)"), el("pre", null, t.result_base64)));
  out.appendChild(el("h2", null, "Attempts"));
  out.appendChild(timeline(t));
  if (t.policy) {
    out.appendChild(details("policy", "Supervision policy", el("pre", null, JSON.stringify(t.policy, null, 2))));
  }
  return out;
}

// attemptsText is a task's attempts against its budget; after a restart
// the budget counts from it (budget_base), so "6 of 4" is never shown.
function attemptsText(t) {
  const max = t.policy && t.policy.max_attempts;
  if (!max) return String(t.attempts);
  if (t.budget_base) return t.attempts + " in all; " + (t.attempts - t.budget_base) + " of " + max + " since the last restart";
  return t.attempts + " of " + max;
}

// timeline lists the attempts: each failed one from the error history
// (member, when it ended, cause, message, stack), then the current or
// last one (owner, start, end, progress). The store keeps no start time
// for earlier attempts: each began after the previous one's end and its
// backoff.
function timeline(t) {
  const ol = el("ol", { class: "timeline", id: "attempts" });
  const errs = t.errors || [];
  errs.forEach((e, i) => {
    if (i === 1 && t.errors_omitted) {
      ol.appendChild(el("li", { class: "muted" }, t.errors_omitted + " more failed attempts not kept"));
    }
    ol.appendChild(el("li", { class: "failed", "data-attempt": e.attempt },
      el("div", { class: "row" }, el("strong", null, "Attempt " + e.attempt), badge(e.cause || "error", "failed"),
        el("span", { class: "mono" }, e.member || ""),
        e.started_at ? [el("span", { class: "muted" }, "started"), when(e.started_at)] : null,
        el("span", { class: "muted" }, "ended"), when(e.at)),
      el("div", null, e.message || ""),
      e.stack ? details("stack-" + e.attempt, "stack", el("pre", null, e.stack)) : null));
  });
  const lastFailed = errs.length ? errs[errs.length - 1].attempt : 0;
  if (t.attempts > lastFailed || t.state === "completed" || t.state === "running") {
    const n = Math.max(t.attempts, 1);
    const cls = t.state === "completed" ? "done" : isTerminal(t.state) ? "failed" : "current";
    ol.appendChild(el("li", { class: cls, "data-attempt": n },
      el("div", { class: "row" }, el("strong", null, "Attempt " + n), badge(t.state),
        el("span", { class: "mono" }, t.owner || ""),
        el("span", { class: "muted" }, "started "), when(t.started_at),
        t.finished_at ? [el("span", { class: "muted" }, " ended "), when(t.finished_at)] : null),
      progress(t), t.progress_note ? el("span", { class: "muted" }, " " + t.progress_note) : null));
  } else if (t.state === "pending" && !t.attempts) {
    ol.appendChild(el("li", { class: "current" }, "Not started yet."));
  }
  if (t.waiting) {
    ol.appendChild(el("li", { class: "current" }, "Next attempt waits: ", t.waiting));
  } else if (t.state === "retrying" && t.next_attempt_at) {
    ol.appendChild(el("li", { class: "current" }, "Next attempt ", when(t.next_attempt_at), " (backoff)"));
  }
  return ol;
}

// ----- jobs -----
pages.jobs = (main) => {
  main.appendChild(el("h1", null, "Jobs"));
  const idIn = el("input", { placeholder: "job id", size: 24 });
  main.appendChild(el("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); if (idIn.value.trim()) location.hash = "#/job/" + enc(idIn.value.trim()); } },
    el("label", null, "job id", idIn), el("button", { type: "submit" }, "Open")));
  const body = el("div");
  main.appendChild(body);
  return new Poller(async (signal) => {
    const l = await api("GET", "/v1/jobs" + q({ limit: 100 }), undefined, signal);
    redraw(body, () => el("div", null,
      el("table", { id: "jobs" },
        el("thead", null, el("tr", null, ["job", "parent", "strategy", "restarts", "state", "updated", "cause"].map((h) => el("th", null, h)))),
        el("tbody", null, (l.jobs || []).map((j) => el("tr", null,
          el("td", { class: "mono" }, link(j.id, "job", j.id)),
          el("td", { class: "mono" }, j.parent ? link(j.parent, "job", j.parent) : ""),
          el("td", null, j.strategy),
          el("td", { class: "num" }, j.restarts + " of " + j.max_restarts),
          el("td", { class: "job-state" }, badge(j.state || (j.failed ? "failed" : "?"))),
          el("td", null, when(j.updated_at)),
          el("td", { class: "muted" }, j.error || ""))))),
      el("p", { class: "muted" }, (l.count || 0) + " of " + (l.total || 0) + " jobs, most recently changed first.")));
  });
};

// The job page (pages.job: a job and its descendants) is in jobs.js.

// ----- failures -----
pages.failures = (main) => {
  main.appendChild(el("h1", null, "Failures"));
  main.appendChild(el("p", { class: "muted" }, "Dead letters: tasks that failed for good, with their error history. Failing: tasks between attempts after a failure; restart runs one now with a fresh retry budget, cancel ends it. Retry sends a dead letter round again with a fresh retry budget."));
  const body = el("div");
  main.appendChild(body);
  const p = new Poller(async (signal) => {
    // One listing for both (a listing reads every stored task).
    const l = await api("GET", "/v1/tasks" + q({ state: "retrying,failed", limit: 100 }), undefined, signal);
    const all = l.tasks || [];
    const failing = all.filter((t) => t.state === "retrying");
    const dead = all.filter((t) => t.state === "failed");
    const more = l.next ? "+" : "";
    redraw(body, () => el("div", null,
      el("h2", null, "Failing now (", String(failing.length), more, ")"),
      failureList(failing, true, () => p.now()),
      el("h2", null, "Dead letters (", String(dead.length), more, ")"),
      failureList(dead, false, () => p.now()),
      l.next ? el("p", { class: "muted" }, "The newest 100 shown; the tasks page lists them all (state filter).") : null));
  });
  return p;
};

function failureList(tasks, live, refresh) {
  if (!tasks.length) return el("p", { class: "muted" }, "None.");
  return el("table", { class: live ? "failing" : "dead-letters" },
    el("thead", null, el("tr", null, ["task", "kind", "attempts", "last error", "history", ""].map((h) => el("th", null, h)))),
    el("tbody", null, tasks.map((t) => {
      const errs = t.errors || [];
      const last = errs.length ? errs[errs.length - 1] : null;
      return el("tr", { "data-task": t.id },
        el("td", { class: "mono" }, link(t.id, "task", t.id), el("div", null, labels(t.labels))),
        el("td", null, t.kind),
        el("td", { class: "num" }, String(t.attempts)),
        el("td", null, last ? el("span", null, badge(last.cause || "error", "failed"), " ", clip(last.message || "", 160)) : clip(t.error || "", 160),
          el("div", { class: "muted" }, t.finished_at ? ["failed ", when(t.finished_at)] : t.next_attempt_at ? ["next attempt ", when(t.next_attempt_at)] : null)),
        el("td", null, errs.length ? details("hist-" + t.id, errs.length + (t.errors_omitted ? " (+" + t.errors_omitted + ")" : "") + " errors",
          el("ol", null, errs.map((e) => el("li", null, "attempt " + e.attempt + " on ", el("span", { class: "mono" }, e.member || "?"), " ", when(e.at), ": ", e.cause, " — ", e.message || "",
            e.stack ? el("pre", null, e.stack) : null)))) : null),
        el("td", null, live ? el("div", { class: "row" },
          el("button", { type: "button", class: "small secondary", "data-action": "restart", onclick: () => act("POST", "/v1/tasks/" + enc(t.id) + "/restart", { reason: "restarted from the console", request_id: newID("r-") }, refresh) }, "Restart"),
          el("button", { type: "button", class: "small danger", "data-action": "cancel", onclick: () => act("DELETE", "/v1/tasks/" + enc(t.id) + q({ reason: "cancelled from the console" }), undefined, refresh) }, "Cancel"))
          : retryButton(t, "", "small", refresh)));
    })));
}

// ----- grains -----
pages.grains = (main) => {
  main.appendChild(el("h1", null, "Grains"));
  const body = el("div");
  main.appendChild(body);
  main.appendChild(el("h2", null, "Call a grain"));
  const kindSel = el("select", { name: "kind", id: "grain-kind" });
  const idIn = el("input", { name: "identity", id: "grain-id", placeholder: "identity", size: 24 });
  const payload = el("textarea", { name: "payload", id: "grain-payload", rows: 3, cols: 50, placeholder: "JSON payload (optional)" });
  let shownExample = "";
  const exampleOf = () => {
    showExample(payload, (kindsCache || []).find((x) => x.name === kindSel.value), shownExample);
    shownExample = payload.value;
  };
  kindSel.addEventListener("change", exampleOf);
  kinds().then((ks) => {
    ks.filter((k) => k.type === "grain").forEach((k) => kindSel.appendChild(el("option", { value: k.name }, k.name + (k.singleton ? " (singleton)" : "") + (k.durable ? " (durable)" : ""))));
    exampleOf();
  }).catch((e) => showError(e.message));
  const out = el("div", { id: "grain-reply" });
  main.appendChild(el("form", {
    class: "grid", id: "grain-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      clear(out);
      let body;
      const text = payload.value.trim();
      if (text) {
        try {
          body = JSON.parse(text);
        } catch (e) {
          out.appendChild(el("p", { class: "error" }, "The payload is not JSON: " + e.message));
          return;
        }
      }
      try {
        const r = await api("POST", "/v1/grains/" + enc(kindSel.value) + "/" + enc(idIn.value.trim()) + q({ request_id: newID("g-") }), body);
        out.appendChild(el("div", { class: "card" }, kv([["member", el("span", { class: "mono" }, r.member)], ["activation", el("span", { class: "mono" }, r.activation_id)],
          ["result", el("pre", null, r.result !== undefined ? JSON.stringify(r.result, null, 2) : r.result_base64 || "")]])));
        grainsPoll.now();
      } catch (e) {
        out.appendChild(el("p", { class: "error" }, e.message));
      }
    },
  }, el("label", null, "kind"), kindSel, el("label", null, "identity"), idIn, el("label", null, "payload"), payload,
  el("span"), el("div", null, el("button", { type: "submit" }, "Call"))));
  main.appendChild(out);
  main.appendChild(grainStateForm());
  const grainsPoll = new Poller(async (signal) => {
    const c = await api("GET", "/v1/cluster", undefined, signal);
    redraw(body, () => renderGrains(c));
  });
  return grainsPoll;
};

// grainStateForm shows a durable grain's stored state and its reminders
// (GET /v1/grains/{kind}/{id}/state): what `granary grain state` prints.
function grainStateForm() {
  const kindSel = el("select", { name: "kind", id: "state-kind" });
  kinds().then((ks) => ks.filter((k) => k.type === "grain" && k.durable).forEach((k) => kindSel.appendChild(el("option", { value: k.name }, k.name)))).catch(() => {});
  const idIn = el("input", { name: "identity", id: "state-id", placeholder: "identity", size: 24 });
  const out = el("div", { id: "grain-state" });
  return el("div", null,
    el("h2", null, "Stored state"),
    el("form", {
      class: "inline", id: "grain-state-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        clear(out);
        try {
          const st = await api("GET", "/v1/grains/" + enc(kindSel.value) + "/" + enc(idIn.value.trim()) + "/state");
          out.appendChild(renderGrainState(st));
        } catch (e) {
          out.appendChild(el("p", { class: "error" }, e.message));
        }
      },
    }, el("label", null, "kind", kindSel), el("label", null, "identity", idIn), el("button", { type: "submit" }, "Show")),
    out);
}

function renderGrainState(st) {
  if (!st.version) return el("p", { class: "muted" }, st.kind + "/" + st.identity + ": no state stored.");
  const reminders = st.reminders || [];
  return el("div", { class: "card" },
    kv([["grain", el("span", { class: "mono" }, st.kind + "/" + st.identity)], ["version", String(st.version)]]),
    el("pre", { id: "grain-state-value" }, st.state !== undefined ? JSON.stringify(st.state, null, 2) : "base64: " + (st.state_base64 || "")),
    el("h3", null, "Reminders"),
    reminders.length ? el("table", { id: "grain-reminders" },
      el("thead", null, el("tr", null, ["name", "due", "every", "payload"].map((h) => el("th", null, h)))),
      el("tbody", null, reminders.map((r) => el("tr", null,
        el("td", { class: "mono" }, r.name),
        el("td", null, when(r.due)),
        el("td", null, r.period ? roundDuration(r.period) : "once"),
        el("td", { class: "mono" }, r.payload !== undefined ? JSON.stringify(r.payload) : r.payload_base64 ? "base64: " + r.payload_base64 : ""))))) :
      el("p", { class: "muted" }, "None."));
}

function renderGrains(c) {
  const ms = (c.members || []).filter((m) => m.report);
  const kindSet = new Set();
  ms.forEach((m) => (m.report.activations_by_kind || []).forEach((k) => kindSet.add(k.kind)));
  const kindNames = Array.from(kindSet).sort();
  const cell = (m, k) => (m.report.activations_by_kind || []).find((x) => x.kind === k);
  return el("div", null,
    el("table", { id: "activations" },
      el("thead", null, el("tr", null, el("th", null, "kind"), ms.map((m) => el("th", { class: "num mono" }, m.id)), el("th", { class: "num" }, "total"))),
      el("tbody", null, kindNames.map((k) => el("tr", null, el("td", null, k),
        ms.map((m) => {
          const x = cell(m, k);
          return el("td", { class: "num" }, x ? String(x.count) : "0",
            x && x.identities && x.identities.length ? details("ids-" + m.id + "-" + k, "ids", el("div", { class: "mono" }, x.identities.join("\n"))) : null);
        }),
        el("td", { class: "num" }, String(ms.reduce((n, m) => n + ((cell(m, k) || {}).count || 0), 0))))))),
    kindNames.length ? null : el("p", { class: "muted" }, "No activations."),
    el("p", { class: "muted" }, "Activations by kind on each member that answered (", String(ms.length), " of ", String((c.members || []).length), "), ", when(c.at), "."));
}

// showExample puts kind k's example payload (GET /v1/kinds' example) into
// the form's payload box, unless the reader has typed their own (the box
// holds something other than the example shown before).
function showExample(box, k, shown) {
  const example = k && k.example !== undefined ? JSON.stringify(k.example) : "";
  box.placeholder = example ? "JSON, e.g. " + example : "JSON payload";
  if (box.value.trim() === "" || box.value === shown) box.value = example;
}

// ----- submit -----
pages.submit = (main, _parts, params) => {
  main.appendChild(el("h1", null, "Submit a task"));
  const kindSel = el("select", { name: "kind", id: "submit-kind", required: "" });
  const defaults = el("pre", { class: "muted", id: "submit-defaults" });
  let shownExample = "";
  const showDefaults = () => {
    const k = (kindsCache || []).find((x) => x.name === kindSel.value);
    defaults.textContent = k && k.defaults ? "defaults: " + JSON.stringify(k.defaults) : "";
    showExample(payload, k, shownExample);
    shownExample = payload.value;
  };
  kindSel.addEventListener("change", showDefaults);
  kinds().then((ks) => {
    ks.filter((k) => k.type === "task").forEach((k) => kindSel.appendChild(el("option", { value: k.name, selected: k.name === params.get("kind") }, k.name)));
    showDefaults();
  }).catch((e) => showError(e.message));
  const idIn = el("input", { name: "id", id: "submit-id", placeholder: "empty: a new id", size: 30 });
  const payload = el("textarea", { name: "payload", id: "submit-payload", rows: 5, cols: 60, placeholder: "JSON payload" });
  const labelsIn = el("textarea", { name: "labels", id: "submit-labels", rows: 2, cols: 60, placeholder: "one key=value a line" });
  const jobIn = el("input", { name: "job", id: "submit-job", placeholder: "optional job id", size: 24 });
  const strat = el("select", { name: "strategy", id: "submit-strategy" }, ["", "one_for_one", "one_for_all", "rest_for_one"].map((s) => el("option", { value: s }, s || "(the job's, or one_for_one)")));
  const stage = el("input", { name: "stage", id: "submit-stage", type: "number", min: 0, value: "0" });
  const maxAttempts = el("input", { name: "max_attempts", id: "submit-max-attempts", type: "number", min: 1, placeholder: "kind's default" });
  const out = el("div", { id: "submit-result" });
  main.appendChild(el("form", {
    class: "grid", id: "submit-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      clear(out);
      const req = { id: idIn.value.trim() || newID("t-"), kind: kindSel.value };
      const text = payload.value.trim();
      if (text) {
        try {
          req.payload = JSON.parse(text);
        } catch (e) {
          out.appendChild(el("p", { class: "error" }, "The payload is not JSON: " + e.message));
          return;
        }
      }
      const ls = {};
      for (const line of labelsIn.value.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf("=");
        if (i <= 0) {
          out.appendChild(el("p", { class: "error" }, "A label is key=value: " + line));
          return;
        }
        ls[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      if (Object.keys(ls).length) req.labels = ls;
      if (jobIn.value.trim()) {
        req.job_id = jobIn.value.trim();
        if (strat.value) req.job_strategy = strat.value;
        req.job_stage = parseInt(stage.value || "0", 10) || 0;
      }
      if (maxAttempts.value) req.policy = { max_attempts: parseInt(maxAttempts.value, 10) };
      try {
        const st = await api("POST", "/v1/tasks", req);
        location.hash = "#/task/" + enc(st.id);
      } catch (e) {
        out.appendChild(el("p", { class: "error" }, e.message));
      }
    },
  },
  el("label", null, "kind"), el("div", null, kindSel, defaults),
  el("label", null, "id"), idIn,
  el("label", null, "payload"), payload,
  el("label", null, "labels"), labelsIn,
  el("label", null, "job"), jobIn,
  el("label", null, "job strategy"), strat,
  el("label", null, "job stage"), stage,
  el("label", null, "max attempts"), maxAttempts,
  el("span"), el("div", null, el("button", { type: "submit", id: "submit-button" }, "Submit"))));
  main.appendChild(out);
  return null;
};

// ---------- start ----------

document.addEventListener("DOMContentLoaded", () => {
  initToken();
  window.addEventListener("hashchange", route);
  setInterval(tickLive, 1000);
  route();
});
