package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestGrainRequestNotUTF8: a grain request whose JSON is not UTF-8 is
// refused before the grain sees it (json.Valid takes it; a grain storing
// it would answer invalid JSON ever after).
func TestGrainRequestNotUTF8(t *testing.T) {
	g := &fakeGrains{}
	rec := postGrain(grainHandler(g), []byte("{\"note\":\"\xff\xfe\"}"))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "UTF-8") || g.calls != 0 {
		t.Fatalf("a request not in UTF-8: %d %s, %d calls; want 400 naming UTF-8 and no call", rec.Code, rec.Body, g.calls)
	}
}
