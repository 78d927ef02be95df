# The README's two commands: `make serve` (the main job) and `make test`.
# Both set up a fresh Debian machine first (.ci/setup, idempotent).
export PATH := $(PATH):/usr/local/go/bin

WEIGHTS ?=
# A count, not a duration: a duration races Go 1.26's fuzz coordinator at its
# deadline and fails with "context deadline exceeded" under load (go.dev/issue/75804,
# fixed in Go 1.27). 600,000 inputs take about 20 s here.
FUZZTIME ?= 600000x
# Where make fit and make eval run the networks: auto (a hardware GPU when
# there is one, else the CPU), gpu (any WebGPU adapter) or cpu.
DEVICE ?= auto

.PHONY: setup sample test vet unit metrics wasm fuzz bench bench-train trainer fit fit-uncond fit-mnist fit-baseline eval fd site serve desktop

setup:
	bash .ci/setup

# Sample a grid with the native runtime (GPU where there is one) from the shipped default weights
# (or WEIGHTS=file).
sample: setup
	go run -tags openblas ./trainer sample $(if $(WEIGHTS),--weights $(WEIGHTS)) --out samples.png --count 64

# The static demo site in site/ (lsgm.wasm, pages, weights, .gz twins), and
# Go's own server for it on http://127.0.0.1:8080/.
site: setup
	go run ./wasm/site build -out site

serve: site
	go run ./wasm/site serve -dir site -addr 127.0.0.1:8080

# The offline desktop viewer (Ebiten): the embedded weights, or WEIGHTS=file.
# -tags openblas: the CPU path's matrix multiply is OpenBLAS's (as for
# make sample and bin/trainer); without it, gonum's.
desktop: setup
	go run -tags openblas ./desktop $(WEIGHTS)

# The trainer with OpenBLAS linked (bin/trainer), stamped with the git
# revision it was built from (recorded in the weights it writes).
trainer: setup
	go build -tags openblas -ldflags "-X main.version=$$(git describe --always --dirty 2>/dev/null)" -o bin/trainer ./trainer

# Train the default model as shipped: class-conditional Fashion-MNIST with
# label dropout (unguided samples follow a class drawn per image). The
# first default (unconditional, weights/fashion-uncond.lsgm) and the
# binarized-MNIST model (Bernoulli decoder, dynamic binarization). Each
# resumes: add ARGS=--resume after a stop.
fit: trainer
	OPENBLAS_NUM_THREADS=1 bin/trainer fit --device $(DEVICE) --out runs/fmnist-classes --classes --epochs-vae 2 --epochs 40 --lr-vae 1e-3 --lr-prior 5e-4 --seed 1 $(ARGS)

fit-uncond: trainer
	OPENBLAS_NUM_THREADS=1 bin/trainer fit --device $(DEVICE) --out runs/fmnist --epochs-vae 2 --epochs 40 --lr-vae 1e-3 --lr-prior 5e-4 --seed 1 $(ARGS)

fit-mnist: trainer
	OPENBLAS_NUM_THREADS=1 bin/trainer fit --device $(DEVICE) --out runs/mnist --data mnist --likelihood bernoulli --binarize --epochs-vae 2 --epochs 30 --lr-vae 1e-3 --lr-prior 5e-4 --seed 1 $(ARGS)

# LSGM's data-space baseline: the default's recipe without the VAE (a
# class-conditional score model on the pixels), trained for the default's
# training time (train_seconds in its provenance) on the same machine.
fit-baseline: trainer
	OPENBLAS_NUM_THREADS=1 bin/trainer fit --device $(DEVICE) --vae none --out runs/baseline-fair --classes --epochs 1000 --lr-prior 5e-4 --max-time 29409s --seed 1 $(ARGS)

# Test-set NELBO of the shipped weights (N images; 10000 is the full test set).
N ?= 1000
eval: trainer
	OPENBLAS_NUM_THREADS=1 bin/trainer eval --device $(DEVICE) --weights weights/default.lsgm --n $(N)

# Sample quality of the shipped weights: Fréchet distance on the features of
# the shipped classifier (bin/trainer classifier --out weights/fmnist-classifier.lsgmc
# retrains it), N samples per setting, per sampler and NFE.
fd: trainer
	OPENBLAS_NUM_THREADS=1 bin/trainer fd --classifier weights/fmnist-classifier.lsgmc --n $(N)

test: setup vet unit wasm fuzz metrics

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

# Every package gets an explicit timeout with room for a busy 2-core machine
# (the suite takes a few minutes alone there).
unit:
	go test -count=1 -timeout 25m ./...
	go test -count=1 -timeout 10m -tags openblas ./trainer/nn ./runtime/optest

# Checks that reproduce metrics recorded in the shipped weights (minutes of
# CPU each), apart from the unit suite and with their own budget.
metrics:
	LSGM_METRICS=1 go test -count=1 -timeout 40m -run 'TestShipped' -v ./trainer

# The packages that must run in a browser build for GOOS=js, and the op
# suite on the browser build's CPU kernels (the WebAssembly SIMD module,
# which runtime/simd/node-exec builds and loads as the page's worker does),
# run in Node (Debian's nodejs, which .ci/setup installs).
wasm:
	GOOS=js GOARCH=wasm go build ./weights/... ./runtime/... ./wasm
	GOOS=js GOARCH=wasm go test -count=1 -timeout 10m -exec "$$PWD/runtime/simd/node-exec" -run 'TestCPU' ./runtime/optest

# A short run of the weights decoder fuzzer (seed corpus in the test).
fuzz:
	go test ./weights -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

bench:
	go test -run '^$$' -bench . -benchtime 2x ./runtime/...
	GOOS=js GOARCH=wasm go test -exec "$$PWD/runtime/simd/node-exec" -run '^$$' -bench 'ScoreNFE|Conv2D/fast' -benchtime 5x ./runtime
	go test -run '^$$' -bench TrainStep -benchtime 4x ./trainer/lsgm
	OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$$' -bench TrainStep -benchtime 4x ./trainer/lsgm

# The training step against a PyTorch twin of the same networks, one thread
# and then two each (needs Debian's python3-torch; nothing else uses it).
bench-train: trainer
	bin/trainer info --arch weights/default.lsgm > bin/arch.json
	for n in 1 2; do \
		OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$$' -bench TrainStep/'(vae|joint)' -benchtime 10x -count 3 -cpu $$n ./trainer/lsgm | grep images; \
		/usr/bin/python3 trainer/twin/torch_twin.py bin/arch.json --threads $$n --runs 3; \
	done
