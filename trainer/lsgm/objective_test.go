package lsgm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/weights"
)

// gaussianModel is the fixture architecture whose encoder ignores x and
// returns mu and log sigma exactly (zero weights, head biases set), and whose
// mixing logits switch the score network off (c = sigmoid(-40)), so the
// prior is the exact N(0, I) denoiser eps = sigma z / (m^2 + sigma^2).
func gaussianModel(t *testing.T, kind string, mu, logSigma float32) *weights.File {
	cfg := weights.TinyConfig()
	cfg.SDE = weights.SDESpec{Kind: kind}
	a, err := weights.NewArch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Random(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	muHead, lsHead := a.Encoder.Output("mu"), a.Encoder.Output("log_sigma")
	for i := range f.Tensors {
		tt := &f.Tensors[i]
		switch {
		case tt.Name == weights.ParamName("encoder", muHead, "bias"):
			fillConst(tt.Data, mu)
		case tt.Name == weights.ParamName("encoder", lsHead, "bias"):
			fillConst(tt.Data, logSigma)
		case tt.Name == weights.ParamName("encoder", muHead, "weight"), tt.Name == weights.ParamName("encoder", lsHead, "weight"):
			clear(tt.Data)
		case tt.Name == a.MixLogit:
			fillConst(tt.Data, -40)
		}
	}
	return f
}

func fillConst(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// On a Gaussian latent q(z0) = N(mu, s^2) with the exact N(0, I) prior
// denoiser, the denoising estimate of the cross entropy plus CEConst equals
// the analytic CE(q(z_eps) || N(0, P_eps)) within Monte Carlo error, for
// uniform and importance-sampled t.
func TestCrossEntropyMatchesAnalytic(t *testing.T) {
	cases := []struct {
		kind, scheme string
		eps          float64
	}{
		{"geometric_vpsde", "ll_iw", 0}, // the same draws as ll_uniform here
		{"vpsde", "ll_iw", 0.01},        // ll_uniform is valid too, with 15x the variance
	}
	const mu, logSigma = 0.7, -0.9
	for _, c := range cases {
		f := gaussianModel(t, c.kind, mu, logSigma)
		s, err := sde.New(c.kind, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := runtime.NewTimeSampler(s, c.eps, c.scheme)
		if err != nil {
			t.Fatal(err)
		}
		const B = 32
		g, err := NewGraph(f, StageJoint, B, true)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(9, 9))
		for i := range g.X {
			g.X[i] = float32(r.IntN(2))
		}
		const runs = 80
		var sum, sum2 float64
		d := float64(weights.Numel(f.Arch.LatentShape))
		for k := 0; k < runs; k++ {
			fill(r, g.N0)
			fill(r, g.N1)
			tt := make([]float64, B)
			for i := range tt {
				var w float64
				tt[i], w = ts.Draw(r)
				g.W[i] = float32(w)
			}
			g.SetTimes(s, tt)
			v, err := g.Run()
			if err != nil {
				t.Fatal(err)
			}
			m, ls := g.Posterior()
			if m[0] != mu || ls[5] != logSigma {
				t.Fatalf("encoder gives mu %v, log sigma %v; want %v, %v", m[0], ls[5], mu, logSigma)
			}
			ce := v.CE + CEConst(s, c.eps, m, ls, B)
			sum += ce
			sum2 += ce * ce
		}
		g.Close()
		mean := sum / runs
		se := math.Sqrt((sum2/runs - mean*mean) / runs)
		// Analytic CE(q(z_eps) || p(z_eps)) per dimension, p(z_eps) = N(0, P).
		me, ve := s.Mean(c.eps), s.Var(c.eps)
		s2 := math.Exp(2 * logSigma)
		P := me*me + ve
		want := d * (0.5*math.Log(2*math.Pi*P) + (me*me*(mu*mu+s2)+ve)/(2*P))
		t.Logf("%s %s: CE estimate %.3f ± %.3f, analytic %.3f (D = %g)", c.kind, c.scheme, mean, se, want, d)
		if math.Abs(mean-want) > 4*se+1e-3*d {
			t.Errorf("%s %s: CE estimate %.3f ± %.3f, analytic %.3f", c.kind, c.scheme, mean, se, want)
		}
	}
}

// Without the t = 1 boundary term the estimate would be off by a known
// amount; this guards CEConst against silently dropping it.
func TestCEConstBoundaryTerm(t *testing.T) {
	s := sde.NewVP()
	mu, ls := []float32{3, 3}, []float32{0, 0}
	got := CEConst(s, 0.01, mu, ls, 1)
	base := 2 * 0.5 * math.Log(2*math.Pi*math.E*s.Var(0.01))
	if math.Abs(got-base) < 1e-6 {
		t.Errorf("boundary term missing: %v", got-base)
	}
}
