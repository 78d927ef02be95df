package lsgm

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/weights"
)

// testTimes is trainer fit's default time sampler (the SDE's default, ll_iw).
var testTimes = func() *runtime.TimeSampler {
	ts, err := runtime.NewTimeSampler(sde.NewGeometricVP(), 0, "ll_iw")
	if err != nil {
		panic(err)
	}
	return ts
}()

var (
	devOnce sync.Once
	testDev *gpu.Device
	devErr  error
)

// device opens the test device once. Under CI=true a missing adapter fails
// the test (CI installs lavapipe); elsewhere it skips, saying what is missing.
func device(t testing.TB) *gpu.Device {
	t.Helper()
	devOnce.Do(func() { testDev, devErr = gpu.Open(gpu.OpenOptions{}) })
	if devErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no WebGPU device under CI (install mesa-vulkan-drivers libvulkan1): %v", devErr)
		}
		t.Skipf("no WebGPU device (install mesa-vulkan-drivers libvulkan1 for lavapipe): %v", devErr)
	}
	return testDev
}

// stepInputs fills a graph's inputs for step k as a training step does,
// the noise as the device draws it (seed 7, stream base).
func stepInputs(gr *Graph, k int, poison bool, base rng.Stream) {
	r := rand.New(rand.NewPCG(uint64(k), 9))
	normal := func(s []float32) {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	for i := range gr.X {
		gr.X[i] = float32(r.IntN(256))*2/255 - 1
	}
	gr.DrawNoise(7, k, base)
	if gr.X == nil {
		normal(gr.Z0)
	}
	if gr.N1 != nil {
		stream := TimesMain
		if base == NoisePrior {
			stream = TimesPrior
		}
		gr.DrawTimes(testTimes, 7, k, stream)
	}
	if poison {
		if gr.X != nil {
			gr.X[3] = float32(math.NaN())
		} else {
			gr.Z0[3] = float32(math.NaN())
		}
	}
}

// cpuStep is trainer fit's CPU step: the graph (and the prior's own graph
// on its latents), the guard, both optimizers and the EMA.
func cpuStep(t *testing.T, gr, pg *Graph, params map[string][]float32, vae, prior *Adam, ema *EMA, step int) (Values, bool) {
	v, err := gr.Run()
	if err != nil {
		t.Fatal(err)
	}
	gv, gp := map[string][]float32{}, map[string][]float32{}
	collect := func(g *Graph) {
		for _, n := range g.Wrt {
			x, err := g.Grad(n)
			if err != nil {
				t.Fatal(err)
			}
			if IsVAEParam(n) {
				gv[n] = x
			} else {
				gp[n] = x
			}
		}
	}
	collect(gr)
	cost := v.Cost
	if pg != nil {
		copy(pg.Z0, gr.Z0)
		pv, err := pg.Run()
		if err != nil {
			t.Fatal(err)
		}
		cost += pv.Cost
		collect(pg)
	}
	nv, np := GradNorm(gv), GradNorm(gp)
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	if bad(cost) || bad(nv) || bad(np) {
		return v, false
	}
	warm := func(k int) float64 { return math.Min(1, float64(k+1)/2) }
	if len(gv) > 0 {
		if err := vae.Step(params, gv, nv, warm(vae.T)); err != nil {
			t.Fatal(err)
		}
	}
	if len(gp) > 0 {
		if err := prior.Step(params, gp, np, warm(prior.T)); err != nil {
			t.Fatal(err)
		}
	}
	ema.Update(params, step)
	return v, true
}

func relNorm(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		d += (float64(got[i]) - float64(want[i])) * (float64(got[i]) - float64(want[i]))
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / math.Max(n, 1e-30))
}

