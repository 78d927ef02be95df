package sampler

import (
	"fmt"
	"math"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

// guidedModel combines a conditional and an unconditional noise predictor
// with CFG, as the runtime does with one network's two halves.
func guidedModel(cond, uncond Model, w float64) Model {
	return ModelFunc(func(dst, z []float32, t float64) error {
		c, u := make([]float32, len(z)), make([]float32, len(z))
		if err := cond.Eps(c, z, t); err != nil {
			return err
		}
		if err := uncond.Eps(u, z, t); err != nil {
			return err
		}
		CFG(dst, c, u, w)
		return nil
	})
}

// The guidance algebra on the Gaussian oracle: with a class-conditional
// N(mu_c, s^2) and an unconditional N(mu_u, s^2) of equal spread, guidance
// at scale w is exactly the noise predictor of N(mu_u + w (mu_c - mu_u), s^2)
// at every t, so sampling it must land on that Gaussian's moments.
func TestCFGGaussianOracle(t *testing.T) {
	s := sde.NewVP()
	sd := []float64{0.5, 1, 0.3, 1.7}
	cond := gaussian{s: s, mu: []float64{1, -1, 2, 0.5}, sd: sd, Dim: 4}
	uncond := gaussian{s: s, mu: []float64{0, 0.5, -1, 0}, sd: sd, Dim: 4}
	for _, w := range []float64{0, 1, 2, 4} {
		mu := make([]float64, 4)
		for j := range mu {
			mu[j] = uncond.mu[j] + w*(cond.mu[j]-uncond.mu[j])
		}
		target := gaussian{s: s, mu: mu, sd: sd, Dim: 4}
		g := guidedModel(cond, uncond, w)
		// The identity, at a few times and points.
		z := target.start(8, 0.7, 3)
		got, want := make([]float32, len(z)), make([]float32, len(z))
		for _, tt := range []float64{0.05, 0.3, 0.9} {
			g.Eps(got, z, tt)
			target.Eps(want, z, tt)
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("w=%v t=%v: guided eps[%d] = %v, the target's %v", w, tt, i, got[i], want[i])
				}
			}
		}
		// Sampling: the target's moments at the end time.
		const n, t1, t0 = 4000, 1.0, 1e-3
		z = target.start(n, t1, 11)
		if _, err := Run(Config{Name: "heun", NFE: 200, EndTime: t0}, g, s, z, 4, rng.Source{Seed: 5, Dim: 4}, nil); err != nil {
			t.Fatal(err)
		}
		checkMoments(t, fmt.Sprintf("cfg w=%v", w), target, z, t0, 0.02)
	}
}

// On a class-conditional Gaussian mixture, whose unconditional score is the
// mixture's (closed form: responsibilities times component scores), scale 1
// samples the class's own component and scale 0 the mixture.
func TestCFGMixture(t *testing.T) {
	s := sde.NewVP()
	comps, mixture, _ := testMixture(s)
	const n, t0 = 6000, 1e-3
	for _, c := range []struct {
		w          float64
		mean, vari float64
	}{
		{1, 1.5, 0.64},
		{0, 0.3*-2 + 0.7*1.5, 0.3*(0.25+4) + 0.7*(0.64+2.25) - math.Pow(0.3*-2+0.7*1.5, 2)},
	} {
		z := make([]float32, n)
		rng.Source{Seed: 9, Dim: 1}.Fill(z, 0, rng.StreamInit) // N(0, 1): the VP prior at t = 1
		if _, err := Run(Config{Name: "heun", NFE: 80, EndTime: t0}, guidedModel(comps[1], mixture, c.w), s, z, 1, rng.Source{Seed: 2, Dim: 1}, nil); err != nil {
			t.Fatal(err)
		}
		checkScalar(t, fmt.Sprintf("w=%v", c.w), z, c.mean, c.vari)
	}
}

