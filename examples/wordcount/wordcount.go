// Package wordcount is a map-reduce over child tasks: a parent task
// (wordcount-mapreduce) spawns one child (wordcount-shard) per shard of a
// corpus, awaits them, and sums their counts.
//
//	granary submit --kind wordcount-mapreduce --payload '{"shards":50,"words_per_shard":1000,"seed":7}'
//
// The children's ids derive from the parent's id and the shard's number
// (<parent>:shard-<i>), so a parent whose member dies, or whose attempt
// fails, runs again on a survivor, spawns the same 50 children, finds the
// ones that finished and awaits the others: no shard is counted twice and
// none is lost. The corpus is generated from the seed (ShardText), so a
// client can check the total without the runtime.
package wordcount

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/granary-rt/granary/actors"
)

// MaxShards bounds a job's shards: one child each, within
// actors.MaxChildren.
const MaxShards = actors.MaxChildren

// MaxWordsPerShard bounds a shard's text, so a shard's payload and result
// stay small whatever a client asks.
const MaxWordsPerShard = 100000

// vocabulary is the words a generated shard draws from.
var vocabulary = strings.Fields("granary grain task actor child parent shard count word member consul epoch claim commit retry")

// JobIn is the payload of wordcount-mapreduce.
type JobIn struct {
	// Shards is the number of shards, one child task each (1 to MaxShards).
	Shards int `json:"shards"`
	// WordsPerShard is the length of each generated shard (1 to
	// MaxWordsPerShard).
	WordsPerShard int `json:"words_per_shard"`
	// Seed picks the generated corpus.
	Seed uint64 `json:"seed"`
	// ShardMS makes shard i take about ShardMS*(i%5+1)/5 milliseconds, as
	// if it read its text from somewhere slow (0: as fast as it can).
	ShardMS int `json:"shard_ms,omitempty"`
}

// Validate checks the bounds at submit time.
func (in JobIn) Validate() error {
	switch {
	case in.Shards < 1 || in.Shards > MaxShards:
		return fmt.Errorf("shards must be between 1 and %d, got %d", MaxShards, in.Shards)
	case in.WordsPerShard < 1 || in.WordsPerShard > MaxWordsPerShard:
		return fmt.Errorf("words_per_shard must be between 1 and %d, got %d", MaxWordsPerShard, in.WordsPerShard)
	case in.ShardMS < 0 || in.ShardMS > 600000:
		return fmt.Errorf("shard_ms must be between 0 and 600000, got %d", in.ShardMS)
	}
	return nil
}

// ShardIn is the payload of wordcount-shard.
type ShardIn struct {
	Shard int    `json:"shard"`
	Words int    `json:"words"`
	Seed  uint64 `json:"seed"`
	MS    int    `json:"ms,omitempty"`
}

// Validate checks the bounds at submit time.
func (in ShardIn) Validate() error {
	if in.Words < 1 || in.Words > MaxWordsPerShard || in.Shard < 0 || in.MS < 0 || in.MS > 600000 {
		return fmt.Errorf("a shard needs 1 to %d words, a shard number of 0 or more and ms of 0 to 600000, got %+v", MaxWordsPerShard, in)
	}
	return nil
}

// Counts is the result of both kinds: the number of words and the count of
// each.
type Counts struct {
	Words  int            `json:"words"`
	Counts map[string]int `json:"counts"`
}

// add adds c to the receiver.
func (t *Counts) add(c Counts) {
	t.Words += c.Words
	if t.Counts == nil {
		t.Counts = make(map[string]int, len(c.Counts))
	}
	for w, n := range c.Counts {
		t.Counts[w] += n
	}
}

// ShardText is shard's text in the corpus of seed: words drawn from a
// small vocabulary by a generator seeded with (seed, shard).
func ShardText(seed uint64, shard, words int) string {
	rng := rand.New(rand.NewPCG(seed, uint64(shard)))
	out := make([]string, words)
	for i := range out {
		out[i] = vocabulary[rng.IntN(len(vocabulary))]
	}
	return strings.Join(out, " ")
}

// CountText counts the words of text (split on white space).
func CountText(text string) Counts {
	c := Counts{Counts: make(map[string]int)}
	for _, w := range strings.Fields(text) {
		c.Words++
		c.Counts[w]++
	}
	return c
}

// Expected is what wordcount-mapreduce returns for in, computed here.
func Expected(in JobIn) Counts {
	var total Counts
	for i := range in.Shards {
		total.add(CountText(ShardText(in.Seed, i, in.WordsPerShard)))
	}
	return total
}

// Shard counts one shard. It heartbeats while it "reads" and returns
// ctx.Err() at once when its attempt is cancelled.
var Shard = actors.MustTask("wordcount-shard", func(ctx actors.TaskContext, in ShardIn) (Counts, error) {
	if in.MS > 0 {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		done := time.After(time.Duration(in.MS) * time.Millisecond)
	read:
		for {
			select {
			case <-ctx.Done():
				return Counts{}, ctx.Err()
			case <-tick.C:
				ctx.Heartbeat()
			case <-done:
				break read
			}
		}
	}
	return CountText(ShardText(in.Seed, in.Shard, in.Words)), nil
}, actors.WithCheck(ShardIn.Validate), actors.WithExample(`{"shard":0,"words":1000,"seed":1}`))

// MapReduce spawns a child per shard, awaits them all and sums their
// counts. Its attempts are cheap to repeat: a new attempt spawns the same
// children (found, not started again) and awaits what is left.
var MapReduce = actors.MustTask("wordcount-mapreduce", func(ctx actors.TaskContext, in JobIn) (Counts, error) {
	specs := make([]actors.ChildSpec, in.Shards)
	for i := range specs {
		payload, err := json.Marshal(ShardIn{Shard: i, Words: in.WordsPerShard, Seed: in.Seed, MS: in.ShardMS * (i%5 + 1) / 5})
		if err != nil {
			return Counts{}, err
		}
		specs[i] = actors.ChildSpec{Name: fmt.Sprintf("shard-%d", i), Kind: Shard.Name(), Payload: payload}
	}
	children, err := actors.SpawnAll(ctx, specs...)
	if err != nil {
		return Counts{}, err
	}
	ctx.Progress(0.5, fmt.Sprintf("awaiting %d shards", in.Shards))
	counts, err := actors.AwaitAll[Counts](ctx, children...)
	if err != nil {
		return Counts{}, err
	}
	var total Counts
	for _, c := range counts {
		total.add(c)
	}
	return total, nil
},
	actors.WithCheck(JobIn.Validate),
	actors.WithExample(`{"shards":8,"words_per_shard":1000,"seed":1}`),
	// Awaiting is not hanging (Await heartbeats), but a map-reduce over
	// many slow shards outlasts the 10-minute default attempt time-out.
	actors.WithAttemptTimeout(0),
	actors.WithHeartbeatTimeout(30*time.Second),
)

// Kinds are the example's kinds, for a registry.
func Kinds() []*actors.TaskKind { return []*actors.TaskKind{MapReduce, Shard} }
