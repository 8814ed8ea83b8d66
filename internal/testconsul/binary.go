package testconsul

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath identifies the module root that holds bin/consul.
const modulePath = "github.com/granary-rt/granary"

// ErrNoBinary means no usable consul binary was found. Its text tells the
// reader how to get one.
var ErrNoBinary = errors.New("no consul binary: run `make consul` (builds Consul from the Go module proxy) or set CONSUL_BIN")

// Binary returns the path of the consul binary tests should run. It looks,
// in order, at $CONSUL_BIN, at bin/consul under the module root (found by
// walking up from the working directory), and at `consul` on PATH. A set
// CONSUL_BIN is final: if it does not name an executable file, Binary
// reports that rather than silently using another consul.
func Binary() (string, error) {
	if p := os.Getenv("CONSUL_BIN"); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("testconsul: CONSUL_BIN=%s is not usable (%v); %w", p, err, ErrNoBinary)
		}
		return p, nil
	}
	var looked []string
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, "bin", "consul")
		if checkExecutable(p) == nil {
			return p, nil
		}
		looked = append(looked, p)
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	looked = append(looked, "consul on PATH")
	return "", fmt.Errorf("testconsul: %w (looked at %s)", ErrNoBinary, strings.Join(looked, ", "))
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// moduleRoot walks up from the working directory to the directory whose
// go.mod declares modulePath. Nested modules on the way are skipped.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod"), modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(goMod, want string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], "\"`") == want
		}
	}
	return false
}
