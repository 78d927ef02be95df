package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// integral is int_a^b f by composite Simpson on n cells.
func integral(f func(float64) float64, a, b float64, n int) float64 {
	h := (b - a) / float64(n)
	var s float64
	for i := 0; i < n; i++ {
		x := a + float64(i)*h
		s += h / 6 * (f(x) + 4*f(x+h/2) + f(x+h))
	}
	return s
}

// Every scheme's weights give an unbiased estimate of its weighting's
// integral: importance sampled and uniform t agree with quadrature within 4
// standard errors. For an integrand shaped like the Normal denoising error
// (1 - var), ll importance sampling has (near) zero variance.
func TestTimeWeightsUnbiased(t *testing.T) {
	sdes := []struct {
		s   sde.SDE
		eps float64
	}{{sde.NewVP(), 0.01}, {sde.NewGeometricVP(), 0}}
	for _, c := range sdes {
		s := c.s
		// A smooth stand-in for E||noise - eps||^2: the error of an
		// imperfect Normal denoiser, shaped like 1 - var.
		f := func(t float64) float64 { return 1.2 - s.Var(t) + 0.1*math.Sin(5*t) }
		ll := func(t float64) float64 { return s.G2(t) / s.Var(t) / 2 * f(t) }
		weights := map[string]func(float64) float64{
			"ll":           ll,
			"drop_all":     func(t float64) float64 { return f(t) / 2 },
			"drop_sigma2t": func(t float64) float64 { return s.G2(t) / 2 * f(t) },
		}
		// the ll integrand is sharp near t = 0: integrate in log-spaced pieces
		exact := func(g func(float64) float64) float64 {
			var tot float64
			a := c.eps
			for _, b := range []float64{1e-4, 1e-3, 1e-2, 0.1, 1} {
				if b > a {
					tot += integral(g, a, b, 20000)
					a = b
				}
			}
			return tot
		}
		sd := map[string]float64{}
		for _, scheme := range TimeSchemes {
			ts, err := NewTimeSampler(s, c.eps, scheme)
			if err != nil {
				if scheme == "ll_iw" && c.eps == 0 && s.Var(0) == 0 {
					continue
				}
				t.Fatalf("%s %s: %v", s.Name(), scheme, err)
			}
			wantP := exact(weights[scheme[:len(scheme)-len(suffix(scheme))]])
			r := rand.New(rand.NewPCG(1, 2))
			const n = 200000
			var sp, sp2, sn, sn2 float64
			for i := 0; i < n; i++ {
				tt, w := ts.Draw(r)
				if tt < c.eps || tt > 1 {
					t.Fatalf("%s: t = %v outside [%v, 1]", scheme, tt, c.eps)
				}
				p, q := w*f(tt), w*(1-s.Var(tt))
				sp, sp2, sn, sn2 = sp+p, sp2+p*p, sn+q, sn2+q*q
			}
			mp := sp / n
			seP := math.Sqrt((sp2/n - mp*mp) / n)
			sd[scheme] = math.Sqrt(math.Max(0, sn2/n-sn*sn/n/n))
			if math.Abs(mp-wantP) > 4*seP+1e-9*wantP {
				t.Errorf("%s %s: estimate %.5g ± %.2g, integral %.5g", s.Name(), scheme, mp, seP, wantP)
			}
			t.Logf("%s %-20s %.5g ± %.2g (integral %.5g); sd for 1-var %.3g", s.Name(), scheme, mp, seP, wantP, sd[scheme])
		}
		if _, ok := sd["ll_iw"]; ok && sd["ll_iw"] > 1e-4 {
			t.Errorf("%s: ll_iw sd %.3g on 1-var is not near zero (uniform: %.3g)", s.Name(), sd["ll_iw"], sd["ll_uniform"])
		}
	}
}

func suffix(scheme string) string {
	if scheme[len(scheme)-3:] == "_iw" {
		return "_iw"
	}
	return "_uniform"
}

func TestTimeSamplerErrors(t *testing.T) {
	if _, err := NewTimeSampler(sde.NewVP(), 0.01, "magic"); err == nil {
		t.Error("unknown scheme accepted")
	}
	if _, err := NewTimeSampler(sde.NewVP(), 0, "ll_iw"); err == nil {
		t.Error("ll_iw with var(eps) = 0 accepted")
	}
	if _, err := NewTimeSampler(sde.NewVP(), -1, "ll_uniform"); err == nil {
		t.Error("negative epsilon accepted")
	}
}
