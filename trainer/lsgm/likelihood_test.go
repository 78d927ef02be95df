package lsgm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// With the network switched off the prior is the N(0, I) diffusion, whose
// density at t0 is N(0, m^2 + var): the ODE log-likelihood must equal it.
// Rademacher probes make Hutchinson's estimate of this diagonal Jacobian's
// trace exact, so the tolerance is the solver's (rtol = atol = 1e-5) plus
// float32 rounding.
func TestLogLikelihoodGaussianOracle(t *testing.T) {
	for _, kind := range []string{"geometric_vpsde", "vpsde"} {
		f := gaussianModel(t, kind, 0, 0)
		j, err := NewScoreJVP(f, 4)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := sde.New(kind, nil)
		r := rand.New(rand.NewPCG(2, 3))
		z, v := make([]float32, 4*j.Dim), make([]float32, 4*j.Dim)
		for i := range z {
			z[i] = float32(1.3 * r.NormFloat64())
			v[i] = float32(2*r.IntN(2) - 1)
		}
		const t0 = 1e-3
		got, nfe, err := LogLikelihood(j, z, v, t0, 1e-5, 1e-5)
		j.Close()
		if err != nil {
			t.Fatal(err)
		}
		p2 := sde.NormalVar(s, t0)
		for b := range got {
			want := 0.0
			for i := 0; i < j.Dim; i++ {
				x := float64(z[b*j.Dim+i])
				want += -0.5*math.Log(2*math.Pi*p2) - x*x/(2*p2)
			}
			if math.Abs(got[b]-want) > 2e-3 {
				t.Errorf("%s sample %d: log p %.5f, exact %.5f", kind, b, got[b], want)
			}
		}
		t.Logf("%s: log p %.4f (exact within 2e-3 nats), %d NFE", kind, got[0], nfe)
	}
}
