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

// CartState is a cart's durable state: the quantity of each product.
type CartState struct {
	Items map[string]int `json:"items,omitempty"`
}

// cart is one shopper's cart. Its state is durable (GrainWithState): the
// runtime loads it before the activation's first message and stores it
// before each answer leaves, fenced by the activation's claim, so a cart a
// shopper saw survives idle deactivation and the loss of its node.
type cart struct{}

// Receive handles one request; the grain runs one at a time. It returns
// the state to store; a failed request changes nothing.
func (cart) Receive(ctx actors.GrainContext, st CartState, req CartReq) (CartState, CartView, error) {
	if st.Items == nil {
		st.Items = map[string]int{}
	}
	switch req.Op {
	case CartAdd:
		if err := checkSKU(req.SKU); err != nil {
			return st, CartView{}, err
		}
		if req.Qty < 1 || st.Items[req.SKU]+req.Qty > maxCartQty {
			return st, CartView{}, fmt.Errorf("qty must be at least 1 and a cart holds at most %d of a product (it has %d %s)", maxCartQty, st.Items[req.SKU], req.SKU)
		}
		st.Items[req.SKU] += req.Qty
	case CartList:
	case CartClear:
		st.Items = nil
	default:
		return st, CartView{}, fmt.Errorf("unknown op %q (add, list or clear)", req.Op)
	}
	v := CartView{Cart: ctx.Identity(), Items: sorted(st.Items), Member: ctx.MemberID()}
	v.TotalCents = Total(v.Items)
	return st, v, nil
}

func sorted(items map[string]int) []Item {
	out := make([]Item, 0, len(items))
	for sku, qty := range items {
		out = append(out, Item{SKU: sku, Qty: qty})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// Cart is the cart grain kind: one cart per identity (a customer id).
var Cart = mustGrain(actors.GrainWithState("cart", func() actors.StatefulGrain[CartReq, CartView, CartState] { return cart{} }))
