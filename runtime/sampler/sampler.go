// Package sampler integrates the reverse-time dynamics of a linear SDE (package
// sde) driven by a noise predictor: probability-flow ODE solvers, stochastic
// samplers and time schedules (lsgm-math.md section 5).
//
// Every sampler is one function with the same leading parameters, in the manner
// of k-diffusion: the model, the SDE, the batch z (updated in place, flattened
// [n * dim]) and the descending time grid ts from ts[0] (usually 1) to the end
// time (ode_eps). Stochastic samplers also take a Noise source. They return the
// number of network evaluations (NFE) they made.
package sampler

import (
	"errors"
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Model predicts the noise: Eps writes eps_theta(z_t, t) for the whole batch z
// into dst (same length). The score is -eps / sigma_t.
type Model interface {
	Eps(dst, z []float32, t float64) error
}

// ModelFunc adapts a function to Model.
type ModelFunc func(dst, z []float32, t float64) error

// Eps calls f.
func (f ModelFunc) Eps(dst, z []float32, t float64) error { return f(dst, z, t) }

// Noise fills dst (a whole batch) with standard normals for a step and stream;
// rng.Source is the implementation, keyed by seed, sample, step and stream.
type Noise interface {
	Fill(dst []float32, step int, stream rng.Stream)
}

// Step is what a progress callback sees after each step: the step index (from
// 1) of N, the time reached, the state, and the current prediction of z_0
// (Denoised, for live previews; it aliases a buffer reused by the next step).
type Step struct {
	I, N     int
	T        float64
	Z        []float32
	Denoised []float32
}

// Callback receives progress; nil means none.
type Callback func(Step)

// Stats reports the cost of a run.
type Stats struct {
	NFE   int // network evaluations
	Steps int // accepted solver steps
}

// ErrNonFinite is wrapped by errors for a state that became NaN or Inf.
var ErrNonFinite = errors.New("sampler: state is not finite")

// Velocity returns the coefficients (a, b) of the probability-flow ODE
// dz/dt = a z + b eps at time t: a = f(t), b = g^2(t) / (2 sigma_t).
func Velocity(s sde.SDE, t float64) (a, b float64) {
	return s.F(t), 0.5 * s.G2(t) / sde.Sigma(s, t)
}

// denoise writes the data prediction x0 = (z - sigma_t eps) / m_t into dst.
func denoise(dst, z, eps []float32, s sde.SDE, t float64) {
	m, sg := s.Mean(t), sde.Sigma(s, t)
	for i := range dst {
		dst[i] = float32((float64(z[i]) - sg*float64(eps[i])) / m)
	}
}

// eval runs the model and counts the evaluation.
func eval(m Model, st *Stats, dst, z []float32, t float64) error {
	st.NFE++
	return m.Eps(dst, z, t)
}

// previewBuffer holds the denoised preview, needed only when someone watches.
func previewBuffer(cb Callback, n int) []float32 {
	if cb == nil {
		return nil
	}
	return make([]float32, n)
}

// report calls cb (if any) after step i of n, computing a preview from eps at t'.
func report(cb Callback, preview []float32, i, n int, t float64, z, eps []float32, s sde.SDE, te float64) {
	if cb == nil {
		return
	}
	denoise(preview, z, eps, s, te)
	cb(Step{I: i, N: n, T: t, Z: z, Denoised: preview})
}

func checkFinite(z []float32, t float64) error {
	for i, v := range z {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: element %d at t=%.4g", ErrNonFinite, i, t)
		}
	}
	return nil
}

// Prior writes the starting batch z_1 ~ N(0, (PriorStd * temperature)^2 I),
// drawn from the Init stream so it never shares noise with a solver step.
func Prior(z []float32, s sde.SDE, noise Noise, temperature float64) {
	noise.Fill(z, 0, rng.StreamInit)
	k := float32(sde.PriorStd(s) * temperature)
	for i := range z {
		z[i] *= k
	}
}

// Euler integrates the probability-flow ODE with explicit Euler steps
// (first order; one NFE per step).
func Euler(m Model, s sde.SDE, z []float32, ts []float64, cb Callback) (Stats, error) {
	var st Stats
	eps := make([]float32, len(z))
	pv := previewBuffer(cb, len(z))
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, h := ts[i], ts[i+1]-ts[i]
		if err := eval(m, &st, eps, z, t); err != nil {
			return st, err
		}
		report(cb, pv, i+1, n, ts[i+1], z, eps, s, t) // preview from this step's eps, before the update
		a, b := Velocity(s, t)
		for j := range z {
			z[j] += float32(h * (a*float64(z[j]) + b*float64(eps[j])))
		}
		st.Steps++
	}
	return st, checkFinite(z, ts[n])
}

