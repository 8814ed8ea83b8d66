package shop

import (
	"fmt"
	"sort"
	"strings"
)

// Item is a product and how many of it.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// product is one line of the catalog.
type product struct {
	priceCents int64
	// stock is what the warehouse holds: an order asking for more fails
	// its reservation for good.
	stock int
}

// catalog is fixed: this example has no inventory database, and a fixed
// catalog keeps every node's answers identical.
var catalog = map[string]product{
	"apple": {priceCents: 50, stock: 40},
	"pear":  {priceCents: 70, stock: 30},
	"plum":  {priceCents: 40, stock: 25},
	"fig":   {priceCents: 120, stock: 10},
	"kiwi":  {priceCents: 60, stock: 3},
}

// MaxUnits bounds the units of one order: packing takes PackTimePerUnit
// each, and a minute of packing is plenty for a demonstration.
const MaxUnits = 60

// Products lists the catalog's SKUs, sorted.
func Products() []string {
	out := make([]string, 0, len(catalog))
	for sku := range catalog {
		out = append(out, sku)
	}
	sort.Strings(out)
	return out
}

// checkSKU reports whether the catalog sells sku.
func checkSKU(sku string) error {
	if _, ok := catalog[sku]; !ok {
		return fmt.Errorf("no product %q (the shop sells %s)", sku, strings.Join(Products(), ", "))
	}
	return nil
}

// checkItems is the submit-time check of an order's items: known products,
// positive quantities, one line per product, at most MaxUnits in all.
func checkItems(items []Item) error {
	if len(items) == 0 {
		return fmt.Errorf("an order needs at least one item")
	}
	seen := map[string]bool{}
	units := 0
	for _, it := range items {
		if err := checkSKU(it.SKU); err != nil {
			return err
		}
		if it.Qty < 1 {
			return fmt.Errorf("%s: quantity must be at least 1, got %d", it.SKU, it.Qty)
		}
		if seen[it.SKU] {
			return fmt.Errorf("%s appears twice: give one line per product", it.SKU)
		}
		seen[it.SKU] = true
		units += it.Qty
	}
	if units > MaxUnits {
		return fmt.Errorf("an order holds at most %d units, got %d", MaxUnits, units)
	}
	return nil
}

// Total is the price of items in cents; unknown products count nothing
// (checkItems refuses them before any task runs).
func Total(items []Item) int64 {
	var sum int64
	for _, it := range items {
		sum += catalog[it.SKU].priceCents * int64(it.Qty)
	}
	return sum
}

// Units counts the units of items.
func Units(items []Item) int {
	n := 0
	for _, it := range items {
		n += it.Qty
	}
	return n
}

// FormatCents writes an amount as dollars and cents.
func FormatCents(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }

// FormatItems writes items as "4 apple, 3 pear".
func FormatItems(items []Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%d %s", it.Qty, it.SKU)
	}
	return strings.Join(parts, ", ")
}
