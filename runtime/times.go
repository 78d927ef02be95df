package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

// TimeSchemes lists the accepted time-sampling schemes for the prior's
// loss: the weighting (ll = likelihood g2/var, drop_all = 1, drop_sigma2t =
// g2) and how t is drawn (uniform on [eps, 1], or importance sampled).
var TimeSchemes = []string{"ll_uniform", "ll_iw", "drop_all_uniform", "drop_all_iw", "drop_sigma2t_uniform", "drop_sigma2t_iw"}

// TimeSampler draws diffusion times t in [Eps, 1] (lsgm-math.md sections
// 3-4), each with the weight w(t)/(2 density(t)) that turns the sample's
// ||noise - eps||^2 into an unbiased estimate of int_eps^1 w(t)/2
// E||noise - eps||^2 dt for the scheme's weighting w. With ll weighting that
// integral is the cross entropy of the NELBO (up to constants); the VAE
// always trains on ll draws, and the prior on the scheme's own (LSGM's
// iw_sample_q and iw_sample_p).
//
// Importance sampling follows LSGM's appendix: the density is proportional
// to w(t) (1 - var(t)), the weighting times the scale of the denoising error
// for Normal data. For ll this makes log var uniform, for drop_sigma2t var
// uniform (closed forms through the SDE's inverse variance); drop_all uses
// a tabulated inverse CDF, which for the VPSDE stands in for the erfinv
// closed form and works for every SDE (mixed with a tenth of uniform).
type TimeSampler struct {
	SDE    sde.SDE
	Eps    float64
	Scheme string

	weight func(t float64) float64 // the scheme's w(t)
	draw   timeDraw
	v0, v1 float64 // var(eps), var(1)
	// drop_all_iw: the CDF at Eps + (1-Eps) i/tabCells, in float32 so that
	// the device finds the same cell, and each cell's density.
	cdf  []float32
	dens []float64
}

// timeDraw is how t is drawn; the numbers are shaders/times.wgsl's.
type timeDraw uint32

const (
	drawUniform timeDraw = iota // t uniform on [eps, 1]
	drawLogVar                  // log var(t) uniform
	drawVar                     // var(t) uniform
	drawTable                   // the tabulated inverse CDF
)

const tabCells = 4096

// NewTimeSampler validates the scheme against the SDE.
func NewTimeSampler(s sde.SDE, eps float64, scheme string) (*TimeSampler, error) {
	if !(eps >= 0 && eps < 0.5) {
		return nil, fmt.Errorf("runtime: time epsilon %v out of range [0, 0.5)", eps)
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
		return nil, fmt.Errorf("runtime: unknown time sampling %q (want one of %v)", scheme, TimeSchemes)
	}
	if scheme == w+"_uniform" {
		return ts, nil
	}
	if s.Name() == "vesde" {
		return nil, fmt.Errorf("runtime: importance sampling %q needs a VP-type SDE, not %s", scheme, s.Name())
	}
	switch w {
	case "ll":
		if ts.v0 <= 0 {
			return nil, fmt.Errorf("runtime: ll_iw needs var(eps) > 0; raise the time epsilon above %v for %s", eps, s.Name())
		}
		ts.draw = drawLogVar
	case "drop_sigma2t":
		ts.draw = drawVar
	default:
		ts.draw = drawTable
		cdf := make([]float64, tabCells+1)
		f := func(t float64) float64 { return 1 - s.Var(t) }
		at := func(i float64) float64 { return eps + (1-eps)*i/tabCells }
		for i := 1; i <= tabCells; i++ { // Simpson on each cell
			a, b := at(float64(i-1)), at(float64(i))
			cdf[i] = cdf[i-1] + (b-a)/6*(f(a)+4*f((a+b)/2)+f(b))
		}
		ts.cdf, ts.dens = make([]float32, tabCells+1), make([]float64, tabCells)
		// A tenth of the mass spread uniformly keeps every cell's float32
		// width above a few ulps, so that every t can be drawn.
		for i := range cdf {
			ts.cdf[i] = float32(0.9*cdf[i]/cdf[tabCells] + 0.1*float64(i)/tabCells)
		}
		ts.cdf[tabCells] = 1
		h := (1 - eps) / tabCells
		for i := range ts.dens { // the density of the rounded CDF: what is drawn
			ts.dens[i] = (float64(ts.cdf[i+1]) - float64(ts.cdf[i])) / h
		}
	}
	return ts, nil
}

// Weighting is the scheme's w(t): "ll", "drop_all" or "drop_sigma2t".
func (ts *TimeSampler) Weighting() string { return ts.Scheme[:strings.LastIndexByte(ts.Scheme, '_')] }

// Draw returns a time and its weight (see TimeSampler) for a uniform from r.
func (ts *TimeSampler) Draw(r *rand.Rand) (t, w float64) { return ts.At(r.Float64()) }

// At returns the time and weight that the uniform rho in (0, 1) maps to.
func (ts *TimeSampler) At(rho float64) (t, w float64) {
	s := ts.SDE
	switch ts.draw {
	case drawUniform:
		t = ts.Eps + (1-ts.Eps)*rho
	case drawLogVar:
		t = clampT(s.InvVar(math.Exp(rho*math.Log(ts.v1)+(1-rho)*math.Log(ts.v0))), ts.Eps)
	case drawVar:
		t = clampT(s.InvVar(ts.v0+rho*(ts.v1-ts.v0)), ts.Eps)
	default:
		i := ts.cell(rho)
		f := (rho - float64(ts.cdf[i])) / (float64(ts.cdf[i+1]) - float64(ts.cdf[i]))
		t = ts.Eps + (1-ts.Eps)*(float64(i)+f)/tabCells
		return t, ts.weight(t) / (2 * ts.dens[i])
	}
	return t, ts.WeightAt(t)
}

