package actors

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// reminderJSON is a Reminder as JSON: the names and forms of the state
// API's reminders (GET /v1/grains/{kind}/{id}/state): "period": "2s", the
// payload as JSON when it is JSON, else in "payload_base64". It mirrors
// cluster/api.Reminder, which this package, below the cluster, cannot
// import.
type reminderJSON struct {
	Name          string          `json:"name"`
	Due           time.Time       `json:"due"`
	Period        string          `json:"period,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 string          `json:"payload_base64,omitempty"`
}

// legacyReminderJSON is how a Reminder was written before it had JSON
// names (Go's defaults: "Period" in nanoseconds, "Payload" in base64). A
// grain that keeps reminders in its JSON state may have stored it so.
type legacyReminderJSON struct {
	Name    string
	Payload []byte
	Due     time.Time
	Period  time.Duration
}

// MarshalJSON writes the reminder as the state API does.
func (r Reminder) MarshalJSON() ([]byte, error) {
	out := reminderJSON{Name: r.Name, Due: r.Due}
	if r.Period != 0 {
		out.Period = r.Period.String()
	}
	switch {
	case len(r.Payload) == 0:
	case json.Valid(r.Payload):
		out.Payload = r.Payload
	default:
		out.PayloadBase64 = base64.StdEncoding.EncodeToString(r.Payload)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes, and the form written
// before it existed (capitalized names, period in nanoseconds, payload in
// base64), so that reminders stored in a grain's JSON state still read.
func (r *Reminder) UnmarshalJSON(b []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	for _, old := range []string{"Name", "Payload", "Due", "Period"} {
		if _, ok := keys[old]; ok {
			var l legacyReminderJSON
			if err := json.Unmarshal(b, &l); err != nil {
				return err
			}
			*r = Reminder(l)
			return nil
		}
	}
	var in reminderJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := Reminder{Name: in.Name, Due: in.Due}
	if in.Period != "" {
		d, err := time.ParseDuration(in.Period)
		if err != nil {
			return fmt.Errorf("reminder %s: period %q: %w", in.Name, in.Period, err)
		}
		out.Period = d
	}
	switch {
	case in.PayloadBase64 != "":
		p, err := base64.StdEncoding.DecodeString(in.PayloadBase64)
		if err != nil {
			return fmt.Errorf("reminder %s: payload_base64: %w", in.Name, err)
		}
		out.Payload = p
	case len(in.Payload) > 0:
		out.Payload = append([]byte(nil), in.Payload...)
	}
	*r = out
	return nil
}
