package lsgm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

func fill(r *rand.Rand, s []float32) {
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
}

func benchStage(b *testing.B, cfg weights.NetConfig, st Stage, B int) {
	a, err := weights.NewArch(cfg)
	if err != nil {
		b.Fatal(err)
	}
	f, err := weights.Random(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	gr, err := NewGraph(f, st, B, true)
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	r := rand.New(rand.NewPCG(1, 1))
	if gr.X != nil {
		for i := range gr.X {
			gr.X[i] = float32(r.IntN(2))
		}
		fill(r, gr.N0)
	}
	if gr.X == nil { // StagePrior: data-space pixels in [-1, 1]
		for i := range gr.Z0 {
			gr.Z0[i] = 2*r.Float32() - 1
		}
	}
	if gr.N1 != nil {
		fill(r, gr.N1)
		gr.DrawTimes(testTimes, 1, 1, TimesMain)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gr.Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkTrainStep times a forward and backward pass of the shipped model's
// stages (stage 1, stage 2 with an ll-weighted prior) and of the data-space
// baseline, batch 64; images/s is the training throughput.
func BenchmarkTrainStep(b *testing.B) {
	b.Logf("BLAS: %s", nn.BLAS())
	cfg := weights.DefaultConfig()
	cfg.Likelihood = "logistic" // as shipped, class-conditional
	cfg.Classes = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	b.Run("vae/B64", func(b *testing.B) { benchStage(b, cfg, StageVAE, 64) })
	b.Run("joint/B64", func(b *testing.B) { benchStage(b, cfg, StageJoint, 64) })
	b.Run("baseline/B64", func(b *testing.B) { benchStage(b, weights.BaselineConfig(), StagePrior, 64) })
}

// BenchmarkWholeStep times whole training steps of the shipped model's
// joint stage (graph, clipping, both Adam updates, EMA) on the CPU and with
// the state on the GPU (Device.Step: one submission and a small readback a
// step), at batch 64 and 256, in one run. It reports images/s, and on the
// GPU the kernel launches a step and the device memory.
func BenchmarkWholeStep(b *testing.B) {
	cfg := weights.DefaultConfig()
	cfg.Likelihood = "logistic"
	a, err := weights.NewArch(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, B := range []int{64, 256} {
		for _, where := range []string{"cpu", "gpu"} {
			b.Run(fmt.Sprintf("%s/B%d", where, B), func(b *testing.B) {
				f, err := weights.Random(a, 1)
				if err != nil {
					b.Fatal(err)
				}
				params := map[string][]float32{}
				for _, t := range f.Tensors {
					params[t.Name] = t.Data
				}
				gr, err := NewGraph(f, StageJoint, B, true)
				if err != nil {
					b.Fatal(err)
				}
				defer gr.Close()
				vae, prior := NewAdam(1e-3, false, 200), NewAdam(5e-4, false, 200)
				ema := NewEMA(0.999, params)
				var dv *Device
				if where == "gpu" {
					if dv, err = NewDevice(device(b), f, Hyperparams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 200, LRVAE: 1e-3, LRPrior: 5e-4, Warmup: 1}); err != nil {
						b.Fatal(err)
					}
					defer dv.Release()
					if err := gr.UseDevice(dv); err != nil {
						b.Fatal(err)
					}
					if err := dv.Upload(params, vae, prior, ema, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					stepInputs(gr, i+1, false, NoiseMain)
					b.StartTimer()
					if dv != nil {
						if _, err := dv.Step(gr, nil, vae, prior, ema, StepIn{Seed: 7, Step: i + 1, Times: testTimes}); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if _, err := gr.Run(); err != nil {
						b.Fatal(err)
					}
					gv, gp := map[string][]float32{}, map[string][]float32{}
					for _, n := range gr.Wrt {
						g, _ := gr.Grad(n)
						if IsVAEParam(n) {
							gv[n] = g
						} else {
							gp[n] = g
						}
					}
					vae.Step(params, gv, GradNorm(gv), 1)
					prior.Step(params, gp, GradNorm(gp), 1)
					ema.Update(params, i+1)
				}
				if dv != nil { // the steps were only submitted: wait for them (one readback)
					if _, err := dv.Stats(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "images/s")
				if dv != nil { // after the timing: ResetTimer clears reported metrics
					n, bytes := gr.GPUStats()
					b.ReportMetric(float64(n), "launches/step")
					b.ReportMetric(float64(bytes+dv.Bytes())/(1<<20), "MB")
				}
			})
		}
	}
}
