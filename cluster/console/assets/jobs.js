// Granary console: the job page. A job is a supervisor whose children are
// its tasks and its child jobs; the page draws the job and its descendants
// to any depth (GET /v1/jobs/{id}/tree), each with its state, strategy,
// restart budget and restarts, its children grouped by stage (start
// order), the job's own tasks with their failed attempts (GET
// /v1/jobs/{id}) and its restart log. It loads after app.js and uses its
// helpers (el, badge, link, api, Poller, redraw, …).
"use strict";

pages.job = (main, parts) => {
  const id = parts[0] || "";
  main.appendChild(el("h1", null, "Job ", el("span", { class: "mono" }, id)));
  const actions = el("div", { class: "row" });
  const body = el("div");
  main.appendChild(actions);
  main.appendChild(body);
  const p = new Poller(async (signal) => {
    const j = await api("GET", "/v1/jobs/" + enc(id), undefined, signal);
    const t = await api("GET", "/v1/jobs/" + enc(id) + "/tree", undefined, signal);
    redraw(body, () => renderJob(j, t));
    redraw(actions, () => jobActions(t, () => p.now()));
  });
  return p;
};

// jobActions: a job that has not ended can be stopped, its whole subtree
// with it (DELETE /v1/jobs/{id}).
function jobActions(t, refresh) {
  const out = el("div", { class: "row" });
  if (t.root && !isTerminal(t.root.state)) {
    out.appendChild(el("button", { type: "button", class: "danger", id: "stop-job", title: "stop the job and every task and job under it, children first",
      onclick: () => act("DELETE", "/v1/jobs/" + enc(t.root.id) + q({ reason: "stopped from the console" }), undefined, refresh) }, "Stop job"));
  }
  return out;
}

function decision(strategy, r, tasks) {
  const failed = tasks.find((t) => t.id === r.task);
  switch (strategy) {
    case "one_for_all":
      return "one_for_all: every other unfinished task of the job was restarted with it";
    case "rest_for_one":
      return "rest_for_one: the unfinished tasks of stages after " + (failed ? failed.job_stage || 0 : "its stage") + " were restarted with it";
    default:
      return strategy + ": the failed task was restarted";
  }
}

