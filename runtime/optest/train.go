package optest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
)

// TrainBackend runs the training ops (runtime/grad.go, runtime/mapop.go,
// runtime/likelihood.go) on host slices: the backward passes and the
// generic tensor ops a differentiated graph is made of. Map's y is read as
// well as written: elements outside its view keep their values.
type TrainBackend interface {
	Name() string
	Conv2DData(dx, dy, w []float32, n, c, h, wd, o, k, stride, pad int) error
	Conv2DFilter(dw, x, dy []float32, n, c, h, wd, o, k, stride, pad int) error
	GroupNormGrad(dx, x, dy []float32, n, c, hw, groups int, eps float32) error
	UpsampleGrad(dx, dy []float32, n, c, h, w, f int) error
	Map(op runtime.MapOp, shape [runtime.MaxDims]int, y []float32, vy runtime.View, a []float32, va runtime.View, b []float32, vb runtime.View, c []float32, vc runtime.View) error
	SumAxis(y, x []float32, outer, k, inner int) error
	MatMul(c, a, b []float32, m, n, k int, ta, tb bool) error
	LogisticNLL(y, mu, ls, x, dy []float32, which int) error
	// The optimizer: Adam updates p, m and v in place (its t-th step with
	// warm-up and the given clipping factor: runtime.AdamStepAt); EMA
	// updates s; GradNorm returns each group's norm and clipping factor and
	// whether every norm is finite, and the step counts it advanced from 0;
	// StepStats applies one step's bookkeeping to the counters c.
	Adam(p, m, v, g []float32, lr, beta1, beta2, eps, clip float64, t, warmup int, max bool) error
	EMA(s, p []float32, d float64) error
	GradNorm(groups [][]float32, clip float64) (norms, factors []float64, finite bool, counts []float32, err error)
	StepStats(c, vals []float32, norms [2]float32, groups int, finite bool) error
	// TrainImages writes a training batch from a dataset's bytes.
	TrainImages(x []float32, data []byte, idx []int, d int, mode runtime.ImageMode, seed uint64, step int, stream rng.Stream) error
	// TrainTimes draws a step's diffusion times (TimeSampler.Fill).
	TrainTimes(out []float32, ts *runtime.TimeSampler, n int, seed uint64, step int, stream rng.Stream) error
}

func init() {
	for op, tol := range map[string]struct{ Abs, Rel float64 }{
		// f32 sums of products in another order, against the reference's
		// f32 loop (conv2d_dx, matmul) or its f64 sum (conv2d_dw, sum):
		// relative to the same sum over absolute values.
		"conv2d_dx": {1e-6, 2e-6}, "conv2d_dw": {1e-6, 2e-6}, "matmul": {1e-6, 2e-6}, "sum": {1e-6, 2e-6},
		// f32 statistics in three passes against f64, relative to
		// rstd (|dy| + mean|dy| + |xhat| mean|dy xhat|).
		"groupnorm_grad": {1e-6, 4e-6},
		// f32 sums of f^2 terms.
		"upsample_grad": {1e-6, 1e-6},
		// f32 against f64 rounded once: exp and log are accurate to a few ulp
		// of their results; a difference (sub, bernoulli) to a few ulp of the
		// larger operand, so the scale is the sum of absolute terms.
		"map": {1e-6, 4e-6},
		// Up to three f32 softpluses and logs against f64, and derivatives
		// scaled by exp(-ls) (up to e^7 = 1097) times dy: relative to the
		// sum of absolute terms.
		"logistic": {2e-6, 8e-6},
		// One update in f32 against f64 rounded once, relative to the
		// magnitudes of the old and the new value.
		"adam": {1e-9, 2e-6}, "ema": {1e-9, 1e-6},
		// f32 sums of squares of up to 1e5 values (in 64 strided shares)
		// against f64.
		"gradnorm": {0, 1e-5},
		// f32 sums of a few values, the same order.
		"stepstats": {0, 1e-6},
		// The same f32 operations and Philox words (a fused multiply-add
		// could move a value by one ulp).
		"images": {0, 2.4e-7},
		// Times: t in float32 against float64 rounded once (see
		// runTimesSuite), through a few f32 exps and logs.
		"times_t": {1e-8, 1e-6},
		// The rest at the device's own t, against float64: a handful of f32
		// exps and logs, rearranged not to cancel.
		"times": {1e-9, 4e-6},
	} {
		Tolerances[op] = tol
	}
}

