package kinds

import (
	"strings"
	"unicode"

	"github.com/granary-rt/granary/actors"
)

// WordCountIn is the payload of wordcount.
type WordCountIn struct {
	Text string `json:"text"`
}

// WordCountOut is the result of wordcount.
type WordCountOut struct {
	// Words is the total number of words.
	Words int `json:"words"`
	// Counts maps each lowercased word to its number of occurrences; it
	// encodes with sorted keys, so equal texts give byte-equal results.
	Counts map[string]int `json:"counts"`
}

// WordCount counts words. It is the model of the simplest typed kind: a
// pure function wrapped by actors.MustTask, with no context to watch because
// it finishes quickly. It uses the default settings.
var WordCount = actors.MustTask("wordcount", func(_ actors.TaskContext, in WordCountIn) (WordCountOut, error) {
	return CountWords(in.Text), nil
}, actors.WithExample(`{"text":"the quick brown fox jumps over the lazy dog"}`))

// CountWords is wordcount's logic. A word is a maximal run of Unicode
// letters and digits, compared lowercased: "Don't" is the two words "don"
// and "t", and "Ça" and "ça" are the same word.
func CountWords(text string) WordCountOut {
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	out := WordCountOut{Words: len(words), Counts: make(map[string]int)}
	for _, w := range words {
		out.Counts[strings.ToLower(w)]++
	}
	return out
}
