package deploy_test

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestCertsScriptMakesAWorkingCluster runs deploy/certs/make-certs.sh as
// docs/operators.md says, starts two members with its certificates
// (mutual TLS between them: --cluster-ca, --cluster-cert, --cluster-key),
// and calls grains through one of them until both have answered: the
// certificates serve remoting both ways. A member with another CA's
// certificate is refused.
func TestCertsScriptMakesAWorkingCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	tool(t, "openssl", "apt-get install openssl")
	dir := t.TempDir()
	if out, err := exec.Command("bash", "certs/make-certs.sh", dir, "n1=127.0.0.1", "n2=127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("make-certs.sh: %v\n%s", err, out)
	}
	agent := testconsul.Start(t, testconsul.Options{})
	var nodes []*testnode.Node
	for _, id := range []string{"n1", "n2"} {
		// --bind on 127.0.0.1 (the last flag wins): the address the
		// certificate names.
		nodes = append(nodes, testnode.ClusterNode(t, "certs", agent.HTTPAddr(), id, "--bind", loopbackPort(t),
			"--cluster-ca", filepath.Join(dir, "ca.pem"), "--cluster-cert", filepath.Join(dir, id+".pem"),
			"--cluster-key", filepath.Join(dir, id+"-key.pem")))
	}
	ctx := testutil.Context(t, time.Minute)
	answered := map[string]bool{}
	for i := 0; len(answered) < 2; i++ {
		if i == 200 {
			t.Fatalf("200 grain calls through n1 were answered only by %v", answered)
		}
		r, err := nodes[0].Client().CallRaw(ctx, "counter", fmt.Sprintf("c%d", i), []byte(`{"op":"get"}`))
		if err != nil {
			t.Fatalf("grain call %d: %v", i, err)
		}
		answered[r.Member] = true
	}

	other := t.TempDir()
	if out, err := exec.Command("bash", "certs/make-certs.sh", other, "n3=127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("make-certs.sh: %v\n%s", err, out)
	}
	stranger := exec.Command(testnode.Binary(t), "node", "--cluster", "certs", "--consul", agent.HTTPAddr(), "--node-id", "n3",
		"--bind", loopbackPort(t), "--http", testnode.FreeAddr(t),
		"--cluster-ca", filepath.Join(other, "ca.pem"), "--cluster-cert", filepath.Join(other, "n3.pem"),
		"--cluster-key", filepath.Join(other, "n3-key.pem"))
	done := make(chan error, 1)
	var out []byte
	go func() { var err error; out, err = stranger.CombinedOutput(); done <- err }()
	t.Cleanup(func() { _ = stranger.Process.Kill() })
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("a member with another CA's certificate exited 0:\n%s", out)
		}
		t.Logf("a member with another CA's certificate was refused: %v", err)
	case <-time.After(45 * time.Second):
		t.Fatal("a member with another CA's certificate did not exit within 45s")
	}
}

// loopbackPort is 127.0.0.1 with a port that was free a moment ago.
func loopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
