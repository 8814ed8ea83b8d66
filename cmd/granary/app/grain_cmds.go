package app

import (
	"fmt"
	"time"
)

// runGrain reads or clears a durable grain's stored state.
func runGrain(e *env, args []string) error {
	help := len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help")
	if !help && (len(args) == 0 || (args[0] != "state" && args[0] != "clear")) {
		return usageErr("want: %s grain state KIND ID [--json] | %s grain clear KIND ID", e.name(), e.name())
	}
	sub := "state"
	if !help {
		sub, args = args[0], args[1:]
	}
	usageArgs := "KIND ID [--json]"
	if help {
		usageArgs = "KIND ID [--json]   (or: grain clear KIND ID [--json])"
	}
	fs := newFlags(e, "grain "+sub, usageArgs)
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("want a grain kind and an identity, got %d arguments (see %s grain %s -h)", len(pos), e.name(), sub)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	if sub == "clear" {
		if err := c.ClearGrainState(ctx, pos[0], pos[1]); err != nil {
			return callErr(err)
		}
		if cf.json {
			return printJSON(e.stdout, map[string]any{"kind": pos[0], "identity": pos[1], "cleared": true})
		}
		fmt.Fprintf(e.stdout, "%s/%s: stored state cleared\n", pos[0], pos[1])
		// What clear does to a live activation surprises: say it.
		fmt.Fprintln(e.stdout, "an activation running now keeps the old state in memory and may answer from it; its next change is refused (it deactivates, the call is retried) and the next activation starts from zero")
		return nil
	}
	st, err := c.GrainState(ctx, pos[0], pos[1])
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, st)
	}
	switch {
	case st.Version == 0:
		fmt.Fprintf(e.stdout, "%s/%s: no state stored\n", st.Kind, st.Identity)
	case len(st.State) > 0:
		fmt.Fprintf(e.stdout, "%s\n", st.State)
	default:
		fmt.Fprintf(e.stdout, "%s\n", st.StateBase64)
	}
	for _, r := range st.Reminders {
		every := "once"
		if r.Period > 0 {
			every = "every " + time.Duration(r.Period).String()
		}
		payload := string(r.Payload)
		if payload == "" && r.PayloadBase64 != "" {
			payload = "base64:" + r.PayloadBase64
		}
		fmt.Fprintf(e.stdout, "reminder %s: due %s (in %s), %s %s\n", r.Name, r.Due.Local().Format(time.RFC3339Nano),
			time.Until(r.Due).Round(time.Millisecond), every, payload)
	}
	return nil
}