// Heun integrates the probability-flow ODE with Heun's method, the second-order
// trapezoidal predictor-corrector of EDM (Karras et al. 2022, Algorithm 1). The
// end time is ode_eps > 0, so every step is corrected: two NFEs per step.
func Heun(m Model, s sde.SDE, z []float32, ts []float64, cb Callback) (Stats, error) {
	var st Stats
	e1, e2 := make([]float32, len(z)), make([]float32, len(z))
	zp := make([]float32, len(z))
	pv := previewBuffer(cb, len(z))
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		h := tn - t
		if err := eval(m, &st, e1, z, t); err != nil {
			return st, err
		}
		a1, b1 := Velocity(s, t)
		for j := range z {
			zp[j] = z[j] + float32(h*(a1*float64(z[j])+b1*float64(e1[j])))
		}
		if err := eval(m, &st, e2, zp, tn); err != nil {
			return st, err
		}
		a2, b2 := Velocity(s, tn)
		for j := range z {
			d1 := a1*float64(z[j]) + b1*float64(e1[j])
			d2 := a2*float64(zp[j]) + b2*float64(e2[j])
			z[j] += float32(0.5 * h * (d1 + d2))
		}
		st.Steps++
		report(cb, pv, i+1, n, tn, z, e2, s, tn)
	}
	return st, checkFinite(z, ts[n])
}

// DDIM takes the steps of Song et al. 2021 ("Denoising Diffusion Implicit
// Models", eq. 12) written for any (m_t, sigma_t):
//
//	x0 = (z - sigma_t eps) / m_t
//	c  = eta sigma_s sqrt(1 - (m_t sigma_s / (m_s sigma_t))^2)
//	z  = m_s x0 + sqrt(sigma_s^2 - c^2) eps + c noise
//
// eta = 0 is the deterministic first-order exponential integrator of the
// probability-flow ODE; eta = 1 is DDPM's ancestral sampler (c^2 is the
// posterior variance of q(z_s | z_t, x0)). noise may be nil when eta = 0.
func DDIM(m Model, s sde.SDE, z []float32, ts []float64, eta float64, noise Noise, cb Callback) (Stats, error) {
	var st Stats
	if eta < 0 || eta > 1 || math.IsNaN(eta) {
		return st, fmt.Errorf("sampler: DDIM eta %v out of range [0, 1]", eta)
	}
	if eta > 0 && noise == nil {
		return st, errors.New("sampler: DDIM with eta > 0 needs a noise source")
	}
	eps := make([]float32, len(z))
	x0 := make([]float32, len(z))
	var xi []float32
	if eta > 0 {
		xi = make([]float32, len(z))
	}
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		if err := eval(m, &st, eps, z, t); err != nil {
			return st, err
		}
		denoise(x0, z, eps, s, t)
		ms, d, c := DDIMCoeffs(s, t, tn, eta)
		if eta > 0 {
			noise.Fill(xi, i+1, rng.StreamStep)
		}
		for j := range z {
			v := ms*float64(x0[j]) + d*float64(eps[j])
			if eta > 0 {
				v += c * float64(xi[j])
			}
			z[j] = float32(v)
		}
		st.Steps++
		if cb != nil {
			cb(Step{I: i + 1, N: n, T: tn, Z: z, Denoised: x0})
		}
	}
	return st, checkFinite(z, ts[n])
}

// DDIMCoeffs are the coefficients of a DDIM step from t to tn:
// z_tn = ms x0 + d eps + c noise. Every backend's DDIM uses them.
func DDIMCoeffs(s sde.SDE, t, tn, eta float64) (ms, d, c float64) {
	mt, sgt := s.Mean(t), sde.Sigma(s, t)
	ms, sgs := s.Mean(tn), sde.Sigma(s, tn)
	r := mt * sgs / (ms * sgt)
	c = eta * sgs * math.Sqrt(math.Max(0, 1-r*r))
	d = math.Sqrt(math.Max(0, sgs*sgs-c*c))
	return ms, d, c
}

// DPMSolverPP2MCoeffs are the coefficients of a DPM-Solver++(2M) step from t
// to tn after a step of log-SNR length hPrev (0 for the first, first-order
// step): z_tn = ratio z + k (c0 x0 + c1 x0_prev); h is this step's length.
func DPMSolverPP2MCoeffs(s sde.SDE, t, tn, hPrev float64) (ratio, k, c0, c1, h float64) {
	h = sde.LogSNR(s, tn) - sde.LogSNR(s, t)
	ratio = sde.Sigma(s, tn) / sde.Sigma(s, t)
	k = -s.Mean(tn) * math.Expm1(-h) // m_s (1 - e^{-h})
	c0 = 1
	if hPrev != 0 {
		r := hPrev / h
		c0, c1 = 1+0.5/r, -0.5/r
	}
	return ratio, k, c0, c1, h
}

