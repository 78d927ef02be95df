package sampler

import (
	"math"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

var zeroNet = ModelFunc(func(dst, z []float32, t float64) error {
	clear(dst)
	return nil
})

// The mixed score's fixed part is the exact noise predictor of an N(0, I)
// latent: with the network switched off (c = 0) the prior is exactly N(0, I),
// i.e. the flow maps z_1 to sqrt(NormalVar(t0) / NormalVar(1)) z_1, on every SDE.
// On the VP-type SDEs (m^2 + sigma^2 = 1, up to sigma2_0 = 3e-5 for the
// geometric one) the ODE velocity is exactly zero, so Euler and Heun must
// return z_1 to rounding. DDIM (and DPM-Solver++, whose first step is DDIM)
// integrate in the data prediction and shrink z by m_s m_t + sigma_s sigma_t <= 1
// per step: their own discretization error applies, as it does for every solver
// on the sub-VP and VE SDEs, where the velocity is not zero.
func TestMixedZeroNetworkIsStandardNormal(t *testing.T) {
	const t0 = 1e-3
	const dim = 16
	for _, s := range sdes() {
		m := Mixed{Net: zeroNet, Coeff: make([]float32, dim), SDE: s}
		k := math.Sqrt(sde.NormalVar(s, t0) / sde.NormalVar(s, 1))
		vpType := s.Name() == "vpsde" || s.Name() == "geometric_vpsde"
		for name, f := range deterministic() {
			z := make([]float32, 64*dim)
			Prior(z, s, rng.Source{Seed: 1, Dim: dim}, 1)
			z1 := append([]float32{}, z...)
			if _, err := f(m, s, z, UniformLogSNR(s, 20, 1, t0), nil); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range z {
				worst = math.Max(worst, math.Abs(float64(z[i])-k*float64(z1[i]))/(1+math.Abs(float64(z1[i]))))
			}
			tol := 1e-5
			switch {
			case name == "ddim":
				tol = 0.15 // first order, 20 steps (measured 0.079 to 0.125)
			case name == "dpmpp2m":
				tol = 0.03 // second order, 20 steps (measured 0.008 to 0.019)
			case !vpType && name == "euler":
				tol = 0.05
			case !vpType:
				tol = 5e-3
			}
			if worst > tol {
				t.Errorf("%s/%s: off the exact N(0, I) flow by %.2e (tolerance %.0e)", s.Name(), name, worst, tol)
			}
		}
		for name, f := range stochastic(dim) {
			z := make([]float32, 4000*dim)
			Prior(z, s, rng.Source{Seed: 2, Dim: dim}, 1)
			// DDPM converges at first order with a large constant (variance 8%, 5%,
			// 2% low at 100, 200, 400 steps on the vesde): 800 steps.
			if _, err := f(m, s, z, UniformLogSNR(s, 800, 1, t0), rng.Source{Seed: 3, Dim: dim}); err != nil {
				t.Fatal(err)
			}
			var s1, s2 float64
			for _, v := range z {
				s1 += float64(v)
				s2 += float64(v) * float64(v)
			}
			n := float64(len(z))
			mean, vr := s1/n, s2/n-s1*s1/n/n
			want := sde.NormalVar(s, t0)
			if math.Abs(mean) > 5*math.Sqrt(want/n) || math.Abs(vr-want) > 5*want*math.Sqrt(2/n)+0.02*want {
				t.Errorf("%s/%s: mean %.4f variance %.4f, want 0 and %.4f", s.Name(), name, mean, vr, want)
			}
		}
	}
}

// With c = 1 the mixed score is the network alone, and in between it is the
// stated convex combination, element by element with c broadcast over the batch.
func TestMixedCombination(t *testing.T) {
	s := sde.NewGeometricVP()
	net := ModelFunc(func(dst, z []float32, t float64) error {
		for i := range dst {
			dst[i] = float32(i) + 0.5
		}
		return nil
	})
	coeff := MixingCoeff([]float32{-2, 0, 3})
	m := Mixed{Net: net, Coeff: coeff, SDE: s}
	z := []float32{1, -2, 0.5, 3, 0.25, -1}
	dst := make([]float32, len(z))
	const tt = 0.4
	if err := m.Eps(dst, z, tt); err != nil {
		t.Fatal(err)
	}
	k := sde.Sigma(s, tt) / sde.NormalVar(s, tt)
	for i := range z {
		c := 1 / (1 + math.Exp(-float64([]float32{-2, 0, 3}[i%3])))
		want := (1-c)*k*float64(z[i]) + c*(float64(i)+0.5)
		if math.Abs(float64(dst[i])-want) > 1e-6 {
			t.Errorf("element %d: %v, want %v", i, dst[i], want)
		}
	}
	if err := (Mixed{Net: net, Coeff: coeff, SDE: s}).Eps(dst[:4], z[:4], tt); err == nil {
		t.Error("accepted a batch that the coefficients do not divide")
	}
}
