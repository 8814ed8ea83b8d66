package tasks

import (
	"regexp"
	"strings"
	"testing"
)

// validID agrees with the pattern it stands for.
func TestValidIDMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(taskIDPattern)
	cases := []string{"", "a", "A9", "9", "_a", "a_", "a.b:c-d_e", "-a", ".a", "a b", "a/b", "é", "a\x00", "a%20",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "t-79c368cdba3f7b0136c989e3"}
	for c := byte(0); c < 128; c++ {
		cases = append(cases, "x"+string(rune(c)), string(rune(c)))
	}
	for _, id := range cases {
		if got, want := validID(id), re.MatchString(id); got != want {
			t.Errorf("validID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}
