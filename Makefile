# The README's two commands: `make sample` (the main job) and `make test`.
# Both set up a fresh Debian machine first (.ci/setup, idempotent).
export PATH := $(PATH):/usr/local/go/bin

WEIGHTS ?= weights/testdata/tiny.lsgm
FUZZTIME ?= 20s

.PHONY: setup sample test vet unit wasm fuzz bench

setup:
	bash .ci/setup

# Sample a grid with the runtime's CPU path. Until trained default weights ship,
# WEIGHTS is the untrained fixture, whose grid is noise.
sample: setup
	go run ./trainer sample --weights $(WEIGHTS) --out samples.png --count 64

test: setup vet unit wasm fuzz

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

unit:
	go test -count=1 ./...

# The packages that must run in a browser build for GOOS=js.
wasm:
	GOOS=js GOARCH=wasm go build ./weights/... ./runtime/...

# A short run of the weights decoder fuzzer (seed corpus in the test).
fuzz:
	go test ./weights -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

bench:
	go test -run '^$$' -bench . -benchtime 2x ./runtime/...
