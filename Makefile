# Granary's build. `make run` and `make test` work on a fresh machine with Go:
# everything else (Consul, code generators, linters) comes from the Go module
# proxy and is cached.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
STATICCHECK_VERSION := v0.8.2
# Integration tests start real Consul agents and granary processes; 20m is a
# bound on a hung test, far above a normal run.
TEST_TIMEOUT ?= 20m
# Paths are relative to the repository root: protobuf registers each file
# under this path, and a bare "grain.proto" would clash with protoactor-go's.
PROTOS := messages/granary.proto messages/grain.proto messages/schedule.proto

.PHONY: tidy-check all build run test test-short bench bench-scale fuzz proto proto-check consul prometheus chromium deploy-tools check-deploy lint fmt-check vet clean

all: build

build:
	$(GO) build -o bin/granary ./cmd/granary

# Builds granary, starts `granary dev` on a throw-away data directory, runs a
# demo workload (flaky, hung and CPU-bound tasks), prints a summary, stops.
run: build
	$(GO) run ./examples/demo --granary bin/granary

# Everything CI checks: formatting, vet, generated code up to date, then all
# tests with the race detector and coverage, against a real Consul agent.
test: consul prometheus chromium deploy-tools fmt-check vet proto-check tidy-check
	GO="$(GO)" internal/scripts/gotest.sh -race -count=1 -timeout $(TEST_TIMEOUT) -cover ./...

# Fast unit tests: no Consul, no subprocesses.
test-short:
	$(GO) test -short -race -count=1 ./...

# Benchmarks against raw protoactor-go (and raw Consul KV where the issue
# asks) in the same run, ending with issue #23's scorecard; results go to
# docs/benchmarks.md, rewritten whole (measurements made by hand belong in
# docs/benchmarks-history.md, which it never writes). About 40 minutes on a
# quiet 2-core machine.
bench: build consul
	$(GO) run ./internal/benchreport -out docs/benchmarks.md

# A million tasks in a 3-member cluster on a disk-backed Consul server
# (issue #23): submit rate as the store grows, a listing page and the
# counts at the end, members' and Consul's memory. Prints markdown for
# docs/benchmarks-history.md; SCALE_TASKS lowers the count (at least 1000).
SCALE_TASKS ?= 1000000
bench-scale: build consul
	$(GO) run ./internal/benchscale -tasks $(SCALE_TASKS)

# Every fuzz target in turn for FUZZTIME each (`make test` runs their seed
# corpora only). A failing input lands in the package's testdata/fuzz/,
# where `go test` replays it from then on: commit it with the fix.
FUZZTIME ?= 1m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$t"; \
			$(GO) test -run XXX -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg || exit 1; \
		done; \
	done

bin/protoc-gen-go: go.mod
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go

proto: bin/protoc-gen-go
	$(GO) run ./internal/tools/protogen -plugin bin/protoc-gen-go -I . -out . $(PROTOS)

# Regenerates into a temporary directory and fails if the committed code differs.
proto-check: bin/protoc-gen-go
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) run ./internal/tools/protogen -plugin bin/protoc-gen-go -I . -out "$$tmp" $(PROTOS); \
	for f in $(PROTOS:.proto=.pb.go); do diff -u $$f "$$tmp/$$f" || stale=1; done; \
	if [ -n "$${stale:-}" ]; then \
		echo "messages/*.pb.go are stale: run 'make proto' and commit the result" >&2; exit 1; fi

consul:
	bash internal/scripts/build-consul.sh

# Debian's prometheus package, for the metrics kill test (internal/promserver),
# installed only when no prometheus binary is found; its service is not started.
prometheus:
	bash internal/scripts/install-prometheus.sh

# The console's browser test (cluster/console) drives headless Chromium:
# Debian's chromium package, installed only when no Chromium is found.
chromium:
	bash internal/scripts/install-chromium.sh

# The tools deploy/deploy_test.go checks the deployment files with
# (systemd-analyze, openssl; promtool comes with prometheus).
deploy-tools:
	bash internal/scripts/install-deploy-tools.sh

# The deployment files' checks, with the slow ones: the container recipe's
# own build command (a second full compile) and, where Docker runs, the image.
check-deploy: consul prometheus deploy-tools
	GRANARY_IMAGE_BUILD=1 $(GO) test -count=1 -v ./deploy

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# go.mod and go.sum of the main module and of examples/orders (its own
# module, built by a test) say what the code imports: a stale one fails
# here with the diff, not in a test's build of the example.
tidy-check:
	$(GO) mod tidy -diff
	cd examples/orders && $(GO) mod tidy -diff

lint: fmt-check vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

clean:
	rm -rf bin .granary

# The long fault campaign (internal/chaos): three real members on a
# disk-backed Consul server, at least 10 kills, 2 pauses, 4 partitions and a
# Consul restart over 4 minutes of faults, then every operation's history
# checked. The first and last lines name the seed; replay one with
# `make chaos CHAOS_SEED=<seed>` (and CHAOS_DURATION=<d> if it was changed).
# `make chaos CHAOS_TOPOLOGY=quorum` runs it on Consul as operators run it:
# three servers and an agent per member; its Consul restart is a kill -9 of
# the leader server.
CHAOS_TOPOLOGY ?= single
.PHONY: chaos
chaos: consul
	@echo "chaos: replay a run with: make chaos CHAOS_SEED=<seed from its first line> CHAOS_TOPOLOGY=$(CHAOS_TOPOLOGY)"
	CHAOS_LONG=1 CHAOS_TOPOLOGY=$(CHAOS_TOPOLOGY) $(GO) test -count=1 -timeout 40m -run 'TestChaos$$' -v ./internal/chaos
