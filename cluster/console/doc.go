// Package console serves Granary's web console: a few static pages (HTML,
// CSS and plain JavaScript, embedded in the binary with go:embed; no
// framework, no build step, nothing fetched from elsewhere) that every node
// serves at /ui/ and that read the same HTTP API clients use.
//
//	h := console.Mount(apiHandler, console.DefaultConfig()) // /ui/ → the console, GET / → /ui/, the rest → the API
//
// Pages (hash routes of one document, so a link to any of them works):
// the cluster (members, health, kinds, activations, fenced, lease age),
// tasks (counts by state and kind, rates, a filtered, paged list), a task
// (its attempts), jobs and a job as its supervision tree (its child jobs
// and their tasks to any depth, each job with its state, strategy, budget
// used and restarts, and a button that stops the whole subtree; jobs.js),
// failures (dead letters and failing tasks, with restart and cancel), grains
// (activations by kind and member, a call form), and a submit form.
//
// # Live and cheap
//
// Pages poll the API and redraw what changed. Each poller of a page waits
// at least 2s between its polls, and all of them pass one gate: one poll
// at a time, and after a poll whose answers took d, none before 200×d has
// passed; so however many pollers a page has and however slow the answers
// get (a listing reads every stored task), a console keeps its node busy
// at most about 0.5% of the time. Polls stop while the tab is hidden. The
// first fetch of a page, or one the reader asks for (a button, a page
// turn), goes at once. The task page long-polls the task (?index=,
// ?wait=), which costs the node no work while it waits. The cluster page
// is held back 10s at most whatever the gate says, so that a killed or
// cut-off member shows unhealthy within about 10s plus its checks' TTL
// even on a loaded machine (where 200×d is half a minute and more): the
// node makes GET /v1/cluster's report at most once a second whatever the
// number of consoles, mostly waiting on Consul and the members. The
// counts of GET /v1/tasks:stats pass no gate and are polled every 2s: the
// store keeps them with its writes (store.Counter), so each costs the node
// one read of a few keys, at a million tasks as at ten.
//
// # Security
//
// The assets are served to anyone (they hold no data); every data call is
// an API call and needs a token when the node has tokens: the console asks
// for one, keeps it in the tab's sessionStorage and sends it as
// Authorization: Bearer; 401 and 403 answers are shown as such. Everything
// that comes from data (labels, errors, stacks, results, identities) is
// rendered as text through DOM nodes, never as HTML, and the pages carry a
// strict Content-Security-Policy (default-src 'self', no inline script or
// style), X-Content-Type-Options: nosniff and frame-ancestors 'none'.
package console
