package sampler

import (
	"math"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

// SDEdit on the Gaussian oracle (lsgm-math.md section 6). From the guide x
// diffused to t0, z = m x + sigma e, the probability-flow ODE is the affine
// map between the marginals' quantiles (gaussian.exact); the reverse SDE
// draws from p(x0 | z) = N(mu + k (z - m mu), s^2 sigma^2 / V), k = m s^2 / V,
// V = m^2 s^2 + sigma^2, so over the guide's noise the results have mean
// mu + k m (x - mu) and variance k^2 sigma^2 + s^2 sigma^2 / V.
func TestSDEditOracle(t *testing.T) {
	s := sde.NewVP()
	g := newGaussian(s)
	const n = 4000
	guide := make([]float32, n*g.Dim)
	for i := range guide {
		guide[i] = float32(g.mu[i%4] + 2*g.sd[i%4]) // two standard deviations out
	}
	noise := rng.Source{Seed: 3, Dim: g.Dim}
	for _, t0 := range []float64{0.2, 0.5, 0.8} {
		// The ODE: each result is the exact flow of its own diffused guide.
		z := append([]float32(nil), guide...)
		cfg := Config{Name: "rk45", StartTime: t0, RTol: 1e-6, ATol: 1e-6}
		if _, err := SDEdit(cfg, g, s, z, g.Dim, noise, nil); err != nil {
			t.Fatal(err)
		}
		zt := make([]float32, len(guide))
		Diffuse(zt, guide, s, t0, noise)
		want := g.exact(zt, t0, cfg.Defaults(s).EndTime)
		worst := 0.0
		for i := range z {
			worst = math.Max(worst, math.Abs(float64(z[i])-want[i]))
		}
		if worst > 1e-3 {
			t.Errorf("t0 = %v: rk45 SDEdit off the exact flow by %.3g", t0, worst)
		}
		// The reverse SDE: the moments over the guide's noise.
		z = append([]float32(nil), guide...)
		if _, err := SDEdit(Config{Name: "ddpm", NFE: 200, StartTime: t0}, g, s, z, g.Dim, noise, nil); err != nil {
			t.Fatal(err)
		}
		m, sg2 := s.Mean(t0), s.Var(t0)
		for j := 0; j < 4; j++ {
			s2 := g.sd[j] * g.sd[j]
			v := m*m*s2 + sg2
			k := m * s2 / v
			wm := g.mu[j] + k*m*(float64(guide[j])-g.mu[j])
			wv := k*k*sg2 + s2*sg2/v
			var sum, sum2 float64
			for i := j; i < len(z); i += 4 {
				sum += float64(z[i])
				sum2 += float64(z[i]) * float64(z[i])
			}
			mean := sum / n
			vr := sum2/n - mean*mean
			seM, seV := math.Sqrt(wv/n), wv*math.Sqrt(2.0/n)
			// 200 ancestral steps: allow 2% of a standard deviation of bias
			if math.Abs(mean-wm) > 5*seM+0.02*math.Sqrt(wv) || math.Abs(vr-wv) > 5*seV+0.02*wv {
				t.Errorf("t0 = %v, element %d: ddpm SDEdit mean %.4f var %.4f, want %.4f and %.4f (5 SE %.4f, %.4f)", t0, j, mean, vr, wm, wv, 5*seM, 5*seV)
			}
		}
	}
}

// corrGaussian is the exact noise predictor for 2-D data N(0, [[1, r],
// [r, 1]]): the marginal at t is N(0, C), C = m^2 Sigma + sigma^2 I, and
// eps = sigma C^-1 z.
type corrGaussian struct {
	s sde.SDE
	r float64
}

func (g corrGaussian) Eps(dst, z []float32, t float64) error {
	m, v := g.s.Mean(t), g.s.Var(t)
	a, b := m*m+v, m*m*g.r // C = [[a, b], [b, a]]
	det := a*a - b*b
	sg := math.Sqrt(v)
	for i := 0; i < len(z); i += 2 {
		x, y := float64(z[i]), float64(z[i+1])
		dst[i] = float32(sg * (a*x - b*y) / det)
		dst[i+1] = float32(sg * (-b*x + a*y) / det)
	}
	return nil
}

// Inpainting on the oracle: with the first coordinate known to be k, the
// second must follow N(r k, 1 - r^2). RePaint's replacement and the
// projection of the clean prediction both get there with resampling;
// without it the sample ignores most of the correlation (the known value
// enters late), which the test also shows.
func TestInpaintOracle(t *testing.T) {
	s := sde.NewVP()
	const r, k, n = 0.9, 1.5, 4000
	g := corrGaussian{s, r}
	known, mask := make([]float32, 2*n), make([]float32, 2*n)
	for i := 0; i < n; i++ {
		known[2*i], mask[2*i] = k, 1
	}
	wm, wv := r*k, 1-r*r
	biasJumps := 0.0
	for _, c := range []struct {
		name  string
		jumps int
		proj  bool
		tol   float64 // allowed bias, in conditional standard deviations
	}{
		{"repaint", 10, false, 0.1},
		{"projection", 10, true, 0.1},
		{"repaint without resampling", 1, false, -1}, // must miss by more
	} {
		z := make([]float32, 2*n)
		noise := rng.Source{Seed: 5, Dim: 2}
		Prior(z, s, noise, 1)
		in := Inpainting{Jumps: c.jumps}
		if c.proj {
			in.Project = func(x0 []float32) error {
				for i := 0; i < len(x0); i += 2 {
					x0[i] = k
				}
				return nil
			}
		} else {
			in.Known, in.Mask = known, mask
		}
		st, err := Inpaint(Config{Name: "ddpm", NFE: 50}, g, s, z, 2, in, noise, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sum, sum2, kerr float64
		for i := 0; i < n; i++ {
			y := float64(z[2*i+1])
			sum += y
			sum2 += y * y
			kerr = math.Max(kerr, math.Abs(float64(z[2*i])-k))
		}
		mean := sum / n
		vr := sum2/n - mean*mean
		seM, seV := math.Sqrt(wv/n), wv*math.Sqrt(2.0/n)
		t.Logf("%s (%d NFE): unknown coordinate mean %.4f var %.4f, want %.4f and %.4f; known off by up to %.3g", c.name, st.NFE, mean, vr, wm, wv, kerr)
		if c.tol < 0 {
			if math.Abs(mean-wm) < 3*biasJumps {
				t.Errorf("%s: unknown coordinate mean %.4f, want it further than 3x resampling's %.4f from %.4f", c.name, mean, biasJumps, wm)
			}
			continue
		}
		biasJumps = math.Max(biasJumps, math.Abs(mean-wm))
		if math.Abs(mean-wm) > 5*seM+c.tol*math.Sqrt(wv) || math.Abs(vr-wv) > 5*seV+2*c.tol*wv {
			t.Errorf("%s: unknown coordinate mean %.4f var %.4f, want %.4f and %.4f", c.name, mean, vr, wm, wv)
		}
		if !c.proj && kerr > 0.05 {
			t.Errorf("%s: the known coordinate ends up to %.3g from %v", c.name, kerr, k)
		}
	}
}

func TestEditErrors(t *testing.T) {
	s := sde.NewVP()
	g := corrGaussian{s, 0.5}
	noise := rng.Source{Seed: 1, Dim: 2}
	z := make([]float32, 4)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"strength 0", func() error {
			_, err := SDEdit(Config{Name: "ddim", NFE: 5, StartTime: -0.1}, g, s, z, 2, noise, nil)
			return err
		}()},
		{"strength 1.5", func() error {
			_, err := SDEdit(Config{Name: "ddim", NFE: 5, StartTime: 1.5}, g, s, z, 2, noise, nil)
			return err
		}()},
		{"inpaint with heun", func() error {
			_, err := Inpaint(Config{Name: "heun", NFE: 4}, g, s, z, 2, Inpainting{Known: z, Mask: z, Jumps: 1}, noise, nil)
			return err
		}()},
		{"inpaint without a constraint", func() error {
			_, err := Inpaint(Config{Name: "ddpm", NFE: 4}, g, s, z, 2, Inpainting{Jumps: 1}, noise, nil)
			return err
		}()},
		{"inpaint with a short mask", func() error {
			_, err := Inpaint(Config{Name: "ddpm", NFE: 4}, g, s, z, 2, Inpainting{Known: z, Mask: z[:2], Jumps: 1}, noise, nil)
			return err
		}()},
		{"inpaint with 0 jumps", func() error {
			_, err := Inpaint(Config{Name: "ddpm", NFE: 4}, g, s, z, 2, Inpainting{Known: z, Mask: z}, noise, nil)
			return err
		}()},
	} {
		if c.err == nil {
			t.Errorf("%s accepted", c.name)
		} else {
			t.Logf("%s: %v", c.name, c.err)
		}
	}
}
