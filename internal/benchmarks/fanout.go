package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/examples/wordcount"
)

// FanOutChildren is how many children the fan-out benchmark's parent spawns.
const FanOutChildren = 1000

// FanOutWords is each shard's length: small, so the figure is the cost of
// a child task, not of counting.
const FanOutWords = 20

// FanOut measures, rounds times, a fan-out of FanOutChildren child tasks
// from one handler (the stock wordcount-mapreduce: spawn a wordcount-shard
// child per shard, await them all, sum) against the same FanOutChildren
// wordcount-shard tasks submitted by a client (batches of api.MaxBatch)
// and awaited by it, on members `granary` processes (1: `granary dev`).
// A round's figure is the time from the first submit until every result
// is in. It reports p50 and max of both (seconds). b.N is ignored.
func FanOut(b *testing.B, members, rounds int) {
	clients := jobRig(b, members)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*5*time.Minute)
	defer cancel()
	compareRounds(b, rounds,
		roundSide{"handler", "fan-out from a handler", func(r int) (time.Duration, error) {
			return fanOutFromHandler(ctx, clients[0], fmt.Sprintf("fo%d", r), uint64(r))
		}},
		roundSide{"client", "fan-out from a client", func(r int) (time.Duration, error) {
			return fanOutFromClient(ctx, clients[0], fmt.Sprintf("fc%d", r), uint64(r))
		}})
}

// fanOutFromHandler runs one wordcount-mapreduce of FanOutChildren shards.
func fanOutFromHandler(ctx context.Context, c *client.Client, id string, seed uint64) (time.Duration, error) {
	in := wordcount.JobIn{Shards: FanOutChildren, WordsPerShard: FanOutWords, Seed: seed}
	payload, _ := json.Marshal(in)
	began := time.Now()
	st, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: wordcount.MapReduce.Name(), Payload: payload}, nil)
	took := time.Since(began)
	if err != nil {
		return 0, err
	}
	var got wordcount.Counts
	if err := json.Unmarshal(st.Result, &got); st.State != api.StateCompleted || err != nil || got.Words != FanOutChildren*FanOutWords {
		return 0, fmt.Errorf("the parent %s (%s), result %.200s (%v)", st.State, st.Error, st.Result, err)
	}
	return took, nil
}

// fanOutFromClient submits the same shards as tasks of their own and
// awaits each, as a client that does the fan-out itself would.
func fanOutFromClient(ctx context.Context, c *client.Client, id string, seed uint64) (time.Duration, error) {
	reqs := make([]api.SubmitRequest, FanOutChildren)
	for i := range reqs {
		payload, _ := json.Marshal(wordcount.ShardIn{Shard: i, Words: FanOutWords, Seed: seed})
		reqs[i] = api.SubmitRequest{ID: fmt.Sprintf("%s-%04d", id, i), Kind: wordcount.Shard.Name(), Payload: payload}
	}
	began := time.Now()
	for lo := 0; lo < len(reqs); lo += api.MaxBatch {
		res, err := c.SubmitBatch(ctx, reqs[lo:min(lo+api.MaxBatch, len(reqs))])
		if err != nil {
			return 0, err
		}
		for _, r := range res {
			if err := r.Err(); err != nil {
				return 0, fmt.Errorf("submit: %w", err)
			}
		}
	}
	words := 0
	for _, r := range reqs {
		st, err := c.Wait(ctx, r.ID, nil)
		if err != nil {
			return 0, err
		}
		var got wordcount.Counts
		if err := json.Unmarshal(st.Result, &got); st.State != api.StateCompleted || err != nil {
			return 0, fmt.Errorf("%s %s (%s)", r.ID, st.State, st.Error)
		}
		words += got.Words
	}
	if words != FanOutChildren*FanOutWords {
		return 0, fmt.Errorf("the shards counted %d words, want %d", words, FanOutChildren*FanOutWords)
	}
	return time.Since(began), nil
}
