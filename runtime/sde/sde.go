// Package sde holds the forward diffusions of lsgm-math.md section 2. Each is
// linear in z: dz = F(t) z dt + sqrt(G2(t)) dw, t in [0, 1], so its marginal given
// z0 is N(Mean(t) z0, Var(t) I). Everything here is a scalar function of t.
package sde

import (
	"fmt"
	"math"
)

// SDE is a linear forward diffusion.
type SDE interface {
	Name() string
	F(t float64) float64    // drift coefficient f(t)
	G2(t float64) float64   // squared diffusion g^2(t)
	Mean(t float64) float64 // m_t = exp(int_0^t f)
	Var(t float64) float64  // sigma_t^2, the noise variance of z_t given z0
	// InvVar returns the t in [0, 1] with Var(t) = v (Var is increasing).
	InvVar(v float64) float64
}

// Sigma returns sigma_t.
func Sigma(s SDE, t float64) float64 { return math.Sqrt(s.Var(t)) }

// LogSNR returns lambda(t) = log(m_t / sigma_t), decreasing in t.
func LogSNR(s SDE, t float64) float64 { return math.Log(s.Mean(t)) - 0.5*math.Log(s.Var(t)) }

// NormalVar is the marginal variance at t when z0 ~ N(0, I): m_t^2 + sigma_t^2.
// It is 1 for the plain VPSDE and the std^2 of the sampler's starting noise.
func NormalVar(s SDE, t float64) float64 { m := s.Mean(t); return m*m + s.Var(t) }

// PriorStd is the standard deviation of z_1 under an N(0, I) latent: samplers
// start from N(0, PriorStd^2 I) (times a temperature).
func PriorStd(s SDE) float64 { return math.Sqrt(NormalVar(s, 1)) }

// InvLogSNR returns the t in [0, 1] with LogSNR(t) = lambda, by bisection
// (lambda is strictly decreasing for every SDE here).
func InvLogSNR(s SDE, lambda float64) float64 {
	return bisect(func(t float64) float64 { return -LogSNR(s, t) }, -lambda)
}

// InvEDMSigma returns the t with sigma_t / m_t = sigma (the noise level of the
// equivalent variance-exploding process, EDM's sigma).
func InvEDMSigma(s SDE, sigma float64) float64 {
	return bisect(func(t float64) float64 { return Sigma(s, t) / s.Mean(t) }, sigma)
}

// bisect solves f(t) = y for an increasing f on [0, 1], clamping outside.
func bisect(f func(float64) float64, y float64) float64 {
	lo, hi := 0.0, 1.0
	if y <= f(lo) {
		return lo
	}
	if y >= f(hi) {
		return hi
	}
	for i := 0; i < 200 && hi-lo > 1e-15; i++ {
		mid := 0.5 * (lo + hi)
		if f(mid) < y {
			lo = mid
		} else {
			hi = mid
		}
	}
	return 0.5 * (lo + hi)
}

func clamp01(t float64) float64 { return math.Min(1, math.Max(0, t)) }

// VP is the variance-preserving SDE with linear beta(t) = B0 + (B1-B0) t (Song et
// al. 2021; DDPM's continuous limit), with an optional variance Sigma2_0 at t=0.
type VP struct{ B0, B1, Sigma2_0 float64 }

// NewVP returns the standard VPSDE (beta 0.1 to 20, no variance at t=0).
func NewVP() VP { return VP{B0: 0.1, B1: 20} }

func (s VP) Name() string              { return "vpsde" }
func (s VP) intBeta(t float64) float64 { return s.B0*t + 0.5*(s.B1-s.B0)*t*t }
func (s VP) G2(t float64) float64      { return s.B0 + (s.B1-s.B0)*t }
func (s VP) F(t float64) float64       { return -0.5 * s.G2(t) }
func (s VP) Mean(t float64) float64    { return math.Exp(-0.5 * s.intBeta(t)) }
func (s VP) Var(t float64) float64 {
	return 1 - (1-s.Sigma2_0)*math.Exp(-s.intBeta(t))
}
func (s VP) InvVar(v float64) float64 {
	return clamp01(invQuadratic(s.B0, s.B1, -math.Log((1-v)/(1-s.Sigma2_0))))
}

