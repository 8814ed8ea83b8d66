package tasks

import "testing"

func TestAdmit(t *testing.T) {
	cases := []struct {
		name                                            string
		born, unstored, written, closed, live, creating bool
		want                                            admission
	}{
		{name: "an owner-index activation", want: admitSpawn},
		{name: "an adoption while draining", closed: true, want: admitRefuse},
		{name: "a new task while fenced", born: true, unstored: true, closed: true, creating: true, want: admitRefuse},
		{name: "the creator's activation", born: true, creating: true, want: admitSpawn},
		{name: "the watch saw the task before its creator's activation", creating: true, want: admitDefer},
		{name: "an activation of a task whose actor runs", live: true, want: admitDrop},
		{name: "an activation of a task being created whose actor runs", live: true, creating: true, want: admitDrop},
		{name: "created here while the task's last actor stops", born: true, live: true, creating: true, want: admitAfter},
		{name: "unstored while the task's last actor stops: write first", born: true, unstored: true, live: true, creating: true, want: admitWriteFirst},
		{name: "sent round again while the actor that failed it stops", written: true, live: true, want: admitAfter},
		{name: "sent round again, no actor", written: true, want: admitSpawn},
	}
	for _, c := range cases {
		if got := admit(c.born, c.unstored, c.written, c.closed, c.live, c.creating); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
