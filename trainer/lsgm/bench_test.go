package lsgm

import (
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sde"
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
		ts := make([]float64, B)
		for i := range ts {
			ts[i] = r.Float64()
			gr.W[i] = 1
		}
		gr.SetTimes(sde.NewGeometricVP(), ts)
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
	cfg.Likelihood = "logistic" // as shipped
	b.Run("vae/B64", func(b *testing.B) { benchStage(b, cfg, StageVAE, 64) })
	b.Run("joint/B64", func(b *testing.B) { benchStage(b, cfg, StageJoint, 64) })
	b.Run("baseline/B64", func(b *testing.B) { benchStage(b, weights.BaselineConfig(), StagePrior, 64) })
}