// ReverseDiffusionCoeffs are the coefficients of an Euler-Maruyama step of the
// reverse SDE from t to tn: z += h (a z + b eps) + c noise, h = tn - t.
func ReverseDiffusionCoeffs(s sde.SDE, t, tn float64) (a, b, c float64) {
	g2 := s.G2(t)
	return s.F(t), g2 / sde.Sigma(s, t), math.Sqrt(g2 * (t - tn))
}

// DPMSolverPP2M is the multistep second-order DPM-Solver++ (Lu et al. 2022,
// arXiv 2211.01095, Algorithm 2) in log-SNR time lambda = log(m/sigma) with the
// data prediction x0: the first step is first order (DDIM), each later step uses
// the previous x0 for a second-order correction. One NFE per step.
func DPMSolverPP2M(m Model, s sde.SDE, z []float32, ts []float64, cb Callback) (Stats, error) {
	var st Stats
	eps := make([]float32, len(z))
	x0, prev := make([]float32, len(z)), make([]float32, len(z))
	n := len(ts) - 1
	hPrev := 0.0
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		if err := eval(m, &st, eps, z, t); err != nil {
			return st, err
		}
		denoise(x0, z, eps, s, t)
		ratio, k, c0, c1, h := DPMSolverPP2MCoeffs(s, t, tn, hPrev)
		if i == 0 {
			for j := range z {
				z[j] = float32(ratio*float64(z[j]) + k*float64(x0[j]))
			}
		} else {
			for j := range z {
				d := c0*float64(x0[j]) + c1*float64(prev[j])
				z[j] = float32(ratio*float64(z[j]) + k*d)
			}
		}
		x0, prev = prev, x0
		hPrev = h
		st.Steps++
		if cb != nil {
			cb(Step{I: i + 1, N: n, T: tn, Z: z, Denoised: prev})
		}
	}
	return st, checkFinite(z, ts[n])
}

// EulerMaruyama simulates the reverse-time SDE (Song et al. 2021, eq. 6,
// "reverse diffusion" predictor) dz = [f z - g^2 score] dt + g dw:
//
//	z += h (f z + g^2 eps / sigma) + sqrt(g^2 |h|) noise,   h = t_next - t < 0.
//
// The last step adds no noise (it returns the mean, as Song et al. do), since
// noise of scale sqrt(g^2 h) at the final time is not removed by anything after it.
func EulerMaruyama(m Model, s sde.SDE, z []float32, ts []float64, noise Noise, cb Callback) (Stats, error) {
	var st Stats
	if noise == nil {
		return st, errors.New("sampler: Euler-Maruyama needs a noise source")
	}
	eps, xi := make([]float32, len(z)), make([]float32, len(z))
	pv := previewBuffer(cb, len(z))
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		if err := eval(m, &st, eps, z, t); err != nil {
			return st, err
		}
		report(cb, pv, i+1, n, tn, z, eps, s, t)
		reverseDiffusionStep(z, eps, xi, s, t, tn, noise, i+1, i == n-1)
		st.Steps++
	}
	return st, checkFinite(z, ts[n])
}

// reverseDiffusionStep applies one Euler-Maruyama step of the reverse SDE from t to tn.
func reverseDiffusionStep(z, eps, xi []float32, s sde.SDE, t, tn float64, noise Noise, step int, last bool) {
	h := tn - t
	a, b, c := ReverseDiffusionCoeffs(s, t, tn)
	if !last {
		noise.Fill(xi, step, rng.StreamStep)
	}
	for j := range z {
		v := float64(z[j]) + h*(a*float64(z[j])+b*float64(eps[j]))
		if !last {
			v += c * float64(xi[j])
		}
		z[j] = float32(v)
	}
}

// Langevin configures the corrector of PredictorCorrector.
type Langevin struct {
	SNR   float64 // target signal-to-noise ratio r: step e = 2 (r |noise| / |score|)^2
	Steps int     // corrector steps per time step
	Dim   int     // elements per sample (the step uses the batch mean of per-sample norms)
}