// Three training steps with the state on the GPU (graph, clipping, guard,
// Adam or Adamax, EMA in one submission a step) leave every parameter,
// moment and average where the CPU's steps do, within 1e-4 relative (in
// norm, per tensor); the loss parts agree within 1e-5 relative. The second
// step is poisoned with a NaN input: both skip it and change nothing.
func TestDeviceStepMatchesCPU(t *testing.T) {
	d := device(t)
	logistic := func() weights.NetConfig { c := weights.TinyConfig(); c.Likelihood = "logistic"; return c }
	for _, v := range []struct {
		name      string
		cfg       func() weights.NetConfig
		stage     Stage
		adamax    bool
		priorGrad bool
	}{
		{"vae", logistic, StageVAE, false, true},
		{"joint", logistic, StageJoint, false, true},
		{"joint adamax bernoulli", weights.TinyConfig, StageJoint, true, true},
		{"joint, prior graph apart", logistic, StageJoint, false, false},
		{"baseline", weights.BaselineConfig, StagePrior, false, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			a, err := weights.NewArch(v.cfg())
			if err != nil {
				t.Fatal(err)
			}
			files := [2]*weights.File{}
			params := [2]map[string][]float32{}
			for i := range files {
				if files[i], err = weights.Random(a, 5); err != nil {
					t.Fatal(err)
				}
				params[i] = map[string][]float32{}
				for _, tn := range files[i].Tensors {
					params[i][tn.Name] = tn.Data
				}
			}
			const B = 4
			clip := 5.0 // small enough to clip
			opts := [2][2]*Adam{}
			emas := [2]*EMA{}
			for i := range opts {
				opts[i] = [2]*Adam{NewAdam(1e-3, v.adamax, clip), NewAdam(2e-3, v.adamax, clip)}
				emas[i] = NewEMA(0.9, params[i])
			}
			graphs := [2][2]*Graph{}
			for i := range graphs {
				if graphs[i][0], err = NewGraph(files[i], v.stage, B, v.priorGrad); err != nil {
					t.Fatal(err)
				}
				defer graphs[i][0].Close()
				if v.stage == StageJoint && !v.priorGrad {
					if graphs[i][1], err = NewGraph(files[i], StagePrior, B, true); err != nil {
						t.Fatal(err)
					}
					defer graphs[i][1].Close()
				}
			}
			dv, err := NewDevice(d, files[1], Hyperparams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: clip, Max: v.adamax, LRVAE: 1e-3, LRPrior: 2e-3, Warmup: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer dv.Release()
			for _, g := range graphs[1] {
				if g != nil {
					if err := g.UseDevice(dv); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := dv.Upload(params[1], opts[1][0], opts[1][1], emas[1], 0); err != nil {
				t.Fatal(err)
			}
			for step := 1; step <= 3; step++ {
				for i := range graphs {
					stepInputs(graphs[i][0], step, step == 2, NoiseMain)
					if pg := graphs[i][1]; pg != nil {
						stepInputs(pg, step, false, NoisePrior)
					}
				}
				want, okCPU := cpuStep(t, graphs[0][0], graphs[0][1], params[0], opts[0][0], opts[0][1], emas[0], step)
				// The GPU's noise and times are drawn on the device: clear the host's.
				for _, g := range graphs[1] {
					if g != nil {
						for _, s := range [][]float32{g.N0, g.N1, g.T, g.W, g.Mt, g.St, g.Ct} {
							clear(s)
						}
					}
				}
				res, err := dv.Step(graphs[1][0], graphs[1][1], opts[1][0], opts[1][1], emas[1], StepIn{Seed: 7, Step: step, Read: true, Times: testTimes, PriorTimes: testTimes})
				if err != nil {
					t.Fatal(err)
				}
				if res.Finite != (step != 2) || okCPU != res.Finite {
					t.Fatalf("step %d: GPU finite %v, CPU %v", step, res.Finite, okCPU)
				}
				if !res.Finite {
					continue
				}
				for _, c := range [][2]float64{{res.Values.Recon, want.Recon}, {res.Values.NegEntropy, want.NegEntropy}, {res.Values.KL, want.KL}, {res.Values.CE, want.CE}, {res.Values.Cost, want.Cost}} {
					if math.Abs(c[0]-c[1]) > 1e-5*math.Abs(c[1])+1e-6 {
						t.Errorf("step %d: GPU loss parts %+v, CPU %+v", step, res.Values, want)
						break
					}
				}
			}
			if opts[0][0].T != opts[1][0].T || opts[0][1].T != opts[1][1].T {
				t.Fatalf("optimizer steps: CPU %d/%d, GPU %d/%d", opts[0][0].T, opts[0][1].T, opts[1][0].T, opts[1][1].T)
			}
			if _, err := dv.Download(params[1], opts[1][0], opts[1][1], emas[1]); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			check := func(what string, got, want map[string][]float32) {
				for n, w := range want {
					g, ok := got[n]
					if !ok {
						t.Errorf("%s %s missing on the GPU side", what, n)
						continue
					}
					e := relNorm(g, w)
					worst = math.Max(worst, e)
					if e > 1e-4 {
						t.Errorf("%s %s: relative error %.3g", what, n, e)
					}
				}
			}
			check("parameter", params[1], params[0])
			check("EMA", emas[1].Shadow, emas[0].Shadow)
			for j := range 2 {
				check("first moment", opts[1][j].M, opts[0][j].M)
				check("second moment", opts[1][j].V, opts[0][j].V)
			}
			t.Logf("optimizer steps %d/%d; worst relative error %.3g", opts[1][0].T, opts[1][1].T, worst)
		})
	}
}

// A batch whose buffers exceed the adapter's binding limit is refused with
// the limit and a bound on the batch that fits, not a crash.
func TestDeviceBatchLimit(t *testing.T) {
	d := device(t)
	a, err := weights.NewArch(weights.TinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Random(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := NewGraph(f, StageVAE, 20000, true)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	err = gr.UseGPU(d)
	if err == nil || !strings.Contains(err.Error(), "binding limit") || !strings.Contains(err.Error(), "largest batch that fits is at most") {
		t.Fatalf("batch 20000: %v, want the limit and the largest batch", err)
	}
	t.Log(err)
}
