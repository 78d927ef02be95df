package sampler

import (
	"errors"
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Dormand-Prince 5(4) tableau (Dormand & Prince 1980): 5th-order solution, 4th-order
// embedded error estimate, first-same-as-last.
var (
	dpC = [7]float64{0, 1. / 5, 3. / 10, 4. / 5, 8. / 9, 1, 1}
	dpA = [7][6]float64{
		{},
		{1. / 5},
		{3. / 40, 9. / 40},
		{44. / 45, -56. / 15, 32. / 9},
		{19372. / 6561, -25360. / 2187, 64448. / 6561, -212. / 729},
		{9017. / 3168, -355. / 33, 46732. / 5247, 49. / 176, -5103. / 18656},
		{35. / 384, 0, 500. / 1113, 125. / 192, -2187. / 6784, 11. / 84},
	}
	// dpE = b5 - b4: the local error estimate's weights.
	dpE = [7]float64{71. / 57600, 0, -71. / 16695, 71. / 1920, -17253. / 339200, 22. / 525, -1. / 40}
)

// RK45Options sets the adaptive solver's tolerances.
type RK45Options struct {
	RTol, ATol float64 // per element: |err| <= ATol + RTol |z|
	Dim        int     // elements per sample: the error norm is the worst sample's RMS
	MaxNFE     int     // stop with an error beyond this (0: 10000)
}

// ODEFunc is a system dy/dt = F(t, y), written into dst.
type ODEFunc func(dst []float64, t float64, y []float64) error

// DormandPrince integrates y from t0 to t1 in place with the adaptive
// Dormand-Prince 5(4) method. Step control follows Hairer, Norsett & Wanner
// (Solving ODEs I, II.4): the error norm is an RMS of
// err / (atol + rtol max(|y|, |y_new|)) over each group of Dim elements (a
// sample), the worst group decides, and a new step is
// h * min(10, max(0.2, 0.9 err^(-1/5))). accepted (may be nil) sees each
// accepted step with y and dy/dt there. It returns the accepted steps and the
// evaluations of f.
func DormandPrince(f ODEFunc, y []float64, t0, t1 float64, o RK45Options, accepted func(t float64, y, dy []float64)) (steps, nfe int, err error) {
	if !(o.RTol > 0 && o.ATol > 0) {
		return 0, 0, fmt.Errorf("sampler: RK45 needs rtol > 0 and atol > 0, got %v, %v", o.RTol, o.ATol)
	}
	if o.Dim <= 0 || len(y)%o.Dim != 0 {
		return 0, 0, fmt.Errorf("sampler: RK45 Dim %d does not divide the batch length %d", o.Dim, len(y))
	}
	if t0 == t1 {
		return 0, 0, nil
	}
	maxNFE := o.MaxNFE
	if maxNFE <= 0 {
		maxNFE = 10000
	}
	n := len(y)
	out := y
	y = append([]float64(nil), y...)
	var k [7][]float64
	for i := range k {
		k[i] = make([]float64, n)
	}
	yt := make([]float64, n)
	ynew := make([]float64, n)
	call := func(dst []float64, t float64, y []float64) error {
		nfe++
		return f(dst, t, y)
	}
	norm := func(e, y0, y1 []float64) float64 {
		worst := 0.0
		for off := 0; off < n; off += o.Dim {
			acc := 0.0
			for i := off; i < off+o.Dim; i++ {
				sc := o.ATol + o.RTol*math.Max(math.Abs(y0[i]), math.Abs(y1[i]))
				r := e[i] / sc
				acc += r * r
			}
			worst = math.Max(worst, math.Sqrt(acc/float64(o.Dim)))
		}
		return worst
	}
	dir := math.Copysign(1, t1-t0)
	t := t0
	if err := call(k[0], t, y); err != nil {
		return steps, nfe, err
	}
	// Initial step (Hairer et al. II.4): from the sizes of y, y' and a trial y''.
	zero := make([]float64, n)
	d0, d1 := norm(y, y, zero), norm(k[0], y, zero)
	h0 := 1e-6
	if d0 >= 1e-5 && d1 >= 1e-5 {
		h0 = 0.01 * d0 / d1
	}
	h0 = math.Min(h0, math.Abs(t1-t0))
	for i := range yt {
		yt[i] = y[i] + dir*h0*k[0][i]
	}
	if err := call(k[1], t+dir*h0, yt); err != nil {
		return steps, nfe, err
	}
	for i := range yt {
		yt[i] = (k[1][i] - k[0][i]) / h0
	}
	d2 := norm(yt, y, zero)
	var h1 float64
	if math.Max(d1, d2) <= 1e-15 {
		h1 = math.Max(1e-6, h0*1e-3)
	} else {
		h1 = math.Pow(0.01/math.Max(d1, d2), 1./5)
	}
	h := math.Min(100*h0, h1)

	for (t1-t)*dir > 0 {
		if nfe+6 > maxNFE {
			return steps, nfe, fmt.Errorf("sampler: RK45 reached %d NFE at t=%.4g without finishing (tolerance too tight?)", nfe, t)
		}
		if h < 1e-12 {
			return steps, nfe, errors.New("sampler: RK45 step size underflow (the ODE is not smooth here)")
		}
		last := false
		if h >= math.Abs(t1-t) {
			h, last = math.Abs(t1-t), true
		}
		hs := dir * h
		for stage := 1; stage < 7; stage++ {
			for i := range yt {
				acc := y[i]
				for j := 0; j < stage; j++ {
					acc += hs * dpA[stage][j] * k[j][i]
				}
				yt[i] = acc
			}
			if stage == 6 {
				copy(ynew, yt) // the 7th row is the 5th-order solution
			}
			if err := call(k[stage], t+dpC[stage]*hs, yt); err != nil {
				return steps, nfe, err
			}
		}
		for i := range yt {
			acc := 0.0
			for j := 0; j < 7; j++ {
				acc += dpE[j] * k[j][i]
			}
			yt[i] = hs * acc
		}
		en := norm(yt, y, ynew)
		if math.IsNaN(en) {
			return steps, nfe, fmt.Errorf("%w: RK45 error estimate at t=%.4g", ErrNonFinite, t)
		}
		if en <= 1 {
			if last {
				t = t1
			} else {
				t += hs
			}
			y, ynew = ynew, y
			k[0], k[6] = k[6], k[0] // FSAL
			steps++
			if accepted != nil {
				accepted(t, y, k[0])
			}
		}
		fac := 10.0
		if en > 0 {
			fac = math.Min(10, math.Max(0.2, 0.9*math.Pow(en, -1./5)))
		}
		if en > 1 {
			fac = math.Min(1, fac)
		}
		h *= fac
	}
	copy(out, y)
	return steps, nfe, nil
}

// RK45 integrates the probability-flow ODE from t0 to t1 with the adaptive
// Dormand-Prince 5(4) method (DormandPrince), the solver LSGM uses
// (rtol = atol = 1e-5). The state is carried in float64. The callback sees
// each accepted step (N = 0: unknown).
func RK45(m Model, s sde.SDE, z []float32, t0, t1 float64, o RK45Options, cb Callback) (Stats, error) {
	var st Stats
	n := len(z)
	y := make([]float64, n)
	for i, v := range z {
		y[i] = float64(v)
	}
	z32 := make([]float32, n)
	eps := make([]float32, n)
	pv, ep := previewBuffer(cb, n), previewBuffer(cb, n)
	f := func(dst []float64, t float64, y []float64) error {
		for i, v := range y {
			z32[i] = float32(v)
		}
		if err := eval(m, &st, eps, z32, t); err != nil {
			return err
		}
		a, b := Velocity(s, t)
		for i := range dst {
			dst[i] = a*y[i] + b*float64(eps[i])
		}
		return nil
	}
	var accepted func(t float64, y, dy []float64)
	if cb != nil {
		accepted = func(t float64, y, dy []float64) {
			st.Steps++
			for i, v := range y {
				z32[i] = float32(v)
			}
			// dy = a y + b eps at the new t: recover eps for the preview.
			a, b := Velocity(s, t)
			for i := range ep {
				ep[i] = float32((dy[i] - a*y[i]) / b)
			}
			denoise(pv, z32, ep, s, t)
			cb(Step{I: st.Steps, T: t, Z: z32, Denoised: pv})
		}
	}
	steps, _, err := DormandPrince(f, y, t0, t1, o, accepted)
	st.Steps = steps
	if err != nil {
		return st, err
	}
	for i, v := range y {
		z[i] = float32(v)
	}
	return st, checkFinite(z, t1)
}
