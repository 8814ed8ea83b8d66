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
// # Configuration
//
// Every package that is configured takes one Config, with the same three
// parts (cluster/membership/config.go is the model):
//
//   - func DefaultConfig() Config, with no arguments: identities and
//     dependencies (a member id, a path, a store) are fields, left empty
//     by DefaultConfig, and every default carries a comment saying why
//     that value;
//   - func (Config) Validate() error, whose errors wrap ErrInvalidConfig
//     (through the package's own ErrInvalidConfig made with New) and name
//     the field and the value refused;
//   - the zero rule: a constructor never panics, whatever the Config. A
//     field whose zero value cannot work and that has a default takes
//     DefaultConfig's value ("0: the default" in its doc comment); any
//     other field is taken as given and checked by Validate before
//     anything starts. So New(Config{}) either works with the defaults
//     (nothing is required) or is refused with an ErrInvalidConfig naming
//     the first required field it lacks.
//
// cluster/node's TestZeroConfigsDoNotPanic builds every Config from its
// zero value and TestConfigConventions checks the signatures.
//
// The package imports the standard library only, so that light programs
// (the Go client) can use it without the runtime's dependencies. The
// protobuf codes are therefore numbers here; cluster/api's tests hold them
// to the enums in messages/.
package errs