// invQuadratic solves b0 t + (b1-b0) t^2/2 = B for t >= 0.
func invQuadratic(b0, b1, B float64) float64 {
	a := b1 - b0
	if a == 0 {
		return B / b0
	}
	return (-b0 + math.Sqrt(b0*b0+2*a*B)) / a
}

// GeometricVP is LSGM's variance-preserving SDE with geometric variance (Vahdat
// et al. 2021, section 3.4): with likelihood weighting the DSM integrand's scale
// is constant in t, so uniform t has low variance.
type GeometricVP struct{ Sigma2Min, Sigma2Max, Sigma2_0 float64 }

// NewGeometricVP returns LSGM's settings: sigma2_min = sigma2_0 = 3e-5, sigma2_max = 0.999.
func NewGeometricVP() GeometricVP {
	return GeometricVP{Sigma2Min: 3e-5, Sigma2Max: 0.999, Sigma2_0: 3e-5}
}

func (s GeometricVP) Name() string   { return "geometric_vpsde" }
func (s GeometricVP) ratio() float64 { return s.Sigma2Max / s.Sigma2Min }
func (s GeometricVP) sg(t float64) float64 {
	return s.Sigma2Min * math.Pow(s.ratio(), t)
}
func (s GeometricVP) Var(t float64) float64 { return s.sg(t) - s.Sigma2Min + s.Sigma2_0 }
func (s GeometricVP) G2(t float64) float64 {
	sg := s.sg(t)
	return sg * math.Log(s.ratio()) / (1 - s.Sigma2_0 + s.Sigma2Min - sg)
}
func (s GeometricVP) F(t float64) float64 { return -0.5 * s.G2(t) }
func (s GeometricVP) Mean(t float64) float64 {
	return math.Sqrt(1 + s.Sigma2Min*(1-math.Pow(s.ratio(), t))/(1-s.Sigma2_0))
}
func (s GeometricVP) InvVar(v float64) float64 {
	return clamp01(math.Log((v+s.Sigma2Min-s.Sigma2_0)/s.Sigma2Min) / math.Log(s.ratio()))
}

// VE is the variance-exploding SDE (NCSN as an SDE): sigma(t) = SigmaMin
// (SigmaMax/SigmaMin)^t, dz = sqrt(d sigma^2/dt) dw.
type VE struct{ SigmaMin, SigmaMax float64 }

// NewVE returns a VESDE scaled for unit-variance latents (sigma 0.01 to 50).
func NewVE() VE { return VE{SigmaMin: 0.01, SigmaMax: 50} }

func (s VE) Name() string            { return "vesde" }
func (s VE) sigma(t float64) float64 { return s.SigmaMin * math.Pow(s.SigmaMax/s.SigmaMin, t) }
func (s VE) F(float64) float64       { return 0 }
func (s VE) G2(t float64) float64 {
	sg := s.sigma(t)
	return 2 * sg * sg * math.Log(s.SigmaMax/s.SigmaMin)
}
func (s VE) Mean(float64) float64  { return 1 }
func (s VE) Var(t float64) float64 { sg := s.sigma(t); return sg * sg }
func (s VE) InvVar(v float64) float64 {
	return clamp01(math.Log(math.Sqrt(v)/s.SigmaMin) / math.Log(s.SigmaMax/s.SigmaMin))
}

// SubVP is the sub-VP SDE of Song et al. 2021: the VP drift with g^2(t) =
// beta(t) (1 - exp(-2 int beta)); its variance stays below the VP's.
type SubVP struct{ B0, B1 float64 }

// NewSubVP returns the sub-VPSDE with beta 0.1 to 20.
func NewSubVP() SubVP { return SubVP{B0: 0.1, B1: 20} }

