// Package chaos is Granary's own fault campaign (issue #11): real
// processes, faults from a seeded schedule, and a history of every
// operation checked at the end, in the manner of Jepsen.
//
// # The cluster
//
// A disk-backed Consul server (testconsul Server mode) and three `granary
// node` processes (testnode). Each member reaches Consul through its own
// netproxy, and is advertised to the other members (--advertise) through
// another, so the campaign can cut a member off from Consul, or the other
// members off from it, without touching the process. With Config.Topology
// Quorum (`make chaos CHAOS_TOPOLOGY=quorum`) Consul runs as operators run
// it: three servers (testconsul.StartQuorum) and a client agent per
// member, which the member's Consul proxy leads to; consul-restart then
// kills the leader server with SIGKILL and starts it again.
//
// # The faults
//
// One at a time, drawn from a generator seeded by the campaign's seed: the
// required faults first in an order the seed picks, then random ones until
// the duration has passed. After each, the campaign waits until every
// member sees every member healthy again (longer than Config.Settle is a
// violation), then rests one to three seconds. At most one member is ever
// down, paused or cut off, so a quorum of members always serves.
//
//	kill             kill -9 a member, 0.5-3s down, start it again (same data directory)
//	graceful-stop    SIGTERM a member (--drain-timeout 10s): it drains and exits; 0.5-3s down, start it again
//	pause            SIGSTOP a member for 3-6s, longer than its 2s lease, then SIGCONT
//	partition-consul sever a member's Consul proxy for 3-6s: it fences itself
//	partition-peers  sever the proxy the other members reach a member through, for 3-6s
//	consul-restart   restart the Consul server; its Raft data is kept
//	lose-quorum      (quorum topology only, once per campaign) pause two of the three servers for 10-30s, then continue them
//
// # The workload
//
// While the faults go on, through members picked at random (each call goes
// to one member only, so every answer is known to come from it):
// submitters send tasks — flaky (30% failures, 10% panics, four
// attempts), hang (the first attempt hangs past a 1s attempt time-out),
// sleep (0.2-2.5s) — now and then a job of three tasks under a random
// strategy (one_for_one, one_for_all, rest_for_one), and now and then a
// tree of nested jobs (tree_workload.go): a root (one_for_all or
// rest_for_one, 2 restarts, auto_shutdown any_significant one time in
// four) over a child job of two flaky tasks that fail 60% of their
// attempts (1 restart: it fails often, and its failure restarts the
// subtree), a child job of two sleeps and a sleep task, the tree stopped
// (DELETE /v1/jobs/{id}) one time in three; every submit carries
// its id, and one that fails is tried on the other members with the same
// id. Readers read acknowledged tasks and jobs. Callers call whoami (200
// identities) and add 1 to counters (20 identities). When the faults end,
// the workload stops and the drain reads every acknowledged task until it
// is terminal.
//
// # The checks
//
// Every submit, every status any member answered and every grain call is
// recorded with the member it went to and when it was sent and answered.
// At the end, all of these must hold:
//
//  1. No acknowledged task is lost: it exists and is completed, failed or
//     cancelled within Config.Drain after the faults stop.
//  2. No commit changes: every terminal read of a task shows the same
//     state, result, error, attempt count and finishing time.
//  3. No read goes back in time: through one member, a read sent after
//     another was answered returns no older revision, and no unfinished
//     state after a finished one.
//  4. No identity is answered by two activations at once: no call sent
//     after a newer activation answered is answered by the one it replaced
//     (faulttest.History.StaleAnswers), and within one counter activation
//     every increment reads a new value, greater than that of every
//     increment answered before it was sent.
//  5. Commits happen once: at most one "task finished" entry per task in
//     all the members' logs.
//  6. A drained attempt never runs twice (CheckDrains): a member sent
//     SIGTERM exits 0 within its drain time-out; a task it completed while
//     draining was run by one attempt, started on it, and by none after;
//     and unless its drain timed out (handing work off), no attempt it was
//     running at SIGTERM is counted lost (member_lost) and run again.
//  7. No task has two attempts running at once (CheckOverlaps): each
//     attempt runs, on one member's process run, from its "attempt
//     started" line to the first line that ends it (its failure, the
//     task's finish, its job's restart or terminate, the next attempt) or
//     the end of the run. Two that overlap are a violation unless one ran
//     on a member that was paused or cut off (from Consul, from its peers,
//     by a Consul restart, or fenced by itself: its "self-fenced" line to
//     its "lease restored") while it ran and did not commit: its commit
//     was fenced. One such attempt that did commit is a violation too.
//  8. No child of a stopped or failed job runs after the end was
//     recorded (CheckEndedJobs): no attempt of a task of the job, or of a
//     job below it, is still running at the job's "job ended" line, or
//     starts after it, until a line shows the job running again (its
//     parent restarted the subtree), unless it was fenced as in 7
//     (abandoned on a paused member).
//  9. Every restart is counted once (CheckRestartCounts): each "job
//     restart" line names its incident, the child and the round of the
//     incarnation that exited; an incarnation that an earlier restart had
//     replaced (under one_for_all, any child's) never restarts the job
//     again; and the restarts a job's record counts at the end are those
//     logged (give or take a line lost with a member killed between the
//     write and the line, whose operation a later owner resumed).
//
// A violation fails the test with its evidence (the reads, calls, submits
// or log entries that show it) and the command that replays the seed.
//
// # Running it
//
// The short version (about 60s of faults: a kill, a graceful stop, a pause, a partition and
// a Consul restart at least) runs in `go test ./...`, and is skipped under
// -short. The long version (at least 10 kills, 3 graceful stops, 2 pauses, 2 partitions of
// each kind and a Consul restart, 4 minutes of faults by default) is
// `make chaos`, or:
//
//	go test ./internal/chaos -run 'TestChaos$' -v -timeout 30m -chaos.long
//
// Every run logs its seed first and its summary last:
//
//	chaos: seed=… duration=… tasks=… calls=… kills=… pauses=… partitions=… consul_restarts=… violations=0
//
// To replay a run, pass its seed (and the same duration): -chaos.seed N
// -chaos.duration D, or CHAOS_SEED=N CHAOS_DURATION=D (CHAOS_LONG=1 for
// the long version). The seed fixes the schedule (which faults, to which
// member, for how long) and the workload's draws; the processes' timing is
// the machine's, so a replay reproduces the faults, not every
// interleaving.
package chaos
