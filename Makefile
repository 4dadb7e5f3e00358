# Novel Engine. `make run` serves on :8080 with no other service;
# `make test` runs every test (PostgreSQL and Redis at NOVEL_TEST_DATABASE_URL
# and NOVEL_TEST_REDIS_URL, defaulting to 127.0.0.1).

GO ?= go
BIN ?= bin/novel-engine

.PHONY: run build test bench lint loadtest clean

run:
	$(GO) run ./cmd/novel-engine serve

build:
	$(GO) build -o $(BIN) ./cmd/novel-engine

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./engine/ ./hub/ ./store/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The end-to-end load figure: watchers across simulations at one turn per
# second on one node, with delivery latency percentiles.
loadtest: build
	$(GO) run ./loadtest/cmd/loadgen -spawn $(BIN)

clean:
	rm -rf bin