func (s SubVP) Name() string              { return "subvpsde" }
func (s SubVP) intBeta(t float64) float64 { return s.B0*t + 0.5*(s.B1-s.B0)*t*t }
func (s SubVP) beta(t float64) float64    { return s.B0 + (s.B1-s.B0)*t }
func (s SubVP) F(t float64) float64       { return -0.5 * s.beta(t) }
func (s SubVP) G2(t float64) float64      { return s.beta(t) * (1 - math.Exp(-2*s.intBeta(t))) }
func (s SubVP) Mean(t float64) float64    { return math.Exp(-0.5 * s.intBeta(t)) }
func (s SubVP) Var(t float64) float64 {
	d := 1 - math.Exp(-s.intBeta(t))
	return d * d
}
func (s SubVP) InvVar(v float64) float64 {
	return clamp01(invQuadratic(s.B0, s.B1, -math.Log(1-math.Sqrt(v))))
}

// New builds an SDE from its name and parameters as a weights file stores them;
// missing parameters take the defaults above, out-of-range ones are an error.
func New(kind string, params map[string]float64) (SDE, error) {
	for k, v := range params {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("sde: parameter %s of %s is %v", k, kind, v)
		}
	}
	get := func(k string, def float64) float64 {
		if v, ok := params[k]; ok {
			return v
		}
		return def
	}
	var s SDE
	switch kind {
	case "vpsde":
		d := NewVP()
		v := VP{B0: get("beta_start", d.B0), B1: get("beta_end", d.B1), Sigma2_0: get("sigma2_0", 0)}
		if !(v.B0 > 0 && v.B1 >= v.B0 && v.Sigma2_0 >= 0 && v.Sigma2_0 < 1) {
			return nil, fmt.Errorf("sde: vpsde needs 0 < beta_start <= beta_end and 0 <= sigma2_0 < 1, got %v", params)
		}
		s = v
	case "geometric_vpsde":
		d := NewGeometricVP()
		v := GeometricVP{Sigma2Min: get("sigma2_min", d.Sigma2Min), Sigma2Max: get("sigma2_max", d.Sigma2Max), Sigma2_0: get("sigma2_0", d.Sigma2_0)}
		if !(v.Sigma2Min > 0 && v.Sigma2Max > v.Sigma2Min && v.Sigma2Max < 1 && v.Sigma2_0 >= 0 && v.Sigma2_0 < 1) {
			return nil, fmt.Errorf("sde: geometric_vpsde needs 0 < sigma2_min < sigma2_max < 1 and 0 <= sigma2_0 < 1, got %v", params)
		}
		s = v
	case "vesde":
		d := NewVE()
		v := VE{SigmaMin: get("sigma_min", d.SigmaMin), SigmaMax: get("sigma_max", d.SigmaMax)}
		if !(v.SigmaMin > 0 && v.SigmaMax > v.SigmaMin) {
			return nil, fmt.Errorf("sde: vesde needs 0 < sigma_min < sigma_max, got %v", params)
		}
		s = v
	case "subvpsde":
		d := NewSubVP()
		v := SubVP{B0: get("beta_start", d.B0), B1: get("beta_end", d.B1)}
		if !(v.B0 > 0 && v.B1 >= v.B0) {
			return nil, fmt.Errorf("sde: subvpsde needs 0 < beta_start <= beta_end, got %v", params)
		}
		s = v
	default:
		return nil, fmt.Errorf("sde: unknown SDE %q (want vpsde, geometric_vpsde, vesde or subvpsde)", kind)
	}
	for _, t := range []float64{0, 0.5, 1} {
		if m, v := s.Mean(t), s.Var(t); math.IsNaN(m) || math.IsNaN(v) || m <= 0 || v < 0 {
			return nil, fmt.Errorf("sde: %s with %v is degenerate at t=%v (mean %v, var %v)", kind, params, t, m, v)
		}
	}
	return s, nil
}
