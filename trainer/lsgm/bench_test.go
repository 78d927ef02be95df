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

func BenchmarkTrainStep(b *testing.B) {
	b.Logf("BLAS: %s", nn.BLAS())
	b.Run("vae/B64", func(b *testing.B) { benchStage(b, weights.DefaultConfig(), StageVAE, 64) })
	b.Run("joint/B64", func(b *testing.B) { benchStage(b, weights.DefaultConfig(), StageJoint, 64) })
}
