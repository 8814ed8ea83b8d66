// Package deploy_test checks the deployment files in deploy/ with the
// tools that read them: systemd-analyze verify for the units, promtool for
// the alert rules (check and unit tests), the container recipe's build
// command for a static binary and its image for a non-root user, and the
// certificate script by starting members with its output. `make test`
// installs the tools (internal/scripts/install-deploy-tools.sh,
// install-prometheus.sh); a missing one fails its test, naming it.
package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// tool is the path of a checking tool, failing the test when it is
// missing: the check is part of `make test`, which installs it.
func tool(t *testing.T, name, installedBy string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: %s installs it (make test runs it)", name, installedBy)
	}
	return p
}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on the units, their
// binaries' paths pointed at a built granary and the cached consul (verify
// refuses a unit whose ExecStart binary is missing); any message fails.
func TestSystemdUnitsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds granary and needs the consul binary (make consul)")
	}
	analyze := tool(t, "systemd-analyze", "internal/scripts/install-deploy-tools.sh")
	consul, err := testconsul.Binary()
	if err != nil {
		t.Fatalf("the consul binary (make consul): %v", err)
	}
	paths := strings.NewReplacer("/usr/local/bin/granary", testnode.Binary(t), "/usr/local/bin/consul", consul)
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) < 2 {
		t.Fatalf("want the member's and the Consul agent's units in systemd/, found %v", units)
	}
	dir := t.TempDir()
	var copies []string
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		c := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(c, []byte(paths.Replace(string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, copies...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %v: %v\n%s", units, err, out)
	}
	t.Logf("systemd-analyze verify: %d units, no messages", len(units))
}

// TestAlertRules runs `promtool check rules` on the alerts and `promtool
// test rules` on their unit tests.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "internal/scripts/install-prometheus.sh (Debian's prometheus package)")
	for _, args := range [][]string{
		{"check", "rules", "granary-alerts.yml"},
		{"test", "rules", "granary-alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestContainerRecipe: the Dockerfile turns cgo off, copies the binary
// where its ENTRYPOINT runs it, and its final stage runs as a numeric
// non-root user. With GRANARY_IMAGE_BUILD=1 (`make check-deploy`) it also
// runs the recipe's build command and checks the binary is static (no ELF
// interpreter, no shared libraries), and builds the image where a Docker
// daemon answers: that build is a second full compile with other flags
// (41 s of CPU, 9.5 minutes on a loaded 2-core machine), too slow for
// every `make test`. The test says which checks ran.
func TestContainerRecipe(t *testing.T) {
	recipe := parseDockerfile(t, "container/Dockerfile")
	if recipe.user == "" {
		t.Fatal("the final stage sets no USER: the image would run as root")
	}
	uid, err := strconv.Atoi(strings.Split(recipe.user, ":")[0])
	if err != nil || uid == 0 {
		t.Fatalf("USER %q: want a numeric non-root uid (runAsNonRoot checks it without /etc/passwd)", recipe.user)
	}
	if !strings.Contains(recipe.build, "CGO_ENABLED=0") {
		t.Fatalf("the build command %q does not turn cgo off: the binary would need libc", recipe.build)
	}
	if recipe.entrypoint == "" || !strings.Contains(recipe.copy, recipe.entrypoint) {
		t.Fatalf("ENTRYPOINT %q is not where the final stage copies the binary (%q)", recipe.entrypoint, recipe.copy)
	}
	if os.Getenv("GRANARY_IMAGE_BUILD") == "" {
		t.Logf("checked: cgo off, entrypoint %s, user %s; not run: the build command and docker build (GRANARY_IMAGE_BUILD=1, make check-deploy)", recipe.entrypoint, recipe.user)
		return
	}
	checkStaticBuild(t, recipe.build)
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Logf("static binary checked; the image was not built: no Docker daemon answers here")
		return
	}
	build := exec.Command("docker", "build", "-f", "deploy/container/Dockerfile", "-t", "granary-deploy-test", ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Log("docker build: the image was built")
}

// checkStaticBuild runs the recipe's build command (its -o pointed into
// the test's directory) and fails unless the binary is static.
func checkStaticBuild(t *testing.T, command string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "granary")
	cmdline := regexp.MustCompile(`-o \S+`).ReplaceAllString(command, "-o "+bin)
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build command %q: %v\n%s", cmdline, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for an ELF interpreter: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v: it is not static", libs)
	}
}

// dockerfile is what TestContainerRecipe reads from a Dockerfile: its go
// build command, and the final stage's USER, COPY and ENTRYPOINT.
type dockerfile struct{ build, user, copy, entrypoint string }

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			d.user, d.copy, d.entrypoint = "", "", "" // a new stage: only the last one's count
		case strings.HasPrefix(line, "COPY --from="):
			d.copy = line
		case strings.HasPrefix(line, "ENTRYPOINT "):
			var argv []string
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "ENTRYPOINT ")), &argv); err == nil && len(argv) > 0 {
				d.entrypoint = argv[0]
			}
		case strings.HasPrefix(line, "USER "):
			d.user = strings.TrimSpace(strings.TrimPrefix(line, "USER "))
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			d.build = strings.TrimSpace(strings.TrimPrefix(line, "RUN "))
		}
	}
	if d.build == "" {
		t.Fatalf("%s has no RUN ... go build line", path)
	}
	return d
}
