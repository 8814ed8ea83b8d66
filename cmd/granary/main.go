// Command granary is Granary's stock runtime binary and CLI: the whole CLI
// of package app with the stock example kinds (echo, sleep, flaky, hang,
// pi, wordcount; the counter, whoami, leader and alarm grains). An application
// with kinds of its own has a main just like this one.
package main

import (
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cmd/granary/app"
	"github.com/granary-rt/granary/examples/kinds"
)

func main() {
	reg := actors.NewRegistry()
	app.Must(kinds.Register(reg))
	app.Main(reg)
}
