package layouttest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGrainStateIsOneLayer: grains' durable state and reminder index have
// one home, cluster/grainstate and the stores under it. The task stores
// (cluster/store/...) and the grain directory (cluster/consuldir) keep
// none of it, and none of them imports the grain host (cluster/grains),
// which uses them: the interface is defined below the stores, not above
// them. (Before, boltstore and consuldir implemented grain state by
// importing cluster/grains.)
func TestGrainStateIsOneLayer(t *testing.T) {
	const grains, grainstate = module + "/cluster/grains", module + "/cluster/grainstate"
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`,
		module+"/cluster/store/...", module+"/cluster/consuldir", module+"/cluster/grainstate/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg, deps := fields[0], fields[1:]
		store := strings.HasPrefix(pkg, grainstate+"/")
		for _, d := range deps {
			switch {
			case d == grains || strings.HasPrefix(d, grains+"/"):
				t.Errorf("%s depends on the grain host %s", pkg, d)
			case !store && pkg != grainstate && (d == grainstate || strings.HasPrefix(d, grainstate+"/")):
				t.Errorf("%s depends on %s: grain state belongs in cluster/grainstate, not beside tasks or claims", pkg, d)
			}
		}
	}
}
