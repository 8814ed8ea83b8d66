// Package shop holds the kinds of the orders application: what its nodes
// run, written against Granary's public API (package actors) only.
//
// A customer fills a cart, a grain (one activation per cart id, anywhere in
// the cluster), then checks out. Checkout is a job of three durable tasks,
// one per stage:
//
//	stage 0  reserve  put the items aside          quick; out of stock is permanent
//	stage 1  charge   take the payment             the gateway times out now and then
//	                                               (retried); an invalid card is permanent
//	stage 2  ship     pack and hand to the carrier a second per unit, with progress
//
// Every task may run more than once (a retry, or a rerun on another node
// after its node died), so every side effect is keyed by the task id: the
// reservation, the payment and the tracking number are derived from it, and
// an inventory service, payment gateway or carrier called with that key
// does the work once however often it is asked.
//
//	reg := actors.NewRegistry()
//	app.Must(shop.Register(reg))
//	app.Main(reg) // orders node, orders dev, orders submit, …
package shop