// WeightAt is the weight w(t)/(2 density(t)) of a time t drawn by a closed
// form (not the table: its density is the cell's, known from rho).
func (ts *TimeSampler) WeightAt(t float64) float64 {
	s := ts.SDE
	var p float64 // density of t
	switch ts.draw {
	case drawUniform:
		p = 1 / (1 - ts.Eps)
	case drawLogVar:
		p = VarPrime(s, t) / (s.Var(t) * math.Log(ts.v1/ts.v0))
	case drawVar:
		p = VarPrime(s, t) / (ts.v1 - ts.v0)
	default:
		return math.NaN()
	}
	return ts.weight(t) / (2 * p)
}

// cell is the i with cdf[i] <= rho < cdf[i+1], as times.wgsl finds it.
func (ts *TimeSampler) cell(rho float64) int {
	i := sort.Search(len(ts.cdf), func(i int) bool { return float64(ts.cdf[i]) > rho }) - 1
	return min(max(i, 0), tabCells-1)
}

// VarPrime is d var/dt = 2 f(t) var(t) + g^2(t), the variance's ODE for a
// linear SDE.
func VarPrime(s sde.SDE, t float64) float64 { return 2*s.F(t)*s.Var(t) + s.G2(t) }

func clampT(t, eps float64) float64 { return math.Min(1, math.Max(eps, t)) }

// TimeParts is how many values Fill writes a sample.
const TimeParts = 5

// Fill draws n times for a training step, the uniforms Philox's for
// (seed, step, stream) at counter (i/4, 0, step, stream), word i%4, and
// writes out = [t, weight, m_t, sigma_t, c_t], each n long, where c_t =
// sigma_t / (m_t^2 + sigma_t^2) (the mixed score's scale). The arithmetic is
// float64, rounded once: times.wgsl's float32 agrees within the op suite's
// tolerance.
func (ts *TimeSampler) Fill(out []float32, n int, seed uint64, step int, stream rng.Stream) {
	key := rng.Key(seed)
	var w [4]uint32
	for i := 0; i < n; i++ {
		if i%4 == 0 {
			w = rng.Philox4x32([4]uint32{uint32(i / 4), 0, uint32(step), uint32(stream)}, key)
		}
		t, wt := ts.At(float64(rng.Uniform23(w[i%4])))
		m, v := ts.SDE.Mean(t), ts.SDE.Var(t)
		for k, x := range [TimeParts]float64{t, wt, m, math.Sqrt(v), math.Sqrt(v) / (m*m + v)} {
			out[k*n+i] = float32(x)
		}
	}
}

// TimeParams are the uniform words of times.wgsl for ts, and the table it
// reads (the CDF, then each cell's density; one value where there is none).
// An SDE other than the four of package sde is an error.
func (ts *TimeSampler) TimeParams() (words []uint32, table []float32, err error) {
	f := func(x float64) uint32 { return math.Float32bits(float32(x)) }
	var kind uint32
	var a, b, s0, L float64
	switch s := ts.SDE.(type) {
	case sde.VP:
		kind, a, b, s0 = 0, s.B0, s.B1, s.Sigma2_0
	case sde.GeometricVP:
		kind, a, b, s0, L = 1, s.Sigma2Min, s.Sigma2Max, s.Sigma2_0, math.Log(s.Sigma2Max/s.Sigma2Min)
	case sde.VE:
		kind, a, b, L = 2, s.SigmaMin, s.SigmaMax, math.Log(s.SigmaMax/s.SigmaMin)
	case sde.SubVP:
		kind, a, b = 3, s.B0, s.B1
	default:
		return nil, nil, fmt.Errorf("runtime: no device time sampling for the SDE %s", ts.SDE.Name())
	}
	weight := map[string]uint32{"ll": 0, "drop_all": 1, "drop_sigma2t": 2}[ts.Weighting()]
	v0, v1 := ts.v0, ts.v1
	lv0, lv1 := math.Log(math.Max(v0, math.SmallestNonzeroFloat64)), math.Log(v1)
	var lv0s float64
	if s0 > 0 {
		lv0s = math.Log(v0 / s0)
	}
	words = []uint32{uint32(ts.draw), weight, kind, tabCells,
		f(ts.Eps), f(a), f(b), f(s0),
		f(L), f(math.Log(a)), f(lv0), f(lv1 - lv0),
		f(v0 - s0), f(v1 - v0), f(1 - v1), f(1 - s0 + a - b), // the last: the geometric VP's 1 - var(t) at var(t) = sigma2_max
		f(a - s0), f(math.Log(1 - s0)), f(lv0s), f(lv1)}
	table = []float32{0}
	if ts.draw == drawTable {
		table = append(append([]float32(nil), ts.cdf...), make([]float32, tabCells)...)
		for i, d := range ts.dens {
			table[tabCells+1+i] = float32(d)
		}
	}
	return words, table, nil
}
