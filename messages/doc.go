// Package messages holds Granary's protobuf messages: the task spec a
// client submits, the status its owner advances, and the Task record that
// joins them in the task store.
//
// granary.proto is the source; granary.pb.go is generated from it by
// `make proto` (internal/tools/protogen with the protoc-gen-go pinned in
// go.mod) and committed. `make test` fails when the committed code is stale.
package messages
