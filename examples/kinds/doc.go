// Package kinds holds the stock example task kinds of the `granary`
// binary. Each is a small, readable handler that shows one part of the
// developer API, and together they drive the `make run` demo:
//
//	echo       returns its payload                         (the smallest task)
//	sleep      {"ms":N}                                    (heartbeats, progress, cancellation)
//	flaky      {"fail_rate":0.3,"panic_rate":0.1,"seed":N} (errors and panics, retried)
//	hang       {"succeed_on_attempt":N}                    (hung attempts that ignore their context)
//	pi         {"samples":N}                               (CPU-bound work with progress)
//	wordcount  {"text":"..."}                              (a plain typed function)
//
// Register them all with Register:
//
//	reg := actors.NewRegistry()
//	if err := kinds.Register(reg); err != nil { ... }
package kinds
