// Package errs is Granary's one error vocabulary: a sentinel per meaning
// and one table that says how each crosses the wire, as an HTTP status and
// code for clients and as a protobuf code between members.
//
// Every other package either re-exports these sentinels under its own name
// (api.ErrNotFound is errs.ErrNotFound) or declares a narrower one that
// wraps them (store.ErrNotFound, "task not found", matches errs.ErrNotFound
// too), so one errors.Is works whatever layer an error came from:
//
//	_, err := c.Get(ctx, "t1")
//	if errors.Is(err, errs.ErrNotFound) { ... }
//
// The package imports the standard library only, so that light programs
// (the Go client) can use it without the runtime's dependencies. The
// protobuf codes are therefore numbers here; cluster/api's tests hold them
// to the enums in messages/.
package errs
