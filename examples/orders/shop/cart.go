package shop

import (
	"fmt"
	"sort"

	"github.com/granary-rt/granary/actors"
)

// CartReq is a request to a cart: {"op":"add","sku":"apple","qty":2},
// {"op":"list"} or {"op":"clear"}.
type CartReq struct {
	Op  string `json:"op"`
	SKU string `json:"sku,omitempty"`
	Qty int    `json:"qty,omitempty"`
}

// The cart's operations.
const (
	CartAdd   = "add"
	CartList  = "list"
	CartClear = "clear"
)

// CartView is every answer of a cart: its content after the request, and
// the member whose activation answered.
type CartView struct {
	Cart       string `json:"cart"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Member     string `json:"member"`
}

// maxCartQty bounds one product in a cart, so a runaway client cannot
// grow a cart without end.
const maxCartQty = 1000

// cart is one shopper's cart. Its state lives in the activation's memory
// only: a cart whose activation ends (idle for the node's --idle-timeout,
// or its node died) starts again empty. Durable grain state, loaded on
// activation and written before the reply, is a later issue of Granary's;
// until then an order's items travel in its tasks' payloads, which are
// durable, so a checkout never depends on a cart surviving.
type cart struct {
	items map[string]int
}

func newCart() actors.TypedGrain[CartReq, CartView] { return &cart{items: map[string]int{}} }

// Receive handles one request; the grain runs one at a time, so the map
// needs no lock. Calls are delivered at most once to the handler (Granary
// retries only calls that were certainly not processed), so an add is
// never counted twice.
func (c *cart) Receive(ctx actors.GrainContext, req CartReq) (CartView, error) {
	switch req.Op {
	case CartAdd:
		if err := checkSKU(req.SKU); err != nil {
			return CartView{}, err
		}
		if req.Qty < 1 || c.items[req.SKU]+req.Qty > maxCartQty {
			return CartView{}, fmt.Errorf("qty must be at least 1 and a cart holds at most %d of a product (it has %d %s)", maxCartQty, c.items[req.SKU], req.SKU)
		}
		c.items[req.SKU] += req.Qty
	case CartList:
	case CartClear:
		clear(c.items)
	default:
		return CartView{}, fmt.Errorf("unknown op %q (add, list or clear)", req.Op)
	}
	v := CartView{Cart: ctx.Identity(), Items: c.sorted(), Member: ctx.MemberID()}
	v.TotalCents = Total(v.Items)
	return v, nil
}

func (c *cart) sorted() []Item {
	out := make([]Item, 0, len(c.items))
	for sku, qty := range c.items {
		out = append(out, Item{SKU: sku, Qty: qty})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// Cart is the cart grain kind: one cart per identity (a customer id).
var Cart = mustGrain(actors.GrainOf("cart", newCart))
