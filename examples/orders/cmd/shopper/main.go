// Command shopper is a customer of the orders application: it fills a
// cart through grain calls, checks it out as a job of three stages
// (reserve, charge, ship), follows each stage to its end and prints the
// outcome.
//
//	shopper --addr http://127.0.0.1:8081,http://127.0.0.1:8082 --cart alice --items apple=4,pear=3 --card 4242424242424242
//
// Exit codes: 0 the order shipped; 1 it failed (the cause is printed);
// 2 a usage error; 3 the --timeout passed first.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/examples/orders/shop"
)

const (
	exitFailed  = 1
	exitUsage   = 2
	exitTimeout = 3
)

// exitError is an error with the exit code it ends the program with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv); err != nil {
		code := exitFailed
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "shopper: %v\n", err)
		}
		os.Exit(code)
	}
}

type options struct {
	addrs   []string
	cart    string
	items   []shop.Item
	card    string
	address string
	order   string
	timeout time.Duration
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	fs := flag.NewFlagSet("shopper", flag.ContinueOnError)
	defAddr := getenv("GRANARY_ADDR")
	if defAddr == "" {
		defAddr = client.DefaultAddr
	}
	addr := fs.String("addr", defAddr, "node HTTP address, or several separated by commas: a call that cannot reach one tries the next (default $GRANARY_ADDR, else "+client.DefaultAddr+")")
	cart := fs.String("cart", "alice", "cart id (one cart grain per id)")
	items := fs.String("items", "apple=4,pear=3,plum=5", "what to put in the cart: SKU=QTY,... (products: "+strings.Join(shop.Products(), ", ")+")")
	card := fs.String("card", "4242424242424242", "card number to charge (one failing the Luhn check is declined for good)")
	address := fs.String("address", "1 Orchard Lane, Springfield", "where to ship")
	order := fs.String("order", "", "order id: the job's id and the prefix of its task ids (default: the cart id and the time)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting after this long (exit 3)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{}, &exitError{code: 0, err: err}
		}
		return options{}, &exitError{code: exitUsage, err: err}
	}
	usage := func(format string, a ...any) (options, error) {
		return options{}, &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q (see shopper -h)", fs.Arg(0))
	}
	o := options{cart: *cart, card: *card, address: *address, order: *order, timeout: *timeout}
	for _, a := range strings.Split(*addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.addrs = append(o.addrs, a)
		}
	}
	if len(o.addrs) == 0 {
		return usage("--addr: no address given")
	}
	var err error
	if o.items, err = parseItems(*items); err != nil {
		return usage("--items: %v", err)
	}
	if o.cart == "" {
		return usage("--cart must not be empty")
	}
	if o.timeout <= 0 {
		return usage("--timeout must be positive, got %s", o.timeout)
	}
	if o.order == "" {
		o.order = fmt.Sprintf("%s-%s", o.cart, time.Now().UTC().Format("20060102-150405"))
	}
	return o, nil
}

// parseItems reads "apple=4,pear=3".
func parseItems(s string) ([]shop.Item, error) {
	var out []shop.Item
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		sku, qty, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(qty)
		if !ok || err != nil {
			return nil, fmt.Errorf("%q: want SKU=QTY, such as apple=4", part)
		}
		out = append(out, shop.Item{SKU: strings.TrimSpace(sku), Qty: n})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no items")
	}
	return out, nil
}

func run(args []string, out io.Writer, getenv func(string) string) error {
	o, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	c, err := client.New(client.Config{Addrs: o.addrs})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	err = shopAndCheckOut(ctx, c, o, out)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &exitError{code: exitTimeout, err: fmt.Errorf("gave up after --timeout %s: %w", o.timeout, err)}
	case errors.Is(err, api.ErrUnavailable):
		return fmt.Errorf("%w\n(is an orders node running at %s? start one with `orders dev` or `orders node`, or point --addr at one)", err, strings.Join(o.addrs, ", "))
	case errors.Is(err, api.ErrInvalidArgument):
		return &exitError{code: exitUsage, err: err}
	}
	return err
}