// absScale applies a reference to absolute values: the natural magnitude
// of each output of a sum of products.
func absScale(fn func(ins ...[]float32), ins ...[]float32) {
	a := make([][]float32, len(ins))
	for i, x := range ins {
		a[i] = abs(x)
	}
	fn(a...)
}

// RunTrain runs the training-op suite on b.
func RunTrain(t *testing.T, b TrainBackend) {
	t.Logf("backend %s", b.Name())
	r := rand.New(rand.NewPCG(11, 12))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The networks' convolutions (28x28 and 14x14 images, 7x7 latents, 3x3
	// and 1x1 kernels, stride 2 down), odd sizes, a kernel wider than its
	// padding, and a batch large enough that conv2d_dw splits its sum.
	for _, s := range [][8]int{ // n c h w o k stride pad
		{2, 1, 28, 28, 16, 3, 1, 1}, {3, 5, 7, 9, 6, 3, 1, 1}, {2, 16, 14, 14, 32, 3, 2, 1},
		{2, 32, 7, 7, 4, 1, 1, 0}, {4, 8, 13, 11, 7, 3, 2, 0}, {1, 3, 5, 5, 2, 5, 1, 2},
		{3, 16, 28, 28, 1, 3, 1, 1}, {2, 3, 6, 6, 5, 3, 1, 3}, {16, 8, 14, 14, 40, 3, 1, 1},
	} {
		n, c, h, wd, o, k, st, pad := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		ho, wo := runtime.ConvOut(h, k, st, pad), runtime.ConvOut(wd, k, st, pad)
		size := fmt.Sprintf("%v", s)
		x, w, dy := randn(r, n*c*h*wd), randn(r, o*c*k*k), randn(r, n*o*ho*wo)
		want, scale, got := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
		runtime.Conv2DData(want, dy, w, n, c, h, wd, o, k, st, pad)
		absScale(func(a ...[]float32) { runtime.Conv2DData(scale, a[0], a[1], n, c, h, wd, o, k, st, pad) }, dy, w)
		must(b.Conv2DData(got, dy, w, n, c, h, wd, o, k, st, pad))
		compare(t, "conv2d_dx", size, got, want, scale)

		want, scale, got = make([]float32, len(w)), make([]float32, len(w)), make([]float32, len(w))
		runtime.Conv2DFilter(want, x, dy, n, c, h, wd, o, k, st, pad)
		absScale(func(a ...[]float32) { runtime.Conv2DFilter(scale, a[0], a[1], n, c, h, wd, o, k, st, pad) }, x, dy)
		must(b.Conv2DFilter(got, x, dy, n, c, h, wd, o, k, st, pad))
		compare(t, "conv2d_dw", size, got, want, scale)
	}

	for _, s := range [][4]int{{2, 32, 49, 8}, {3, 16, 784, 8}, {1, 4, 5, 2}, {64, 64, 49, 32}} {
		n, c, hw, groups := s[0], s[1], s[2], s[3]
		x, dy := randn(r, n*c*hw), randn(r, n*c*hw)
		for i := range x { // an offset and a spread per group, as activations have
			x[i] = 3 + 2*x[i]
		}
		want, got := make([]float32, len(x)), make([]float32, len(x))
		runtime.GroupNormGrad(want, x, dy, n, c, hw, groups, 1e-5)
		scale := groupNormGradScale(x, dy, n*groups, c/groups*hw, 1e-5)
		must(b.GroupNormGrad(got, x, dy, n, c, hw, groups, 1e-5))
		compare(t, "groupnorm_grad", fmt.Sprintf("%v", s), got, want, scale)
	}

	for _, s := range [][5]int{{2, 3, 7, 7, 2}, {1, 16, 14, 14, 2}, {3, 2, 5, 3, 3}} {
		n, c, h, w, f := s[0], s[1], s[2], s[3], s[4]
		dy := randn(r, n*c*h*w*f*f)
		want, got := make([]float32, n*c*h*w), make([]float32, n*c*h*w)
		runtime.UpsampleGrad(want, dy, n, c, h, w, f)
		scale := make([]float32, len(want))
		runtime.UpsampleGrad(scale, abs(dy), n, c, h, w, f)
		must(b.UpsampleGrad(got, dy, n, c, h, w, f))
		compare(t, "upsample_grad", fmt.Sprintf("%v", s), got, want, scale)
	}

	for _, s := range [][3]int{{1, 50000, 1}, {4, 7, 33}, {1, 3, 3136}, {64, 32, 1}, {2, 300, 5}} {
		outer, k, inner := s[0], s[1], s[2]
		x := randn(r, outer*k*inner)
		want, scale, got := make([]float32, outer*inner), make([]float32, outer*inner), make([]float32, outer*inner)
		runtime.SumAxis(want, x, outer, k, inner)
		runtime.SumAxis(scale, abs(x), outer, k, inner)
		must(b.SumAxis(got, x, outer, k, inner))
		compare(t, "sum", fmt.Sprintf("%v", s), got, want, scale)
	}

	for _, s := range [][3]int{{4, 256, 64}, {33, 17, 45}, {64, 64, 256}, {1, 5, 3}} {
		m, n, k := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			a, bb := randn(r, m*k), randn(r, k*n)
			want, scale, got := make([]float32, m*n), make([]float32, m*n), make([]float32, m*n)
			runtime.MatMul(want, a, bb, m, n, k, tr[0], tr[1])
			runtime.MatMul(scale, abs(a), abs(bb), m, n, k, tr[0], tr[1])
			must(b.MatMul(got, a, bb, m, n, k, tr[0], tr[1]))
			compare(t, "matmul", fmt.Sprintf("%v trans %v", s, tr), got, want, scale)
		}
	}

	runMapSuite(t, b, r)
	runOptimSuite(t, b, r)
	runStatsSuite(t, b, r)

	// Training images: every byte value, odd image sizes, repeated indices.
	for _, d := range []int{784, 5, 6} {
		const n = 7
		data := make([]byte, n*d)
		for i := range data {
			data[i] = byte(i * 37)
		}
		idx := []int{3, 0, 6, 3, 1}
		for mode := runtime.ImagesLogistic; mode <= runtime.ImagesDequantized; mode++ {
			want, got := make([]float32, len(idx)*d), make([]float32, len(idx)*d)
			runtime.TrainImages(want, data, idx, d, mode, 42, 9, 7)
			must(b.TrainImages(got, data, idx, d, mode, 42, 9, 7))
			compare(t, "images", fmt.Sprintf("d=%d mode %d", d, mode), got, want, nil)
		}
	}

	runTimesSuite(t, b)

	// Logistic: every bin from both edges and the middle, means near and far,
	// log scales from below the clamp to wide.
	const n = 4096
	mu, ls, x, dy := make([]float32, n), make([]float32, n), make([]float32, n), randn(r, n)
	for i := range mu {
		x[i] = float32(i%256)*2/255 - 1
		mu[i] = float32(r.Float64()*2.4 - 1.2)
		if i%3 == 0 {
			mu[i] = x[i] + float32(r.NormFloat64()*0.01)
		}
		ls[i] = float32(r.Float64()*8 - 7.5)
	}
	for which := 0; which < 3; which++ {
		want, got := make([]float32, n), make([]float32, n)
		runtime.LogisticNLL(want, mu, ls, x, dy, which)
		scale := logisticScale(mu, ls, x, dy, which)
		must(b.LogisticNLL(got, mu, ls, x, dy, which))
		compare(t, "logistic", fmt.Sprintf("which %d", which), got, want, scale)
	}
}

