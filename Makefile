# Novel Engine. `make run` serves on :8080 with no other service;
# `make test` runs every test (PostgreSQL and Redis at NOVEL_TEST_DATABASE_URL
# and NOVEL_TEST_REDIS_URL, defaulting to 127.0.0.1).

GO ?= go
BIN ?= bin/novel-engine
# The release tag (vX.Y.Z) this tree is at, if any, for `novel-engine
# version`; without one, Go's own build stamp (a pseudo-version) is shown.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-X main.version=$(VERSION))

.PHONY: run build test bench lint storycheck loadtest compare compare-cluster clean

# The binary runs in make's place (exec), so Ctrl-C reaches it alone: it
# drains and exits 0, and make reports no error.
run: build
	exec ./$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/novel-engine

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./engine/ ./hub/ ./store/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The story checks: 50 seeds of each built-in scenario measured against
# the aims of STORY.md (contradictions, idle turns, repetition, ...).
# STORYCHECK_FLAGS='--scenario hollin --examples' narrows it.
storycheck:
	$(GO) run ./cmd/novel-engine storycheck --seeds 50 $(STORYCHECK_FLAGS)

# The end-to-end load figure: watchers across simulations at one turn per
# second on one node, with delivery latency percentiles.
loadtest: build
	$(GO) run ./loadtest/cmd/loadgen -spawn $(BIN)

# Novel Engine and Centrifugo side by side on this machine, workloads A
# and B', three runs each (docs/benchmarks.md). The first run installs
# Centrifugo into bin/ (minutes). A quick check:
# make compare COMPARE_FLAGS='-scale 0.05 -duration 10s -repeats 1'
compare: build
	$(GO) run ./loadtest/cmd/compare -novel $(BIN) -centrifugo bin/centrifugo $(COMPARE_FLAGS)

# The same with three nodes of each on a Redis of their own (redis-server
# needed; ours also get a PostgreSQL database made for each run), workload
# C: 3,000 watchers over 30 stories, spread over the nodes.
compare-cluster: build
	$(GO) run ./loadtest/cmd/compare -cluster 3 -novel $(BIN) -centrifugo bin/centrifugo $(COMPARE_FLAGS)

clean:
	rm -rf bin
