package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/node"
)

// TestTokenFileReadableByOthers: a token file other users can read is
// warned of at start (it holds the write token); one only its owner
// reads is not.
func TestTokenFileReadableByOthers(t *testing.T) {
	for _, c := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o600, false}} {
		path := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(path, []byte("write wwwwwwwwwwwwwwwwwwww\n"), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cfg := node.DefaultConfig()
		sf := serverFlags{cfg: &cfg, tokensFile: path, logLevel: "info", logFormat: "text"}
		if _, err := sf.logger(&env{stderr: &stderr, getenv: func(string) string { return "" }}); err != nil {
			t.Fatal(err)
		}
		if warned := strings.Contains(stderr.String(), "readable by other users"); warned != c.warn {
			t.Errorf("token file mode %v: warned %v, want %v (%s)", c.mode, warned, c.warn, stderr.String())
		}
	}
}
