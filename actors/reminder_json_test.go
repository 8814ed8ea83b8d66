package actors_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
)

// TestReminderJSON: a Reminder in JSON (a grain's answer, or its JSON
// state) uses the state API's names and forms ("period": "2s"; it was
// {"Name":…,"Period":2000000000}), round-trips, and a reminder stored in
// the old form still reads.
func TestReminderJSON(t *testing.T) {
	due := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	for _, r := range []actors.Reminder{
		{Name: "tick", Due: due, Period: 2 * time.Second, Payload: []byte(`{"n":1}`)},
		{Name: "once", Due: due},
		{Name: "raw", Due: due, Payload: []byte{0xff, 0x00}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"Name"`) {
			t.Errorf("%s: %s; want lower-case names", r.Name, b)
		}
		var back actors.Reminder
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("%s: %s read back as %+v, %v", r.Name, b, back, err)
		}
	}
	b, _ := json.Marshal(actors.Reminder{Name: "tick", Due: due, Period: 2 * time.Second, Payload: []byte(`{"n":1}`)})
	if want := `{"name":"tick","due":"2026-12-06T20:00:00Z","period":"2s","payload":{"n":1}}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	// As encoding/json wrote it before the reminder had JSON names.
	type legacy struct {
		Name    string
		Payload []byte
		Due     time.Time
		Period  time.Duration
	}
	old, _ := json.Marshal(legacy{Name: "tick", Payload: []byte(`{"n":1}`), Due: due, Period: 2 * time.Second})
	var r actors.Reminder
	if err := json.Unmarshal(old, &r); err != nil || r.Name != "tick" || r.Period != 2*time.Second || string(r.Payload) != `{"n":1}` || !r.Due.Equal(due) {
		t.Errorf("the old form %s read as %+v, %v", old, r, err)
	}
}
