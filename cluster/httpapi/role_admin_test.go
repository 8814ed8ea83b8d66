package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/granary-rt/granary/cluster/httpapi"
)

// TestAdminRoutesNeedWrite: a backup (GET /v1/admin/backup) holds every
// payload and result of the node, so a read token is not enough.
func TestAdminRoutesNeedWrite(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		if got := httpapi.RoleFor(m, "/v1/admin/backup"); got != httpapi.RoleWrite {
			t.Errorf("RoleFor(%s /v1/admin/backup) = %v, want write", m, got)
		}
	}
}
