package gpugraph_test

import (
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/trainer/gpugraph"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/weights"
)

var (
	devOnce sync.Once
	dev     *gpu.Device
	devErr  error
)

// device opens the test device once. Under CI=true a missing adapter fails
// the test (CI installs lavapipe); elsewhere it skips, saying what is missing.
func device(t testing.TB) *gpu.Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = gpu.Open(gpu.OpenOptions{}) })
	if devErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no WebGPU device under CI (install mesa-vulkan-drivers libvulkan1): %v", devErr)
		}
		t.Skipf("no WebGPU device (install mesa-vulkan-drivers libvulkan1 for lavapipe): %v", devErr)
	}
	return dev
}

// fillGraph writes random inputs of a stage's graph, as a training step does.
func fillGraph(gr *lsgm.Graph, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	normal := func(s []float32) {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	for i := range gr.X { // pixels on the logistic's bin centres (and binary-valid)
		gr.X[i] = float32(r.IntN(256))*2/255 - 1
	}
	normal(gr.N0)
	if gr.X == nil {
		normal(gr.Z0)
	}
	if gr.N1 != nil {
		normal(gr.N1)
		ts := make([]float64, gr.Batch)
		for i := range ts {
			ts[i] = 0.01 + 0.98*r.Float64()
			gr.W[i] = float32(0.5 + r.Float64())
		}
		gr.SetTimes(sde.NewGeometricVP(), ts)
	}
}

func relErr(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		d += (float64(got[i]) - float64(want[i])) * (float64(got[i]) - float64(want[i]))
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / math.Max(n, 1e-30))
}

// One step's loss parts and gradients on the GPU equal gorgonia's tape
// machine on the CPU, for both training stages of an LSGM model (logistic
// and Bernoulli decoders, a class-conditional score network) and for the
// data-space baseline: loss parts within 1e-5 relative, each gradient
// tensor within 1e-4 relative (in norm).
func TestStepMatchesCPU(t *testing.T) {
	d := device(t)
	type variant struct {
		name  string
		cfg   func() weights.NetConfig
		stage lsgm.Stage
	}
	logistic := func() weights.NetConfig { c := weights.TinyConfig(); c.Likelihood = "logistic"; return c }
	classes := func() weights.NetConfig {
		c := logistic()
		c.Classes = []string{"a", "b", "c"}
		return c
	}
	shipped := func() weights.NetConfig { c := weights.DefaultConfig(); c.Likelihood = "logistic"; return c }
	for _, v := range []variant{
		{"vae", logistic, lsgm.StageVAE},
		{"joint", logistic, lsgm.StageJoint},
		{"vae bernoulli", weights.TinyConfig, lsgm.StageVAE},
		{"joint bernoulli", weights.TinyConfig, lsgm.StageJoint},
		{"joint classes", classes, lsgm.StageJoint},
		{"joint shipped", shipped, lsgm.StageJoint},
		{"baseline", weights.BaselineConfig, lsgm.StagePrior},
	} {
		t.Run(v.name, func(t *testing.T) {
			a, err := weights.NewArch(v.cfg())
			if err != nil {
				t.Fatal(err)
			}
			f, err := weights.Random(a, 3)
			if err != nil {
				t.Fatal(err)
			}
			const B = 4
			gr, err := lsgm.NewGraph(f, v.stage, B, true)
			if err != nil {
				t.Fatal(err)
			}
			defer gr.Close()
			fillGraph(gr, 7)
			if gr.Y != nil { // a class for half the rows, "no class" for the rest
				k := len(f.Arch.Classes)
				for i := 0; i < B/2; i++ {
					gr.Y[i*(k+1)+k], gr.Y[i*(k+1)+i%k] = 0, 1
				}
			}
			gr.FillInputs()
			var outs []*G.Node
			for _, n := range gr.ValueNodes() {
				if n != nil {
					outs = append(outs, n)
				}
			}
			outs = append(outs, gr.GradNodes()...)
			e, err := gpugraph.Compile(d, gr.Expr(), outs, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Release()
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
			got, err := e.Run(outs...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := gr.Run()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d launches, %.1f MB", e.Launches(), float64(e.Bytes())/(1<<20))
			i := 0
			for k, n := range gr.ValueNodes() {
				if n == nil {
					continue
				}
				w := []float64{want.Recon, want.NegEntropy, want.KL, want.CE, want.Cost}[k]
				if g := float64(got[i][0]); math.Abs(g-w) > 1e-5*math.Abs(w)+1e-6 {
					t.Errorf("value %d: GPU %v, CPU %v", k, g, w)
				}
				i++
			}
			worst := 0.0
			for j, name := range gr.Wrt {
				cpu, err := gr.Grad(name)
				if err != nil {
					t.Fatal(err)
				}
				re := relErr(got[i+j], cpu)
				worst = math.Max(worst, re)
				if re > 1e-4 {
					t.Errorf("gradient of %s: relative error %.3g", name, re)
				}
			}
			t.Logf("%d gradients, worst relative error %.3g", len(gr.Wrt), worst)
		})
	}
}
