package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

// fromFlags are the flags that go with submit --from.
var fromFlags = map[string]bool{"from": true, "wait": true, "json": true, "timeout": true, "addr": true, "cluster": true, "consul": true, "token-file": true, "ca": true}

// fromResult is one line's outcome of submit --from, for --json.
type fromResult struct {
	Line  int         `json:"line"`
	ID    string      `json:"id"`
	Code  int         `json:"code"`
	Task  *api.Status `json:"task,omitempty"`
	Error string      `json:"error,omitempty"`
}

// submitFrom submits the tasks of a file, one JSON submit request per line.
// Every line is read and checked first: a malformed line is a usage error
// naming it, and nothing is submitted. Then the tasks go in batches of up
// to api.MaxBatch (with progress on a terminal); a task the node refuses
// is reported with its line, and the others go on.
func submitFrom(e *env, cf clientFlags, path string, wait bool) error {
	reqs, lines, err := readFrom(e, path)
	if err != nil {
		return err
	}
	cf.manyTasks = len(reqs) > 1
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	out, ids, failed, err := submitLines(ctx, e, c, cf, reqs, lines)
	if err != nil {
		return err
	}
	notSubmitted := func() error {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%d of %d tasks were not submitted (see their lines)", failed, len(reqs))}
	}
	if wait && len(ids) > 0 {
		for _, r := range out {
			if r.Error != "" {
				fmt.Fprintf(e.stderr, "line %d\t%s\tnot submitted: %s\n", r.Line, r.ID, r.Error)
			}
		}
		if err := waitFor(ctx, e, c, cf, ids); err != nil || failed == 0 {
			return err
		}
		return notSubmitted()
	}
	if err := printFromResults(e, cf, out); err != nil {
		return err
	}
	if failed > 0 {
		return notSubmitted()
	}
	return nil
}

// readFrom reads the submit requests of submit --from's file ("-":
// stdin), one a line, with the number of each one's line; a line without
// an id gets one, so that a retried batch finds what it created.
func readFrom(e *env, path string) ([]api.SubmitRequest, []int, error) {
	var in io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, usageErr("--from: %v", err)
		}
		defer f.Close()
		in = f
	}
	var reqs []api.SubmitRequest
	var lines []int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20) // a line holds one task: up to a payload's limit, escaped
	for n := 1; sc.Scan(); n++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var req api.SubmitRequest
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			if err == nil {
				err = errors.New("unexpected data after the JSON object")
			}
			return nil, nil, usageErr("--from %s, line %d: %v (nothing was submitted)", path, n, err)
		}
		if req.ID == "" {
			// So that a retried batch finds what it created; new, so its
			// first send says so (the client sends no retry fresh).
			req.ID, req.Fresh = api.NewID(), true
		}
		reqs, lines = append(reqs, req), append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, usageErr("--from %s: %v (nothing was submitted)", path, err)
	}
	if len(reqs) == 0 {
		return nil, nil, usageErr("--from %s: no tasks in it", path)
	}
	return reqs, lines, nil
}

// submitLines submits reqs in batches of up to api.MaxBatch, with progress
// on a terminal: each line's outcome, the ids of the tasks submitted, and
// how many the node refused. A batch that fails as a whole stops it.
func submitLines(ctx context.Context, e *env, c *client.Client, cf clientFlags, reqs []api.SubmitRequest, lines []int) (out []fromResult, ids []string, failed int, err error) {
	progress := e.isTerminal && !cf.json && len(reqs) > api.MaxBatch
	out = make([]fromResult, 0, len(reqs))
	for start := 0; start < len(reqs); start += api.MaxBatch {
		end := min(start+api.MaxBatch, len(reqs))
		res, err := c.SubmitBatch(ctx, reqs[start:end])
		if err != nil {
			return nil, nil, 0, callErr(fmt.Errorf("submitting lines %d to %d (%d of %d tasks were submitted before): %w", lines[start], lines[end-1], start, len(reqs), err))
		}
		for i, r := range res {
			fr := fromResult{Line: lines[start+i], ID: reqs[start+i].ID, Code: r.Code, Task: r.Task}
			if err := r.Err(); err != nil {
				fr.Error = err.Error()
				failed++
			} else {
				ids = append(ids, fr.ID)
			}
			out = append(out, fr)
		}
		if progress {
			fmt.Fprintf(e.stderr, "\r\033[Ksubmitted %d/%d", end, len(reqs))
		}
	}
	if progress {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	return out, ids, failed, nil
}

// printFromResults prints each line's outcome of submit --from: JSON, or
// a line each (the id; the id and "already submitted"; the line and the
// error).
func printFromResults(e *env, cf clientFlags, out []fromResult) error {
	if cf.json {
		return printJSON(e.stdout, out)
	}
	for _, r := range out {
		switch {
		case r.Error != "":
			fmt.Fprintf(e.stdout, "line %d\t%s\terror: %s\n", r.Line, r.ID, r.Error)
		case r.Code == http.StatusCreated:
			fmt.Fprintf(e.stdout, "%s\n", r.ID)
		default:
			fmt.Fprintf(e.stdout, "%s\talready submitted\n", r.ID)
		}
	}
	return nil
}
