package app

import (
	"os"
	"regexp"
	"testing"
)

// TestPackageDocListsEveryCommand: the package doc's command list names
// every command of the command table, and no other (it omitted node and
// jobs).
func TestPackageDocListsEveryCommand(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^//\tgranary ([a-z]+)`).FindAllStringSubmatch(string(src), -1) {
		documented[m[1]] = true
	}
	table := map[string]bool{}
	for _, c := range commands {
		table[c.name] = true
		if !documented[c.name] {
			t.Errorf("command %s is not in the package doc's list", c.name)
		}
	}
	for name := range documented {
		if !table[name] {
			t.Errorf("the package doc lists %s, which is no command", name)
		}
	}
}
