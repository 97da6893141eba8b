# AvatarFS: an HDFS-compatible distributed file system in Go.
#   make run    start a local pseudo-cluster under ./data (Ctrl-C stops it)
#   make test   install what the tests need, then run every test
#   make bench  run the benchmarks (Go benchmarks and nnbench over real RPC)

GO      ?= go
BIN     := bin/hdfs
PKGS    := ./...

.PHONY: all build run test test-deps unit integration vet fmt-check bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hdfs

run: build
	./scripts/run-cluster.sh

test: test-deps fmt-check vet unit integration

# Installs what the tests need when missing (Debian packages through
# apt-get); present tools are left alone.
test-deps:
	./scripts/test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /integration)

integration:
	$(GO) test -count=1 -timeout 20m ./integration/...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/ipc/ ./namenode/editlog/ ./rack/
	$(GO) test -run '^$$' -bench MillionFiles -benchtime 1x ./namenode/
	NNBENCH_THREADS=256 NNBENCH_CONNS=16 ./scripts/nnbench.sh
	$(GO) test -run '^$$' -bench DFSIO -benchtime 1x -timeout 20m ./integration/

clean:
	rm -rf bin