func shopAndCheckOut(ctx context.Context, c *client.Client, o options, out io.Writer) error {
	// A fresh cart, so running the shopper twice does not double the items.
	if _, err := callCart(ctx, c, o.cart, shop.CartReq{Op: shop.CartClear}); err != nil {
		return err
	}
	for _, it := range o.items {
		v, err := callCart(ctx, c, o.cart, shop.CartReq{Op: shop.CartAdd, SKU: it.SKU, Qty: it.Qty})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "cart %s: added %d %s (cart on %s)\n", o.cart, it.Qty, it.SKU, v.Member)
	}
	v, err := callCart(ctx, c, o.cart, shop.CartReq{Op: shop.CartList})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cart %s: %s, total %s\n", o.cart, shop.FormatItems(v.Items), shop.FormatCents(v.TotalCents))

	co, err := shop.NewCheckout(o.order, v.Items, o.card, o.address)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "checkout: order %s is job %s (%s), one stage at a time\n", co.Order, co.Order, shop.CheckoutStrategy)
	var last *api.Status
	for _, req := range co.Stages {
		if last, err = runStage(ctx, c, req, out); err != nil {
			return err
		}
		if last.State != api.StateCompleted {
			return orderFailed(ctx, c, co.Order, out)
		}
	}
	if _, err := callCart(ctx, c, o.cart, shop.CartReq{Op: shop.CartClear}); err != nil {
		return err
	}
	var shipped shop.ShipOut
	if err := json.Unmarshal(last.Result, &shipped); err != nil {
		return fmt.Errorf("reading ship's result %s: %w", last.Result, err)
	}
	fmt.Fprintf(out, "order %s shipped to %s: tracking %s\n", co.Order, o.address, shipped.Tracking)
	return nil
}

// runStage submits one stage and follows it to its end, printing when it
// starts running on a node, when an attempt fails, and how it ended.
func runStage(ctx context.Context, c *client.Client, req api.SubmitRequest, out io.Writer) (*api.Status, error) {
	st, err := c.Submit(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("submitting %s: %w", req.Kind, err)
	}
	fmt.Fprintf(out, "  stage %d %-7s task %s submitted\n", req.JobStage, req.Kind, st.ID)
	owner, failures := "", 0
	show := func(s *api.Status) {
		if s.State == api.StateRunning && s.Owner != owner {
			owner = s.Owner
			fmt.Fprintf(out, "  stage %d %-7s running on %s (attempt %d)\n", req.JobStage, req.Kind, owner, s.Attempts)
		}
		for ; failures < len(s.Errors); failures++ {
			e := s.Errors[failures]
			fmt.Fprintf(out, "  stage %d %-7s attempt %d failed on %s (%s): %s\n", req.JobStage, req.Kind, e.Attempt, e.Member, e.Cause, e.Message)
		}
	}
	show(st)
	st, err = c.WaitFrom(ctx, st, show)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s %s: %w", req.Kind, req.ID, err)
	}
	show(st)
	switch st.State {
	case api.StateCompleted:
		fmt.Fprintf(out, "  stage %d %-7s completed on %s after %d attempt(s): %s\n", req.JobStage, req.Kind, st.Owner, st.Attempts, st.Result)
	default:
		fmt.Fprintf(out, "  stage %d %-7s %s after %d attempt(s): %s\n", req.JobStage, req.Kind, st.State, st.Attempts, st.Error)
	}
	return st, nil
}

// orderFailed reports the job's cause and ends the program with exit 1.
func orderFailed(ctx context.Context, c *client.Client, order string, out io.Writer) error {
	j, err := c.Job(ctx, order)
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("order %s failed (and its job could not be read: %w)", order, err)}
	}
	fmt.Fprintf(out, "job %s: %s\n", j.ID, j.State)
	return &exitError{code: exitFailed, err: fmt.Errorf("order %s failed: %s", order, j.Error)}
}

// callCart calls the cart grain.
func callCart(ctx context.Context, c *client.Client, cart string, req shop.CartReq) (shop.CartView, error) {
	v, _, err := client.CallTyped[shop.CartReq, shop.CartView](ctx, c, shop.Cart.Name(), cart, req)
	if err != nil {
		return v, fmt.Errorf("cart %s %s: %w", cart, req.Op, err)
	}
	return v, nil
}
