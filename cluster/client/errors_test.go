package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/errs"
)

// TestErrorsAcrossHTTP: every answer of the error table, and the auth
// layer's 401 and 403, come back from the client as an error that
// errors.Is matches to the shared sentinel (errs) and to the names the
// README gives (api.Err..., client.ErrUnauthenticated, ...).
func TestErrorsAcrossHTTP(t *testing.T) {
	type answer struct {
		status     int
		code, msg  string
		want       []error
		wantInText string
	}
	var answers []answer
	for _, w := range errs.Table {
		if w.Err == errs.ErrUnavailable || w.Err == errs.ErrResourceExhausted {
			continue // retried until RetryFor: TestRetry* cover them
		}
		answers = append(answers, answer{w.HTTP, w.Code, "task t1: " + w.Err.Error(), []error{w.Err}, w.Err.Error()})
	}
	answers = append(answers,
		answer{http.StatusUnauthorized, "unauthenticated", "a bearer token is required", []error{errs.ErrUnauthenticated, api.ErrUnauthenticated, client.ErrUnauthenticated}, "unauthenticated"},
		answer{http.StatusForbidden, "permission_denied", "POST /v1/tasks needs a write token", []error{errs.ErrPermissionDenied, api.ErrPermissionDenied, client.ErrPermissionDenied}, "permission denied"},
		answer{http.StatusForbidden, "cross_origin", "from a web page of another origin", []error{errs.ErrPermissionDenied}, "origin"},
		answer{http.StatusNotFound, "", "404 page not found", []error{errs.ErrNotFound, api.ErrNotFound}, "404"},
	)
	for _, a := range answers {
		t.Run(fmt.Sprintf("%d_%s", a.status, a.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(a.status)
				fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, a.code, a.msg)
			}))
			t.Cleanup(srv.Close)
			c, err := client.New(client.Config{Addr: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(context.Background(), "t1")
			for _, want := range a.want {
				if !errors.Is(err, want) {
					t.Errorf("HTTP %d %s: %v does not match %v", a.status, a.code, err, want)
				}
			}
			if err == nil || !strings.Contains(err.Error(), a.wantInText) {
				t.Errorf("HTTP %d %s: %v, want it to say %q", a.status, a.code, err, a.wantInText)
			}
		})
	}
}
