package sampler

import (
	"errors"
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Editing with a score model (lsgm-math.md section 5): SDEdit starts the
// reverse process from a diffused guide; inpainting keeps known values and
// samples the rest consistently with them.

// MaxJumps bounds inpainting's resampling per step.
const MaxJumps = 50

// Diffuse writes z_t = m_t z0 + sigma_t noise into z, a draw of the forward
// process at t given z0, the noise from stream StreamGuide.
func Diffuse(z, z0 []float32, s sde.SDE, t float64, noise Noise) {
	noise.Fill(z, 0, rng.StreamGuide)
	m, sg := s.Mean(t), sde.Sigma(s, t)
	for i := range z {
		z[i] = float32(m*float64(z0[i]) + sg*float64(z[i]))
	}
}

// SDEdit (Meng et al., ICLR 2022) diffuses the guides z (n samples of dim,
// replaced by the results) to c.StartTime, the edit's strength, and runs
// c's sampler from there. A strength near 0 returns the guides; at 1 they
// are all but forgotten.
func SDEdit(c Config, m Model, s sde.SDE, z []float32, dim int, noise Noise, cb Callback) (Stats, error) {
	c = c.Defaults(s)
	if !(c.StartTime > 0 && c.StartTime <= 1) {
		return Stats{}, fmt.Errorf("sampler: SDEdit strength %v out of range (0, 1]", c.StartTime)
	}
	if noise == nil {
		return Stats{}, errors.New("sampler: SDEdit needs a noise source")
	}
	z0 := append([]float32(nil), z...)
	Diffuse(z, z0, s, c.StartTime, noise)
	return Run(c, m, s, z, dim, noise, cb)
}

// Inpainting says what is known of an inpainted batch. Exactly one of
// Known or Project is set.
type Inpainting struct {
	// Known and Mask: RePaint (Lugmayr et al., CVPR 2022) in the state's
	// own space (a data-space model's pixels): where Mask is 1 the state
	// is replaced after each step by Known diffused to the step's time.
	Known, Mask []float32
	// Project replaces a batch of predicted clean states x0 in place by
	// the nearest ones consistent with what is known: for a latent model,
	// decode, put the known pixels back, encode. Each step then continues
	// from the projected prediction (a DDIM step with the noise that the
	// projection implies).
	Project func(x0 []float32) error
	// Jumps is how many times each step is taken: between two takes the
	// state is diffused back to the step's start (RePaint's resampling,
	// with jump length 1), so the unknown part can adjust to the known.
	Jumps int
}

// Inpaint runs the ancestral sampler (ddim with c.Eta, or ddpm) from z at
// t = 1 (n samples of dim, replaced by the results) with in's constraint
// applied after every step.
func Inpaint(c Config, m Model, s sde.SDE, z []float32, dim int, in Inpainting, noise Noise, cb Callback) (Stats, error) {
	var st Stats
	c, ts, err := TimeGrid(c, s)
	if err != nil {
		return st, err
	}
	if c.Name != "ddim" && c.Name != "ddpm" {
		return st, fmt.Errorf("sampler: inpainting runs ddim or ddpm, not %s", c.Name)
	}
	if c.StartTime != 1 {
		return st, fmt.Errorf("sampler: inpainting starts at t = 1, not %v", c.StartTime)
	}
	if (in.Known == nil) == (in.Project == nil) {
		return st, errors.New("sampler: inpainting needs either known values and a mask or a projection")
	}
	if in.Known != nil && (len(in.Known) != len(z) || len(in.Mask) != len(z)) {
		return st, fmt.Errorf("sampler: inpainting's known values (%d) and mask (%d) must match the batch (%d)", len(in.Known), len(in.Mask), len(z))
	}
	if in.Jumps < 1 || in.Jumps > MaxJumps {
		return st, fmt.Errorf("sampler: inpainting jumps %d out of range [1, %d]", in.Jumps, MaxJumps)
	}
	if noise == nil && (c.Eta > 0 || in.Known != nil || in.Jumps > 1) {
		return st, errors.New("sampler: inpainting needs a noise source")
	}
	eps, x0 := make([]float32, len(z)), make([]float32, len(z))
	xi := make([]float32, len(z))
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		mt, sgt := s.Mean(t), sde.Sigma(s, t)
		for u := 0; u < in.Jumps; u++ {
			draw := i*in.Jumps + u + 1 // a draw's own counter
			if err := eval(m, &st, eps, z, t); err != nil {
				return st, err
			}
			denoise(x0, z, eps, s, t)
			if in.Project != nil {
				if err := in.Project(x0); err != nil {
					return st, err
				}
				for j := range eps { // the noise the projected x0 implies
					eps[j] = float32((float64(z[j]) - mt*float64(x0[j])) / sgt)
				}
			}
			ms, d, cn := DDIMCoeffs(s, t, tn, c.Eta)
			if cn > 0 {
				noise.Fill(xi, draw, rng.StreamStep)
			}
			for j := range z {
				v := ms*float64(x0[j]) + d*float64(eps[j])
				if cn > 0 {
					v += cn * float64(xi[j])
				}
				z[j] = float32(v)
			}
			if in.Known != nil {
				noise.Fill(xi, draw, rng.StreamKnown)
				sn := sde.Sigma(s, tn)
				for j, k := range in.Mask {
					if k != 0 {
						z[j] = float32(ms*float64(in.Known[j]) + sn*float64(xi[j]))
					}
				}
			}
			if u < in.Jumps-1 { // back to t: z_t | z_tn of the forward process
				a, sn := mt/ms, sde.Sigma(s, tn)
				b := math.Sqrt(math.Max(0, sgt*sgt-a*a*sn*sn))
				noise.Fill(xi, draw, rng.StreamJump)
				for j := range z {
					z[j] = float32(a*float64(z[j]) + b*float64(xi[j]))
				}
			}
		}
		st.Steps++
		if cb != nil {
			cb(Step{I: i + 1, N: n, T: tn, Z: z, Denoised: x0})
		}
	}
	return st, checkFinite(z, ts[n])
}
