package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

// BackupPath is the route of an embedded node's online backup: GET it
// for a consistent copy of the node's database (every task, job, grain
// state and reminder as of one commit), taken while the node goes on
// writing. It needs a write token when tokens are on: the copy holds every
// payload and result. `granary backup` saves it and checks it; `granary
// restore` puts it back under a stopped node. A cluster's data lives in
// Consul, whose own snapshots back it up (docs/operators.md): there the
// route answers 400 saying so.
const BackupPath = "/v1/admin/backup"

// DatabaseFile is the embedded node's database in Config.DataDir: what a
// backup copies and a restore replaces.
const DatabaseFile = "tasks.db"

// withBackup serves BackupPath beside h.
func (n *Node) withBackup(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+BackupPath, n.serveBackup)
	mux.Handle("/", h)
	return mux
}

func (n *Node) serveBackup(w http.ResponseWriter, r *http.Request) {
	if !n.cfg.Embedded() {
		status, body := api.ToWire(fmt.Errorf("%w: this member's data lives in Consul: back the cluster up with `consul snapshot save` (see docs/operators.md)", api.ErrInvalidArgument))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	began := time.Now()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="granary-`+n.cfg.NodeID+`.db"`)
	written, err := n.bolt.Backup(w, func(size int64) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	})
	if err != nil {
		// Headers are gone: the client sees a body shorter than
		// Content-Length, which `granary backup` refuses.
		n.log.Error("backup failed", "err", err, "written", written)
		return
	}
	n.log.Info("backup served", "bytes", written, "took", time.Since(began).Round(time.Millisecond))
}
