// Package kinds holds the stock task kinds of the `granary` binary. Each is
// a small handler that shows one part of the developer API (package
// actors), and together they drive the `make run` demo:
//
//	kind       payload                                      shows
//	echo       any JSON value                               an untyped kind: raw bytes in and out
//	sleep      {"ms":N}                                     heartbeats, progress, prompt cancellation
//	flaky      {"fail_rate":0.3,"panic_rate":0.1,"seed":N}  errors and panics, retried under backoff
//	hang       {"succeed_on_attempt":N}                     hung attempts that ignore their context
//	pi         {"samples":N}                                CPU-bound work, deterministic per task id
//	wordcount  {"text":"..."}                               a plain typed function
//
// and the map-reduce of package examples/wordcount: wordcount-mapreduce
// ({"shards":N,"words_per_shard":N,"seed":N}) spawns one wordcount-shard
// child task per shard and sums their counts (child tasks, fan-out/in).
//
// Register adds them all to a registry:
//
//	reg := actors.NewRegistry()
//	if err := kinds.Register(reg); err != nil {
//		return err
//	}
//
// Every typed kind follows the same pattern: a payload struct decoded
// strictly (an unknown field or a wrong type is rejected at submit time),
// a Validate method for value ranges run at submit time too, and
// supervision defaults declared next to the handler:
//
//	type PiIn struct {
//		Samples int64 `json:"samples"`
//	}
//
//	func (in PiIn) Validate() error { ... } // "samples must be between 1 and 1000000000, got 0"
//
//	var Pi = actors.MustTask("pi", runPi, actors.WithCheck(PiIn.Validate))
//
// validateAs is a few lines over actors.WithValidator: it decodes the
// payload as actors.Task does and calls the check.
//
// Handlers are safe to re-run, as at-least-once execution requires: the
// random ones (flaky, pi) seed their generators from the task id (and
// attempt), so running the same attempt again makes the same choices.
//
// A handler can be tested without a runtime by calling (*actors.TaskKind).Run
// with any actors.TaskContext; the tests of this package use a small fake.
package kinds