// Classifier guidance on the same mixture with the exact classifier:
// p(y | z_t) is the component's responsibility, whose gradient is the
// component's score minus the mixture's. Scale 1 samples the class's own
// component, scale 0 the mixture, and at scale 4 the guided noise equals
// the closed form eps - 4 sigma grad at every point.
func TestClassifierGuidanceMixture(t *testing.T) {
	s := sde.NewVP()
	_, mixture, resp := testMixture(s)
	const class = 1
	grad := func(dst, z []float32, t float64) error {
		for i, v := range z {
			r, sc := resp(float64(v), t)
			dst[i] = float32(sc[class] - (r[0]*sc[0] + r[1]*sc[1]))
		}
		return nil
	}
	// The identity at scale 4.
	g4 := ClassifierGuided(mixture, grad, 4, s)
	for _, tt := range []float64{0.05, 0.5, 0.95} {
		z := []float32{-2.5, -0.3, 0.4, 1.9}
		got, eps, gr := make([]float32, 4), make([]float32, 4), make([]float32, 4)
		g4.Eps(got, z, tt)
		mixture.Eps(eps, z, tt)
		grad(gr, z, tt)
		for i := range z {
			want := float64(eps[i]) - 4*sde.Sigma(s, tt)*float64(gr[i])
			if math.Abs(float64(got[i])-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("t=%v: guided eps %v, want %v", tt, got[i], want)
			}
		}
	}
	const n, t0 = 6000, 1e-3
	for _, c := range []struct {
		scale      float64
		mean, vari float64
	}{
		{1, 1.5, 0.64},
		{0, 0.3*-2 + 0.7*1.5, 0.3*(0.25+4) + 0.7*(0.64+2.25) - math.Pow(0.3*-2+0.7*1.5, 2)},
	} {
		z := make([]float32, n)
		rng.Source{Seed: 9, Dim: 1}.Fill(z, 0, rng.StreamInit)
		if _, err := Run(Config{Name: "heun", NFE: 80, EndTime: t0}, ClassifierGuided(mixture, grad, c.scale, s), s, z, 1, rng.Source{Seed: 2, Dim: 1}, nil); err != nil {
			t.Fatal(err)
		}
		checkScalar(t, fmt.Sprintf("classifier scale %v", c.scale), z, c.mean, c.vari)
	}
}

// testMixture is the 1-D class-conditional Gaussian mixture of the guidance
// tests: components N(-2, 0.5^2) and N(1.5, 0.8^2) with weights 0.3 and 0.7,
// its exact noise predictor, and resp, the responsibilities and each
// component's score at z and t.
func testMixture(s sde.SDE) (comps []gaussian, mixture Model, resp func(v, t float64) (r, score [2]float64)) {
	comps = []gaussian{
		{s: s, mu: []float64{-2}, sd: []float64{0.5}, Dim: 1},
		{s: s, mu: []float64{1.5}, sd: []float64{0.8}, Dim: 1},
	}
	pi := []float64{0.3, 0.7}
	resp = func(v, t float64) (r, score [2]float64) {
		var den float64
		for k, c := range comps {
			m, vr := c.marginal(t, 0)
			r[k] = pi[k] * math.Exp(-0.5*(v-m)*(v-m)/vr) / math.Sqrt(vr)
			score[k] = -(v - m) / vr
			den += r[k]
		}
		r[0], r[1] = r[0]/den, r[1]/den
		return r, score
	}
	// eps = -sigma times the mixture's score: sum_k r_k score_k.
	mixture = ModelFunc(func(dst, z []float32, t float64) error {
		sg := sde.Sigma(s, t)
		for i, v := range z {
			r, sc := resp(float64(v), t)
			dst[i] = float32(-sg * (r[0]*sc[0] + r[1]*sc[1]))
		}
		return nil
	})
	return comps, mixture, resp
}

// checkScalar asserts 1-D samples z have the mean and variance asked for,
// within 5 standard errors plus a small discretization allowance.
func checkScalar(t *testing.T, name string, z []float32, mean, vari float64) {
	t.Helper()
	n := float64(len(z))
	var m, m2 float64
	for _, v := range z {
		m += float64(v)
		m2 += float64(v) * float64(v)
	}
	m /= n
	vr := m2/n - m*m
	if math.Abs(m-mean) > 5*math.Sqrt(vari/n)+0.02 || math.Abs(vr-vari) > 5*vari*math.Sqrt(2/n)+0.03*vari {
		t.Errorf("%s: mean %.4f var %.4f, want %.4f and %.4f", name, m, vr, mean, vari)
	}
	t.Logf("%s: mean %.4f var %.4f (want %.4f, %.4f)", name, m, vr, mean, vari)
}
