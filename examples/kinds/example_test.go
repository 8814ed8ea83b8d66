package kinds_test

import (
	"encoding/json"
	"fmt"

	"github.com/granary-rt/granary/examples/kinds"
)

// The wordcount handler is a pure function: words are runs of letters and
// digits, counted lowercased.
func ExampleCountWords() {
	out := kinds.CountWords("The cat and the hat. THE END")
	res, _ := json.Marshal(out)
	fmt.Println(string(res))
	// Output: {"words":7,"counts":{"and":1,"cat":1,"end":1,"hat":1,"the":3}}
}

// A payload is checked when it is submitted, before anything is stored:
// its shape by the strict JSON decoding, its values by the kind's
// validator.
func Example_validate() {
	fmt.Println(kinds.WordCount.Validate([]byte(`{"text":"a b a"}`)))
	fmt.Println(kinds.WordCount.Validate([]byte(`{"txt":"a b a"}`)))
	fmt.Println(kinds.Sleep.Validate([]byte(`{"ms":-1}`)))
	fmt.Println(kinds.Flaky.Validate([]byte(`{"fail_rate":0.8,"panic_rate":0.5}`)))
	// Output:
	// <nil>
	// invalid payload for kind wordcount: json: unknown field "txt"
	// invalid payload for kind sleep: ms must be between 0 and 86400000 (24h), got -1
	// invalid payload for kind flaky: fail_rate + panic_rate must be at most 1, got 0.8 + 0.5
}
