// Command orders is a shop's Granary application: the whole granary CLI
// (node, dev, submit, wait, status, job status, call, …) hosting the shop's
// own kinds, the cart grain and the reserve, charge and ship tasks.
package main

import (
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cmd/granary/app"
	"github.com/granary-rt/granary/examples/orders/shop"
)

func main() {
	reg := actors.NewRegistry()
	app.Must(shop.Register(reg))
	app.Main(reg)
}
