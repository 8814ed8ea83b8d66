// Granary console: the schedules page. Each recurring schedule (GET
// /v1/schedules) with its spec, time zone, overlap policy, next run, counts
// and last run, with pause, resume and delete; a schedule's runs are tasks
// labelled granary.schedule=<id>. It loads after app.js and uses its
// helpers (el, badge, link, api, act, Poller, redraw, …).
"use strict";

pages.schedules = (main) => {
  main.appendChild(el("h1", null, "Schedules"));
  main.appendChild(el("p", { class: "muted" }, "Recurring schedules: each run is an ordinary task, id <schedule>-<UTC time>. " +
    "Declare them with PUT /v1/schedules/{id} or granary schedule create."));
  const body = el("div");
  main.appendChild(body);
  const p = new Poller(async (signal) => {
    const l = await api("GET", "/v1/schedules", undefined, signal);
    redraw(body, () => renderSchedules(l.schedules || [], () => p.now()));
  });
  return p;
};

function renderSchedules(list, refresh) {
  if (!list.length) return el("p", { class: "muted", id: "no-schedules" }, "No schedule.");
  return el("table", { id: "schedules" },
    el("thead", null, el("tr", null, ["schedule", "cron", "zone", "overlap", "task kind", "state", "next run", "runs", "skipped", "missed", "last run", ""].map((h) => el("th", null, h)))),
    el("tbody", null, list.map((s) => el("tr", { "data-schedule": s.id },
      el("td", { class: "mono" }, s.id),
      el("td", { class: "mono" }, s.cron),
      el("td", null, s.time_zone || "UTC"),
      el("td", null, s.overlap),
      el("td", { class: "mono" }, s.task.kind),
      el("td", null, s.paused ? badge("paused") : badge("active", "ok")),
      el("td", { class: "next-run" }, s.paused ? el("span", { class: "muted" }, "paused") : nextRun(s.next_run)),
      el("td", { class: "num" }, String(s.runs)),
      el("td", { class: "num" }, String(s.skipped)),
      el("td", { class: "num" }, String(s.missed)),
      el("td", { class: "mono" }, s.last_run ? link(s.last_run, "task", s.last_run) : ""),
      el("td", null, scheduleActions(s, refresh))))));
}

// scheduleActions: pause or resume (POST /v1/schedules/{id}/pause|resume),
// and delete (DELETE /v1/schedules/{id}; its runs stay).
function scheduleActions(s, refresh) {
  const path = "/v1/schedules/" + enc(s.id);
  return el("div", { class: "row" },
    s.paused
      ? el("button", { type: "button", class: "small", title: "resume from now (the paused time is not caught up)", onclick: () => act("POST", path + "/resume", undefined, refresh) }, "Resume")
      : el("button", { type: "button", class: "small", title: "due times pass without runs until resumed", onclick: () => act("POST", path + "/pause", undefined, refresh) }, "Pause"),
    el("button", { type: "button", class: "small danger", title: "no run starts after it; its runs stay", onclick: () => {
      if (confirm("Delete schedule " + s.id + "? Its runs stay, as tasks.")) act("DELETE", path, undefined, refresh);
    } }, "Delete"));
}

// nextRun is a schedule's next run: its UTC time and how soon.
function nextRun(iso) {
  if (!iso) return el("span", { class: "muted" }, "never");
  const t = new Date(iso);
  return el("span", null, el("span", { class: "mono" }, t.toISOString().replace(".000Z", "Z")), " ", el("span", { class: "muted" }, "(" + ago(t) + ")"));
}