function renderJob(j, t) {
  const tasks = j.tasks || [];
  const full = new Map(tasks.map((x) => [x.id, x]));
  const log = j.restart_log || [];
  // GET /v1/jobs/{id} has the first page of the job's tasks in full (with
  // their attempts); the tree has every task, in brief.
  const more = j.tasks_next ? el("p", { class: "muted", id: "job-more" }, "Attempts shown for the first " + tasks.length + " of " + j.task_count +
    " tasks (by id); the others: GET /v1/jobs/" + j.id + "/tasks?cursor=" + j.tasks_next + ", or granary job status " + j.id + ".") : null;
  return el("div", null,
    el("p", { class: "muted" }, plural(t.jobs, "job") + " and " + plural(t.tasks, "task") + " in this tree" + (t.truncated ? " (truncated: more are not drawn)" : "") + "."),
    el("ul", { class: "tree", id: "job-tree" }, jobNode(t.root, full)), more,
    el("h2", null, "Restarts and the strategy's decisions"),
    log.length ? el("table", { id: "restart-log" },
      el("thead", null, el("tr", null, ["when", "failed task", "its error", "decision"].map((h) => el("th", null, h)))),
      el("tbody", null, log.map((r) => el("tr", null, el("td", null, when(r.at)), el("td", { class: "mono" }, link(r.task, "task", r.task)),
        el("td", { class: "muted" }, clip(r.error || "", 200)), el("td", null, decision(j.strategy, r, tasks))))))
      : el("p", { class: "muted" }, "No restart so far."),
    j.state === "failed" && j.error ? el("p", null, badge("failed"), " the job ended: ", j.error, j.restarts >= j.max_restarts && j.max_restarts > 0 ? " (restart budget spent)" : "") : null);
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

// budget is a job's restart budget as used now: restarts within its period
// out of the most it allows.
function budget(n) {
  return "budget " + (n.restarts_in_period || 0) + " of " + n.max_restarts + (n.restart_period ? " per " + n.restart_period : " (job's life)");
}

// childNote is a child's place in its job: its restart type, significant.
function childNote(restart, significant) {
  return (restart || "transient") + (significant ? ", significant" : "");
}

// jobNode draws one job of the tree and, under it, its children by stage:
// tasks (in full when the job is the page's own) and child jobs, each
// drawn the same way, to any depth.
function jobNode(n, full) {
  const stages = new Map();
  const add = (s, node) => {
    if (!stages.has(s)) stages.set(s, []);
    stages.get(s).push(node);
  };
  (n.tasks || []).forEach((t) => add(t.stage || 0, full.has(t.id) ? fullTask(full.get(t.id), t) : treeTask(t)));
  (n.jobs || []).forEach((c) => add(c.stage || 0, jobNode(c, new Map())));
  const stageNos = Array.from(stages.keys()).sort((a, b) => a - b);
  const counted = Object.entries(n.counts || {}).filter(([, k]) => k > 0);
  const counts = counted.length ? el("span", { class: "muted" }, "its tasks: ", ...counted.map(([s, k]) => el("span", null, badge(s), " " + k + " "))) : null;
  const omitted = (n.tasks_omitted || 0) + (n.jobs_omitted || 0);
  return el("li", { "data-job": n.id, "data-depth": String(n.depth || 0), "data-state": n.state },
    el("div", { class: "row" },
      n.parent ? link("job " + n.id, "job", n.id) : el("strong", null, "job " + n.id), badge(n.state),
      n.parent ? el("span", { class: "muted" }, "stage " + (n.stage || 0) + ", " + childNote(n.restart, n.significant)) : null,
      el("span", null, "strategy ", el("strong", null, n.strategy)),
      el("span", { class: "budget" }, budget(n)),
      el("span", null, "restarts " + (n.restarts || 0)),
      n.auto_shutdown && n.auto_shutdown !== "never" ? el("span", { class: "muted" }, "auto_shutdown " + n.auto_shutdown) : null,
      counts),
    n.error ? el("pre", null, n.error) : null,
    el("ul", { class: "tree" }, stageNos.map((s) => el("li", { "data-stage": s }, el("strong", null, "stage " + s), el("ul", { class: "tree" }, stages.get(s))))),
    omitted ? el("p", { class: "muted" }, omitted + " more children not drawn (the tree is truncated)") : null);
}

// treeTask draws a task of a descendant job: what its tree node holds.
function treeTask(t) {
  return el("li", { "data-task": t.id },
    el("div", { class: "row" }, link(t.id, "task", t.id), el("span", null, t.kind), badge(t.state),
      el("span", { class: "muted" }, t.attempts + " attempts" + (t.job_restarts ? ", " + t.job_restarts + " job restarts" : "") + " · " + childNote(t.restart, t.significant)),
      t.error ? el("span", { class: "muted" }, clip(t.error, 200)) : null));
}

// fullTask draws a task of the page's own job, with its failed attempts.
function fullTask(t, node) {
  const attemptNode = (e) => el("li", null,
    el("span", null, "attempt " + e.attempt + " "), badge(e.cause || "error", "failed"), " ", el("span", { class: "mono" }, e.member || ""), " ", when(e.at), " ",
    el("span", { class: "muted" }, clip(e.message || "", 200)),
    e.stack ? details("job-stack-" + t.id + "-" + e.attempt, "stack", el("pre", null, e.stack)) : null);
  return el("li", { "data-task": t.id },
    el("div", { class: "row" }, link(t.id, "task", t.id), el("span", null, t.kind), badge(t.state),
      el("span", { class: "muted" }, t.attempts + " attempts" + (t.job_restarts ? ", " + t.job_restarts + " job restarts" : "") + " · " + childNote(node.restart, node.significant)), progress(t)),
    (t.errors || []).length ? el("ul", { class: "tree" }, t.errors.map(attemptNode)) : null);
}
