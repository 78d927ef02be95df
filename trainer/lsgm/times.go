// Package lsgm is the LSGM training objective (Vahdat, Kreis, Kautz 2021;
// lsgm-math.md sections 1-4): the diffusion-time sampling and its importance
// weights, the end-to-end loss graph, the optimizers and the checkpoints.
package lsgm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Schemes lists the accepted time-sampling schemes for the prior's loss:
// the weighting (ll = likelihood g2/var, drop_all = 1, drop_sigma2t = g2)
// and how t is drawn (uniform on [eps, 1], or importance sampled).
var Schemes = []string{"ll_uniform", "ll_iw", "drop_all_uniform", "drop_all_iw", "drop_sigma2t_uniform", "drop_sigma2t_iw"}

// TimeSampler draws diffusion times t in [Eps, 1], each with the weight
// w(t)/(2 density(t)) that turns the sample's ||noise - eps||^2 into an
// unbiased estimate of int_eps^1 w(t)/2 E||noise - eps||^2 dt for the
// scheme's weighting w. With ll weighting that integral is the cross
// entropy of the NELBO (up to constants); the VAE always trains on ll draws,
// and the prior on the scheme's own (LSGM's iw_sample_q and iw_sample_p).
//
// Importance sampling follows LSGM appendix: the density is proportional to
// w(t) (1 - var(t)), the weighting times the scale of the denoising error for
// Normal data. For ll this makes log var uniform, for drop_sigma2t var
// uniform (closed forms through the SDE's inverse variance); drop_all uses a
// tabulated inverse CDF, which for the VPSDE stands in for the erfinv
// closed form and works for every SDE.
type TimeSampler struct {
	SDE    sde.SDE
	Eps    float64
	Scheme string

	weight func(t float64) float64 // the scheme's w(t)
	iw     bool
	v0, v1 float64   // var(eps), var(1)
	cdf    []float64 // drop_all_iw: CDF at tab
	tab    []float64 // drop_all_iw: grid in t
}

// InvVarer is an SDE with a closed-form inverse of its variance.
type InvVarer interface{ InvVar(v float64) float64 }

// NewTimeSampler validates the scheme against the SDE.
func NewTimeSampler(s sde.SDE, eps float64, scheme string) (*TimeSampler, error) {
	if !(eps >= 0 && eps < 0.5) {
		return nil, fmt.Errorf("lsgm: time epsilon %v out of range [0, 0.5)", eps)
	}
	ts := &TimeSampler{SDE: s, Eps: eps, Scheme: scheme, v0: s.Var(eps), v1: s.Var(1)}
	var w string
	switch scheme {
	case "ll_uniform", "ll_iw":
		w = "ll"
		ts.weight = func(t float64) float64 { return s.G2(t) / s.Var(t) }
	case "drop_all_uniform", "drop_all_iw":
		w = "drop_all"
		ts.weight = func(float64) float64 { return 1 }
	case "drop_sigma2t_uniform", "drop_sigma2t_iw":
		w = "drop_sigma2t"
		ts.weight = s.G2
	default:
		return nil, fmt.Errorf("lsgm: unknown time sampling %q (want one of %v)", scheme, Schemes)
	}
	ts.iw = scheme == w+"_iw"
	if !ts.iw {
		return ts, nil
	}
	if _, ok := s.(InvVarer); !ok || s.Name() == "vesde" {
		return nil, fmt.Errorf("lsgm: importance sampling %q needs a VP-type SDE, not %s", scheme, s.Name())
	}
	if ts.v0 <= 0 && w == "ll" {
		return nil, fmt.Errorf("lsgm: ll_iw needs var(eps) > 0; raise the time epsilon above %v for %s", eps, s.Name())
	}
	if w == "drop_all" {
		const n = 4096
		ts.tab, ts.cdf = make([]float64, n+1), make([]float64, n+1)
		f := func(t float64) float64 { return 1 - s.Var(t) }
		for i := 0; i <= n; i++ {
			ts.tab[i] = eps + (1-eps)*float64(i)/n
		}
		for i := 1; i <= n; i++ { // Simpson on each cell
			a, b := ts.tab[i-1], ts.tab[i]
			ts.cdf[i] = ts.cdf[i-1] + (b-a)/6*(f(a)+4*f((a+b)/2)+f(b))
		}
		for i := range ts.cdf {
			ts.cdf[i] /= ts.cdf[n]
		}
	}
	return ts, nil
}

// varPrime is d var/dt by a central difference (relative error ~1e-8).
func varPrime(s sde.SDE, t float64) float64 {
	h := 1e-6
	lo, hi := math.Max(0, t-h), math.Min(1, t+h)
	return (s.Var(hi) - s.Var(lo)) / (hi - lo)
}

// Weighting is the scheme's w(t): "ll", "drop_all" or "drop_sigma2t".
func (ts *TimeSampler) Weighting() string { return ts.Scheme[:strings.LastIndexByte(ts.Scheme, '_')] }

// Draw returns a time and its weight (see TimeSampler).
func (ts *TimeSampler) Draw(r *rand.Rand) (t, w float64) {
	rho := r.Float64()
	var p float64 // density of t
	s := ts.SDE
	switch {
	case !ts.iw:
		t = ts.Eps + (1-ts.Eps)*rho
		p = 1 / (1 - ts.Eps)
	case ts.Scheme == "ll_iw":
		v := math.Exp(rho*math.Log(ts.v1) + (1-rho)*math.Log(ts.v0))
		t = clampT(s.(InvVarer).InvVar(v), ts.Eps)
		p = varPrime(s, t) / (s.Var(t) * math.Log(ts.v1/ts.v0))
	case ts.Scheme == "drop_sigma2t_iw":
		v := ts.v0 + rho*(ts.v1-ts.v0)
		t = clampT(s.(InvVarer).InvVar(v), ts.Eps)
		p = varPrime(s, t) / (ts.v1 - ts.v0)
	default: // drop_all_iw
		i := sort.SearchFloat64s(ts.cdf, rho)
		if i == 0 {
			i = 1
		}
		if i >= len(ts.cdf) {
			i = len(ts.cdf) - 1
		}
		f := (rho - ts.cdf[i-1]) / (ts.cdf[i] - ts.cdf[i-1])
		t = ts.tab[i-1] + f*(ts.tab[i]-ts.tab[i-1])
		p = (ts.cdf[i] - ts.cdf[i-1]) / (ts.tab[i] - ts.tab[i-1]) // the interpolated CDF's density
	}
	return t, ts.weight(t) / (2 * p)
}

func clampT(t, eps float64) float64 { return math.Min(1, math.Max(eps, t)) }