// PredictorCorrector is the PC sampler of Song et al. 2021 (Algorithms 1-3): at
// each time a Langevin corrector (Steps moves z += e score + sqrt(2e) noise, e set
// by the target SNR over the batch) then a reverse-diffusion predictor step.
// NFE = (1 + Steps) per time step. The corrector's step size depends on the batch,
// so a seed reproduces the same samples for the same batch size.
func PredictorCorrector(m Model, s sde.SDE, z []float32, ts []float64, lc Langevin, noise Noise, cb Callback) (Stats, error) {
	var st Stats
	if noise == nil {
		return st, errors.New("sampler: predictor-corrector needs a noise source")
	}
	if lc.Dim <= 0 || len(z)%lc.Dim != 0 {
		return st, fmt.Errorf("sampler: Langevin Dim %d does not divide the batch length %d", lc.Dim, len(z))
	}
	if !(lc.SNR > 0) || lc.Steps < 0 {
		return st, fmt.Errorf("sampler: Langevin needs SNR > 0 and Steps >= 0, got %v and %d", lc.SNR, lc.Steps)
	}
	eps, xi := make([]float32, len(z)), make([]float32, len(z))
	pv := previewBuffer(cb, len(z))
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		for k := 0; k < lc.Steps; k++ {
			if err := eval(m, &st, eps, z, t); err != nil {
				return st, err
			}
			noise.Fill(xi, i+1, rng.StreamCorrector+rng.Stream(k))
			langevinMove(z, eps, xi, sde.Sigma(s, t), lc.SNR, lc.Dim)
		}
		if err := eval(m, &st, eps, z, t); err != nil {
			return st, err
		}
		report(cb, pv, i+1, n, tn, z, eps, s, t)
		reverseDiffusionStep(z, eps, xi, s, t, tn, noise, i+1, i == n-1)
		st.Steps++
	}
	return st, checkFinite(z, ts[n])
}

// langevinMove makes one Langevin move z += e score + sqrt(2e) xi with
// score = -eps / sigma and e = 2 (snr |xi| / |score|)^2, the norms being means
// of per-sample norms over the batch (Song et al.'s rule). A per-sample e would
// make the batch independent, but a step size that depends on the state biases
// the chain's stationary law: measured on the Gaussian oracle, a 0.09-variance
// element came out 11% too wide even at snr 0.04, against 0.8% with batch means.
func langevinMove(z, eps, xi []float32, sigma, snr float64, dim int) {
	var gn, nn float64
	for off := 0; off < len(z); off += dim {
		var a, b float64
		for j := off; j < off+dim; j++ {
			g := float64(eps[j]) / sigma
			a += g * g
			b += float64(xi[j]) * float64(xi[j])
		}
		gn += math.Sqrt(a)
		nn += math.Sqrt(b)
	}
	if gn == 0 {
		return
	}
	e := 2 * snr * snr * nn * nn / (gn * gn)
	c := math.Sqrt(2 * e)
	for j := range z {
		z[j] = float32(float64(z[j]) - e*float64(eps[j])/sigma + c*float64(xi[j]))
	}
}

// AnnealedLangevin is NCSN's annealed Langevin dynamics (Song & Ermon 2019,
// Algorithm 1) on the VESDE: for each noise level sigma_i = sigma(t_i) of ts
// (ts[0] through ts[len-1], descending), stepsPerLevel moves
// z += (a_i / 2) score + sqrt(a_i) noise with a_i = stepLR sigma_i^2 / sigma_L^2.
// NFE = len(ts) * stepsPerLevel.
func AnnealedLangevin(m Model, s sde.SDE, z []float32, ts []float64, stepsPerLevel int, stepLR float64, noise Noise, cb Callback) (Stats, error) {
	var st Stats
	if _, ok := s.(sde.VE); !ok {
		return st, fmt.Errorf("sampler: annealed Langevin dynamics needs the vesde, not %s", s.Name())
	}
	if noise == nil {
		return st, errors.New("sampler: annealed Langevin needs a noise source")
	}
	if stepsPerLevel < 1 || !(stepLR > 0) {
		return st, fmt.Errorf("sampler: annealed Langevin needs steps per level >= 1 and step size > 0, got %d, %v", stepsPerLevel, stepLR)
	}
	sL := sde.Sigma(s, ts[len(ts)-1])
	// At a level where the marginal variance is about sigma_i^2, the move's
	// contraction is 1 - a_i / (2 sigma_i^2) = 1 - stepLR / (2 sigma_L^2): beyond
	// stepLR = 2 sigma_L^2 the chain diverges, and near it it oscillates.
	if stepLR >= sL*sL {
		return st, fmt.Errorf("sampler: annealed Langevin step size %v must be below sigma_min^2 = %.3g (NCSN uses 2e-5 for sigma_min 0.01)", stepLR, sL*sL)
	}
	eps, xi := make([]float32, len(z)), make([]float32, len(z))
	pv := previewBuffer(cb, len(z))
	for i, t := range ts {
		sg := sde.Sigma(s, t)
		a := stepLR * sg * sg / (sL * sL)
		for k := 0; k < stepsPerLevel; k++ {
			if err := eval(m, &st, eps, z, t); err != nil {
				return st, err
			}
			noise.Fill(xi, i*stepsPerLevel+k+1, rng.StreamStep)
			c := math.Sqrt(a)
			for j := range z {
				z[j] = float32(float64(z[j]) - 0.5*a*float64(eps[j])/sg + c*float64(xi[j]))
			}
		}
		st.Steps++
		report(cb, pv, i+1, len(ts), t, z, eps, s, t)
	}
	return st, checkFinite(z, ts[len(ts)-1])
}