// groupNormGradScale bounds each output's magnitude term by term.
func groupNormGradScale(x, dy []float32, groups, size int, eps float64) []float32 {
	out := make([]float32, len(x))
	for g := 0; g < groups; g++ {
		xs, ds := x[g*size:(g+1)*size], dy[g*size:(g+1)*size]
		var s, s2 float64
		for _, v := range xs {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		mean := s / float64(size)
		rstd := 1 / math.Sqrt(s2/float64(size)-mean*mean+eps)
		var ad, adx float64
		for i, v := range xs {
			ad += math.Abs(float64(ds[i]))
			adx += math.Abs(float64(ds[i]) * (float64(v) - mean) * rstd)
		}
		ad /= float64(size)
		adx /= float64(size)
		for i, v := range xs {
			xh := math.Abs((float64(v) - mean) * rstd)
			out[g*size+i] = float32(rstd * (math.Abs(float64(ds[i])) + ad + xh*adx) * math.Max(1, math.Abs(mean)*rstd))
		}
	}
	return out
}

// logisticScale is the sum of the absolute terms of each output.
func logisticScale(mu, ls, x, dy []float32, which int) []float32 {
	out := make([]float32, len(mu))
	for i := range mu {
		l := math.Max(float64(ls[i]), runtime.MinLogScale)
		inv := math.Exp(-l)
		c := float64(x[i] - mu[i])
		a, b := inv*(c+1.0/255), inv*(c-1.0/255)
		switch which {
		case 0:
			out[i] = float32(math.Abs(runtime.Softplus(-a)) + math.Abs(runtime.Softplus(b)) + math.Abs(math.Log(-math.Expm1(-2*inv/255))) + 1)
		default:
			out[i] = float32(math.Abs(float64(dy[i])) * (inv + math.Abs(a) + math.Abs(b) + 1))
		}
	}
	return out
}

// runMapSuite checks every elementwise function through views that
// broadcast, transpose, flip and offset, with inputs in each function's
// domain, writing into a y whose other elements must keep their values.
func runMapSuite(t *testing.T, b TrainBackend, r *rand.Rand) {
	type layout struct {
		name       string
		shape      [runtime.MaxDims]int
		ylen       int
		vy, va, vb runtime.View
		alen, blen int
	}
	sh := [runtime.MaxDims]int{3, 5, 7, 4}
	full := runtime.Contiguous(sh)
	layouts := []layout{
		{"contiguous", sh, 420, full, full, full, 420, 420},
		// b broadcast over axes 0, 2, 3 (a bias per channel); a transposed.
		{"broadcast+transpose", sh, 420, full, runtime.View{Stride: [4]int{1, 3, 60, 15}}, runtime.View{Stride: [4]int{0, 1, 0, 0}}, 420, 5},
		// y is one part (columns 2..5 of 9) of a concatenation along axis 1;
		// a is read flipped along axes 2 and 3.
		{"concat part+flip", [4]int{2, 4, 3, 5}, 2 * 9 * 15, runtime.View{Off: 2 * 15, Stride: [4]int{9 * 15, 15, 5, 1}},
			runtime.View{Off: 14, Stride: [4]int{60, 15, -5, -1}}, runtime.Contiguous([4]int{2, 4, 3, 5}), 120, 120},
		// a scalar broadcast everywhere (stride 0 on every axis).
		{"scalar", [4]int{1, 1, 64, 33}, 64 * 33, runtime.Contiguous([4]int{1, 1, 64, 33}), runtime.Contiguous([4]int{1, 1, 64, 33}), runtime.View{}, 64 * 33, 1},
	}
	for _, op := range runtime.MapOps() {
		for _, l := range layouts {
			a, bv, c := randn(r, l.alen), randn(r, l.blen), randn(r, l.alen)
			switch op {
			case runtime.MapDiv: // divisors away from zero
				for i := range bv {
					bv[i] = float32(math.Copysign(0.5+math.Abs(float64(bv[i])), float64(bv[i])))
				}
			case runtime.MapBernoulliNLL, runtime.MapBernoulliGrad: // targets in [0, 1]
				for i := range bv {
					bv[i] = float32(r.Float64())
				}
			}
			vc := l.va
			y0 := randn(r, l.ylen)
			want, got := append([]float32(nil), y0...), append([]float32(nil), y0...)
			runtime.Map(op, l.shape, want, l.vy, a, l.va, bv, l.vb, c, vc)
			// scale: |y0| outside the view; inside, the sum of the absolute
			// operands and result, plus 1 (exp and log are accurate to a few
			// ulp of their results, a difference to a few ulp of its terms).
			scale := abs(y0)
			var idx [runtime.MaxDims]int
			for e := 0; e < l.shape[0]*l.shape[1]*l.shape[2]*l.shape[3]; e++ {
				q := e
				for d := runtime.MaxDims - 1; d >= 0; d-- {
					idx[d], q = q%l.shape[d], q/l.shape[d]
				}
				at := l.vy.At(idx)
				s := math.Abs(float64(a[l.va.At(idx)])) + math.Abs(float64(want[at])) + 1
				if op.Arity() > 1 {
					s += math.Abs(float64(bv[l.vb.At(idx)]))
				}
				if op.Arity() > 2 {
					s += math.Abs(float64(c[vc.At(idx)]))
				}
				scale[at] = float32(s)
			}
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			must(b.Map(op, l.shape, got, l.vy, a, l.va, bv, l.vb, c, vc))
			compare(t, "map", fmt.Sprintf("%v %s", op, l.name), got, want, scale)
		}
	}
}

// runOptimSuite checks Adam and Adamax steps (with and without clipping,
// early and late bias corrections), the EMA, and the gradient norms with
// their clipping factors and non-finite guard.
func runOptimSuite(t *testing.T, b TrainBackend, r *rand.Rand) {
	for _, c := range []struct {
		max        bool
		t, warmup  int
		clip, lrmu float64
	}{{false, 1, 200, 1, 1}, {false, 1000, 200, 0.25, 0.5}, {true, 3, 5, 1, 1}, {true, 5000, 1, 0.1, 0.01}} {
		n := 1000
		p, g := randn(r, n), randn(r, n)
		m, v := randn(r, n), randn(r, n)
		for i := range v { // a second moment is non-negative
			v[i] = v[i] * v[i] * 1e-3
		}
		st := runtime.AdamStepAt(1e-3*c.lrmu, 0.9, 0.999, 1e-8, c.clip, c.t, c.warmup, c.max)
		wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
		st.Apply(wp, wm, wv, g)
		gp, gm, gv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
		if err := b.Adam(gp, gm, gv, g, 1e-3*c.lrmu, 0.9, 0.999, 1e-8, c.clip, c.t, c.warmup, c.max); err != nil {
			t.Fatal(err)
		}
		size := fmt.Sprintf("max=%v t=%d clip=%v", c.max, c.t, c.clip)
		sum := func(a, b []float32) []float32 {
			out := abs(a)
			for i := range out {
				out[i] += float32(math.Abs(float64(b[i])))
			}
			return out
		}
		compare(t, "adam", size+" w", gp, wp, sum(wp, p))
		compare(t, "adam", size+" m", gm, wm, sum(wm, m))
		compare(t, "adam", size+" v", gv, wv, sum(wv, v))
	}
	s, w := randn(r, 777), randn(r, 777)
	want, got := append([]float32(nil), s...), append([]float32(nil), s...)
	runtime.EMAUpdate(want, w, 0.999)
	if err := b.EMA(got, w, 0.999); err != nil {
		t.Fatal(err)
	}
	scale := abs(s)
	for i := range scale {
		scale[i] += float32(math.Abs(float64(w[i])))
	}
	compare(t, "ema", "777", got, want, scale)

	for _, c := range []struct {
		name  string
		sizes []int
		clip  float64
		bad   float32 // put into the last group's first value, 0: none
	}{
		{"one group, clipped", []int{100000}, 10, 0},
		{"two groups, one clipped", []int{3000, 500}, 30, 0},
		{"no clipping", []int{64, 65}, 0, 0},
		{"NaN", []int{100, 100}, 1, float32(math.NaN())},
		{"Inf", []int{100, 100}, 1, float32(math.Inf(1))},
	} {
		groups := make([][]float32, len(c.sizes))
		for i, n := range c.sizes {
			groups[i] = randn(r, n)
		}
		if c.bad != 0 {
			groups[len(groups)-1][0] = c.bad
		}
		norms, factors, finite, counts, err := b.GradNorm(groups, c.clip)
		if err != nil {
			t.Fatal(err)
		}
		wantFinite := c.bad == 0
		if finite != wantFinite {
			t.Errorf("gradnorm %s: finite %v, want %v", c.name, finite, wantFinite)
		}
		for i := range groups { // a finite step is counted for each group
			if want := map[bool]float32{true: 1, false: 0}[wantFinite]; counts[i] != want {
				t.Errorf("gradnorm %s: group %d's step count %v, want %v", c.name, i, counts[i], want)
			}
		}
		if !wantFinite {
			continue
		}
		for i, g := range groups {
			var ss float64
			for _, v := range g {
				ss += float64(v) * float64(v)
			}
			norm := math.Sqrt(ss)
			f := runtime.ClipFactor(norm, c.clip)
			tol := Tolerances["gradnorm"]
			if math.Abs(norms[i]-norm) > tol.Rel*norm || math.Abs(factors[i]-f) > tol.Rel*f {
				t.Errorf("gradnorm %s group %d: norm %v factor %v, want %v and %v", c.name, i, norms[i], factors[i], norm, f)
			}
		}
	}
}

// runStatsSuite checks a run of steps' bookkeeping: finite and skipped
// steps, one and two optimizer groups.
func runStatsSuite(t *testing.T, b TrainBackend, r *rand.Rand) {
	c := make([]float32, runtime.CountersLen)
	for i := range c {
		c[i] = float32(r.IntN(5))
	}
	want := append([]float32(nil), c...)
	for k, finite := range []bool{true, false, false, true, false, true} {
		vals := randn(r, runtime.StepValues)
		norms := [2]float32{float32(r.Float64() * 10), float32(r.Float64() * 10)}
		groups := 1 + k%2
		m := map[int]float32{0: norms[0]}
		if groups == 2 {
			m[1] = norms[1]
		}
		runtime.StepStats(want, vals, m, finite)
		if err := b.StepStats(c, vals, norms, groups, finite); err != nil {
			t.Fatal(err)
		}
		scale := abs(want)
		compare(t, "stepstats", fmt.Sprintf("step %d", k), c, want, scale)
	}
}

// runTimesSuite draws times for every scheme the SDEs accept, at several
// batch sizes. A time's weight can be steep in t (the ll weight near t = 1
// changes by 1e4 per unit of t), so one ulp of t moves it further than any
// error of the kernel's own: the suite checks t against the reference, and
// the rest against the reference at the backend's t, allowing besides the
// tolerance what one ulp of t changes.
func runTimesSuite(t *testing.T, b TrainBackend) {
	sdes := []struct {
		s   sde.SDE
		eps float64
	}{
		{sde.NewVP(), 0.01}, {sde.VP{B0: 0.1, B1: 20, Sigma2_0: 1e-4}, 0},
		{sde.NewGeometricVP(), 0}, {sde.GeometricVP{Sigma2Min: 1e-5, Sigma2Max: 0.99, Sigma2_0: 1e-4}, 0.01},
		{sde.NewVE(), 0}, {sde.NewSubVP(), 0.01},
	}
	for _, c := range sdes {
		for _, scheme := range runtime.TimeSchemes {
			ts, err := runtime.NewTimeSampler(c.s, c.eps, scheme)
			if err != nil {
				continue // a scheme the SDE refuses
			}
			for _, n := range []int{1, 7, 64, 1000} {
				want, got := make([]float32, runtime.TimeParts*n), make([]float32, runtime.TimeParts*n)
				ts.Fill(want, n, 42, 9, 7)
				if err := b.TrainTimes(got, ts, n, 42, 9, 7); err != nil {
					t.Fatal(err)
				}
				size := fmt.Sprintf("%s %s n=%d", c.s.Name(), scheme, n)
				compare(t, "times_t", size, got[:n], want[:n], nil)
				// drop_all_iw's weight is its cell's, known from rho: keep Fill's.
				at, scale := timesAt(got[:n], ts, want[n:2*n], scheme != "drop_all_iw")
				compare(t, "times", size, got[n:], at, scale)
			}
		}
	}
}

// timesAt is what Fill writes after t for the times ts (the weight w
// where not weight) and the scale compare allows in each: the value, plus
// its change over one ulp of t in units of the relative tolerance.
func timesAt(ts []float32, s *runtime.TimeSampler, w []float32, weight bool) (at, scale []float32) {
	n := len(ts)
	values := func(t float64) [runtime.TimeParts - 1]float64 {
		m, v := s.SDE.Mean(t), s.SDE.Var(t)
		wt := s.WeightAt(t)
		return [...]float64{wt, m, math.Sqrt(v), math.Sqrt(v) / (m*m + v)}
	}
	at, scale = make([]float32, (runtime.TimeParts-1)*n), make([]float32, (runtime.TimeParts-1)*n)
	rel := Tolerances["times"].Rel
	for i, t32 := range ts {
		mid := values(float64(t32))
		lo := values(float64(math.Nextafter32(t32, 0)))
		hi := values(float64(math.Nextafter32(t32, 2)))
		for k := range mid {
			j := k*n + i
			at[j] = float32(mid[k])
			if k == 0 && !weight {
				at[j] = w[i]
				lo[k], hi[k] = mid[k], mid[k]
			}
			spread := math.Max(math.Abs(hi[k]-mid[k]), math.Abs(lo[k]-mid[k]))
			scale[j] = float32(math.Abs(float64(at[j])) + spread/rel)
		}
	}
	return at, scale
}
