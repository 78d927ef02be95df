package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/weights"
)

// openDevice opens a WebGPU device, closed when the test ends; without an
// adapter it skips, except under CI=true (lavapipe installed), where it fails.
func openDevice(t *testing.T) *gpu.Device {
	t.Helper()
	d, err := gpu.Open(gpu.OpenOptions{})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no WebGPU device under CI (install mesa-vulkan-drivers libvulkan1): %v", err)
		}
		t.Skipf("no WebGPU device (install mesa-vulkan-drivers libvulkan1 for lavapipe): %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// needDevice skips (or under CI fails) without a WebGPU adapter.
func needDevice(t *testing.T) { openDevice(t) }

// closeModels checks every tensor of b against a's within rel (in norm).
func closeModels(t *testing.T, what string, a, b *weights.File, rel float64) {
	t.Helper()
	worst := 0.0
	for i := range a.Tensors {
		var d, n float64
		for j, x := range a.Tensors[i].Data {
			y := b.Tensors[i].Data[j]
			d += (float64(x) - float64(y)) * (float64(x) - float64(y))
			n += float64(x) * float64(x)
		}
		e := math.Sqrt(d / math.Max(n, 1e-30))
		worst = math.Max(worst, e)
		if e > rel {
			t.Errorf("%s: %s differs by %.3g relative", what, a.Tensors[i].Name, e)
		}
	}
	t.Logf("%s: worst tensor differs by %.3g relative", what, worst)
}

// trainer fit --device gpu trains the tiny recipe (15 steps, both stages)
// to the CPU's weights within 1e-4 relative; a run resumes across devices
// either way; the GPU's non-finite guard skips poisoned steps.
func TestFitDevice(t *testing.T) {
	needDevice(t)
	data := toyIDX(t, 40)
	run := func(dir string, extra ...string) {
		t.Helper()
		if err := runFit(fitArgs(data, dir, extra...)); err != nil {
			t.Fatal(err)
		}
	}
	// The data-space baseline (dequantized pixels) and a Bernoulli model on
	// dynamically binarized images too: both random scalings on the device.
	for _, extra := range [][]string{{"--vae", "none"}, {"--likelihood", "bernoulli", "--binarize"}} {
		c, g := filepath.Join(t.TempDir(), "cpu"), filepath.Join(t.TempDir(), "gpu")
		run(c, append([]string{"--device", "cpu"}, extra...)...)
		run(g, append([]string{"--device", "gpu"}, extra...)...)
		closeModels(t, fmt.Sprint(extra), readModel(t, filepath.Join(c, "model.lsgm")), readModel(t, filepath.Join(g, "model.lsgm")), 1e-4)
		sameLog(t, fmt.Sprint(extra), c, g)
	}
	cpu, gpuRun := filepath.Join(t.TempDir(), "cpu"), filepath.Join(t.TempDir(), "gpu")
	run(cpu, "--device", "cpu")
	run(gpuRun, "--device", "gpu")
	want := readModel(t, filepath.Join(cpu, "model.lsgm"))
	closeModels(t, "gpu run", want, readModel(t, filepath.Join(gpuRun, "model.lsgm")), 1e-4)
	sameLog(t, "gpu run", cpu, gpuRun)

	for _, c := range [][2]string{{"gpu", "cpu"}, {"cpu", "gpu"}} {
		dir := filepath.Join(t.TempDir(), c[0]+"-"+c[1])
		run(dir, "--device", c[0], "--max-steps", "7")
		if err := runFit([]string{"--out", dir, "--resume", "--max-steps", "0", "-q", "--blas", "gonum", "--device", c[1]}); err != nil {
			t.Fatal(err)
		}
		closeModels(t, c[0]+" then "+c[1], want, readModel(t, filepath.Join(dir, "model.lsgm")), 1e-4)
	}

	defer func() { poison = nil }()
	poison = func(step int) bool { return step == 3 || step == 4 }
	dir := filepath.Join(t.TempDir(), "nan")
	run(dir, "--device", "gpu")
	c, err := lsgm.ReadCheckpoint(filepath.Join(dir, "checkpoint.lsgmckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Skipped != 2 {
		t.Errorf("GPU run skipped %d steps, want 2", c.Skipped)
	}
	if err := lsgm.CheckFinite("EMA", c.EMA); err != nil {
		t.Error(err)
	}
	// Endless non-finite steps stop a GPU run too (found at a logged step).
	poison = func(step int) bool { return step >= 3 }
	err = runFit(fitArgs(data, filepath.Join(t.TempDir(), "nan2"), "--device", "gpu"))
	if err == nil || !strings.Contains(err.Error(), "consecutive non-finite") {
		t.Errorf("endless NaN steps on the GPU: %v, want a consecutive non-finite error", err)
	}
}

// trainer eval's networks on the GPU (the VAE's eval graph and the score's
// Jacobian products along the ODE) reproduce the CPU's NELBO of the shipped
// model on the same test images: within a hundredth of its standard error,
// image by image within 1e-3 nats relative.
func TestEvalDevice(t *testing.T) {
	d := openDevice(t)
	f, set := shippedTestSet(t)
	o := evalOptions{N: 4, Batch: 4, ODEEps: 1e-5, RTol: 1e-2, ATol: 1e-2, Probe: "rademacher", Quiet: true}
	cpu, err := evaluate(f, set, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Device = d
	got, err := evaluate(f, set, o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := math.Abs(got.NELBO - cpu.NELBO); diff > cpu.SE/100 {
		t.Errorf("GPU NELBO %.4f, CPU %.4f ± %.4f", got.NELBO, cpu.NELBO, cpu.SE)
	}
	for i, w := range cpu.perImage {
		if math.Abs(got.perImage[i]-w) > 1e-3*math.Abs(w) {
			t.Errorf("image %d: GPU %.4f nats, CPU %.4f", i, got.perImage[i], w)
		}
	}
	t.Logf("NELBO of 4 test images: GPU %.4f, CPU %.4f ± %.4f nats (NFE %.0f and %.0f)", got.NELBO, cpu.NELBO, cpu.SE, got.MeanNFE, cpu.MeanNFE)
}

// The Fréchet-distance classifier's features on the GPU equal the CPU's
// (trainer fd computes them where it samples).
func TestFeaturesDevice(t *testing.T) {
	d := openDevice(t)
	c, err := loadClassifier("../weights/fmnist-classifier.lsgmc")
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	imgs := make([]float32, n*784)
	for i := range imgs { // bars and noise in [0, 1]
		imgs[i] = float32((i*7919)%255) / 255
	}
	want, err := c.features(imgs, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.features(imgs, n, d)
	if err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i := range want {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	if e := math.Sqrt(num / den); !(e < 1e-5) {
		t.Errorf("GPU features differ from the CPU's by %.3g relative", e)
	}
}

// A short toy:gmm fit on the GPU lands within the CPU fit's test NELBO
// standard error, and the shipped recipe's network takes a few steps on the
// GPU and writes a model that trainer sample loads.
func TestFitToyDevice(t *testing.T) {
	needDevice(t)
	nelbo := map[string]*evalResult{}
	for _, dev := range []string{"cpu", "gpu"} {
		run := filepath.Join(t.TempDir(), dev)
		if err := runFit([]string{"--data", "toy:gmm", "--out", run, "--batch", "512", "--epochs-vae", "1", "--epochs", "1", "-q", "--blas", "gonum", "--device", dev}); err != nil {
			t.Fatal(err)
		}
		f := readModel(t, filepath.Join(run, "model.lsgm"))
		set, err := loadSet("toy:gmm", "test")
		if err != nil {
			t.Fatal(err)
		}
		if nelbo[dev], err = evaluate(f, set, evalOptions{N: 256, Batch: 64, ODEEps: 1e-5, RTol: 1e-3, ATol: 1e-3, Probe: "rademacher", Quiet: true}); err != nil {
			t.Fatal(err)
		}
	}
	c, g := nelbo["cpu"], nelbo["gpu"]
	if math.Abs(c.NELBO-g.NELBO) > c.SE {
		t.Errorf("toy:gmm test NELBO: GPU-trained %.4f, CPU-trained %.4f ± %.4f nats", g.NELBO, c.NELBO, c.SE)
	}
	t.Logf("toy:gmm test NELBO (256 points): GPU-trained %.4f ± %.4f, CPU-trained %.4f ± %.4f nats", g.NELBO, g.SE, c.NELBO, c.SE)

	run := filepath.Join(t.TempDir(), "shipped")
	if err := runFit([]string{"--data", toyIDX(t, 16), "--out", run, "--batch", "8", "--max-steps", "2", "--epochs-vae", "0", "-q", "--blas", "gonum", "--device", "gpu"}); err != nil {
		t.Fatal(err)
	}
	if err := runSample([]string{"--weights", filepath.Join(run, "model.lsgm"), "--out", filepath.Join(run, "s.png"), "--count", "4", "--nfe", "3", "-q", "--backend", "gpu"}); err != nil {
		t.Fatal(err)
	}
}

// sameLog checks that two runs logged the same NELBO, cross entropy and
// gradient norms (the GPU reports them from its own reductions).
func sameLog(t *testing.T, what, a, b string) {
	t.Helper()
	read := func(dir string) []record {
		var out []record
		for _, line := range bytes.Split(bytes.TrimSpace(must(os.ReadFile(filepath.Join(dir, "metrics.jsonl")))), []byte("\n")) {
			var r record
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	ra, rb := read(a), read(b)
	if len(ra) != len(rb) || len(ra) == 0 {
		t.Fatalf("%s: %d and %d log lines", what, len(ra), len(rb))
	}
	for i := range ra {
		for _, c := range [][2]float64{{ra[i].NELBO, rb[i].NELBO}, {ra[i].CE, rb[i].CE}, {ra[i].GradVAE, rb[i].GradVAE}, {ra[i].GradPrior, rb[i].GradPrior}} {
			if math.Abs(c[0]-c[1]) > 1e-4*math.Abs(c[0])+1e-6 {
				t.Errorf("%s: log line %d: CPU %+v, GPU %+v", what, i+1, ra[i], rb[i])
				break
			}
		}
	}
}
