// Package optest is the one op suite every backend runs: each op on random
// inputs (never zeros) at several sizes, odd ones included, compared with the
// CPU reference in package runtime within a stated per-op tolerance. The
// native GPU tests and the browser tests call Run with their backend.
package optest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sampler"
)

// Backend runs single ops on host slices. act asks for a fused SiLU after
// the op. An implementation must treat y as output only.
type Backend interface {
	Name() string
	Linear(y, x, w, b []float32, n, in, out int, act bool) error
	Conv2D(y, x, w, b []float32, n, c, h, wd, o, k, stride, pad int, act bool) error
	GroupNorm(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32, act bool) error
	Upsample(y, x []float32, n, c, h, w, f int) error
	SiLU(y, x []float32) error
	Sigmoid(y, x []float32) error
	Add(y, a, b []float32, n, size, bsize int) error
	Concat(y []float32, xs [][]float32, sizes []int, n int) error
	TimeEmbed(y, t []float32, n, dim int, scale float32) error
	Mixed(eps, z, coeff []float32, k float64) error
	CFG(dst, cond, uncond []float32, w float64) error
	Lincomb(y []float32, cy float64, c []float64, xs [][]float32) error
	Normals(dst []float32, src rng.Source, step int, stream rng.Stream) error
	Words(src rng.Source, count, step int, stream rng.Stream) ([]uint32, error)
	RGBA(x []float32, n, c, hw int, signed bool) ([]byte, error)
}

// Tolerances, per op: |got - want| <= Abs + Rel * scale, where scale is the
// op's natural magnitude (for sums of products, the same sum over absolute
// values, which bounds f32 rounding of any summation order).
var Tolerances = map[string]struct{ Abs, Rel float64 }{
	// f32 sums in another order (tiles of 16): a few ulp of the absolute sum.
	"linear": {1e-6, 1e-6},
	"conv2d": {1e-6, 1e-6},
	// f32 two-pass statistics and inverseSqrt (2 ulp) against f64 statistics.
	"groupnorm": {2e-6, 2e-6},
	// WGSL exp is accurate to 3 + 2|x| ulp.
	"silu":    {1e-6, 2e-6},
	"sigmoid": {1e-6, 2e-6},
	// The phase s t f in f32 (up to ~1000 rad here) carries a few 1e-5 rad of
	// rounding that the CPU's f64 phase does not.
	"timeembed": {1e-4, 0},
	// One f32 fma chain against f64 then rounding.
	"mixed":   {1e-6, 1e-6},
	"cfg":     {1e-6, 1e-6},
	"lincomb": {1e-6, 1e-6},
	// Box-Muller in f32 (own log and sincos) against f64 rounded once: the
	// issue's bound, 1e-6, for every normal.
	"normals": {1e-6, 0},
	// Exact ops: same f32 operations or pure data movement.
	"upsample": {0, 0}, "add": {0, 0}, "concat": {0, 0}, "words": {0, 0},
}

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		for x[i] == 0 {
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

func abs(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(math.Abs(float64(v)))
	}
	return y
}

func silu(x []float32) { runtime.SiLU(x, x) }

// compare checks got against want with op's tolerance, scale per element
// (nil: |want|), and reports the largest error relative to its bound.
func compare(t *testing.T, op, size string, got, want, scale []float32) {
	t.Helper()
	tol := Tolerances[op]
	worst, at := 0.0, -1
	for i := range want {
		s := math.Abs(float64(want[i]))
		if scale != nil {
			s = float64(scale[i])
		}
		d := math.Abs(float64(got[i]) - float64(want[i]))
		bound := tol.Abs + tol.Rel*s
		if math.IsNaN(float64(got[i])) || d > bound {
			t.Errorf("%s %s: element %d = %v, want %v (|diff| %.3g > %.3g)", op, size, i, got[i], want[i], d, bound)
			return
		}
		if bound > 0 && d/bound > worst {
			worst, at = d/bound, i
		}
	}
	if testing.Verbose() && at >= 0 {
		t.Logf("%s %s: worst error %.2f of the tolerance", op, size, worst)
	}
}

// Run runs the whole suite on b.
func Run(t *testing.T, b Backend) {
	t.Logf("backend %s", b.Name())
	r := rand.New(rand.NewPCG(1, 2))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range [][3]int{{1, 64, 256}, {33, 17, 45}, {64, 256, 64}, {5, 3, 1}} {
		n, in, out := s[0], s[1], s[2]
		x, w, bb := randn(r, n*in), randn(r, out*in), randn(r, out)
		for _, act := range []bool{false, true} {
			want, scale, got := make([]float32, n*out), make([]float32, n*out), make([]float32, n*out)
			runtime.Linear(want, x, w, bb, n, in, out)
			runtime.Linear(scale, abs(x), abs(w), abs(bb), n, in, out)
			if act {
				silu(want)
			}
			must(b.Linear(got, x, w, bb, n, in, out, act))
			compare(t, "linear", fmt.Sprintf("%dx%d->%d act=%v", n, in, out, act), got, want, scale)
		}
	}
	for _, s := range [][8]int{ // n c h w o k stride pad
		{2, 1, 28, 28, 16, 3, 1, 1}, {3, 5, 7, 9, 6, 3, 1, 1}, {2, 16, 14, 14, 32, 3, 2, 1},
		{1, 32, 7, 7, 4, 1, 1, 0}, {4, 8, 13, 11, 7, 3, 2, 0}, {1, 3, 5, 5, 2, 5, 1, 2},
		{3, 16, 28, 28, 1, 3, 1, 1},                          // an image output: one channel, columns over several tiles
		{3, 8, 7, 7, 12, 3, 1, 1}, {2, 16, 5, 6, 9, 1, 1, 0}, // small maps, many channels (the SIMD kernels gather)
	} {
		n, c, h, wd, o, k, st, pad := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		ho, wo := runtime.ConvOut(h, k, st, pad), runtime.ConvOut(wd, k, st, pad)
		x, w, bb := randn(r, n*c*h*wd), randn(r, o*c*k*k), randn(r, o)
		for _, act := range []bool{false, true} {
			m := n * o * ho * wo
			want, scale, got := make([]float32, m), make([]float32, m), make([]float32, m)
			runtime.Conv2D(want, x, w, bb, n, c, h, wd, o, k, st, pad)
			runtime.Conv2D(scale, abs(x), abs(w), abs(bb), n, c, h, wd, o, k, st, pad)
			if act {
				silu(want)
			}
			must(b.Conv2D(got, x, w, bb, n, c, h, wd, o, k, st, pad, act))
			compare(t, "conv2d", fmt.Sprintf("%v act=%v", s, act), got, want, scale)
		}
	}
	for _, s := range [][4]int{{2, 16, 784, 4}, {3, 6, 25, 3}, {1, 64, 49, 8}, {5, 4, 1, 2}} {
		n, c, hw, g := s[0], s[1], s[2], s[3]
		x := randn(r, n*c*hw)
		for i := range x {
			x[i] = 3 + 2*x[i] // an offset mean tests the two-pass statistics
		}
		gm, bt := randn(r, c), randn(r, c)
		for _, act := range []bool{false, true} {
			want, got := make([]float32, len(x)), make([]float32, len(x))
			runtime.GroupNorm(want, x, gm, bt, n, c, hw, g, 1e-5)
			if act {
				silu(want)
			}
			must(b.GroupNorm(got, x, gm, bt, n, c, hw, g, 1e-5, act))
			compare(t, "groupnorm", fmt.Sprintf("%v act=%v", s, act), got, want, nil)
		}
	}
	for _, s := range [][5]int{{2, 3, 7, 7, 2}, {1, 16, 14, 14, 2}, {3, 1, 5, 3, 3}} {
		x := randn(r, s[0]*s[1]*s[2]*s[3])
		want, got := make([]float32, len(x)*s[4]*s[4]), make([]float32, len(x)*s[4]*s[4])
		runtime.Upsample(want, x, s[0], s[1], s[2], s[3], s[4])
		must(b.Upsample(got, x, s[0], s[1], s[2], s[3], s[4]))
		compare(t, "upsample", fmt.Sprint(s), got, want, nil)
	}
	for _, n := range []int{1, 63, 1000, 70001} {
		x := randn(r, n)
		for i := range x {
			x[i] *= 6
		}
		// Saturation: where e^-x leaves (or nearly leaves) float range.
		copy(x, []float32{95, -95, 200, -200, 87.5, -87.5, 88.8, -88.8}[:min(n, 8)])
		want, got := make([]float32, n), make([]float32, n)
		runtime.SiLU(want, x)
		must(b.SiLU(got, x))
		compare(t, "silu", fmt.Sprint(n), got, want, nil)
		runtime.Sigmoid(want, x)
		must(b.Sigmoid(got, x))
		compare(t, "sigmoid", fmt.Sprint(n), got, want, nil)
	}
	for _, s := range [][3]int{{3, 64, 64}, {2, 16 * 49, 16}, {5, 7, 1}} {
		a, bb := randn(r, s[0]*s[1]), randn(r, s[0]*s[2])
		want, got := make([]float32, len(a)), make([]float32, len(a))
		runtime.Add(want, a, bb, s[0], s[1], s[2])
		must(b.Add(got, a, bb, s[0], s[1], s[2]))
		compare(t, "add", fmt.Sprint(s), got, want, nil)
	}
	for _, sizes := range [][]int{{5, 3}, {784, 784, 49}} {
		n := 3
		xs, total := make([][]float32, len(sizes)), 0
		for i, s := range sizes {
			xs[i] = randn(r, n*s)
			total += s
		}
		want, got := make([]float32, n*total), make([]float32, n*total)
		runtime.Concat(want, xs, sizes, n)
		must(b.Concat(got, xs, sizes, n))
		compare(t, "concat", fmt.Sprint(sizes), got, want, nil)
	}
	for _, s := range []struct {
		n, dim int
		scale  float32
	}{{4, 64, 1000}, {3, 18, 1}, {1, 128, 1000}} {
		tt := make([]float32, s.n)
		for i := range tt {
			tt[i] = float32(r.Float64())
		}
		want, got := make([]float32, s.n*s.dim), make([]float32, s.n*s.dim)
		runtime.TimeEmbed(want, tt, s.n, s.dim, s.scale)
		must(b.TimeEmbed(got, tt, s.n, s.dim, s.scale))
		compare(t, "timeembed", fmt.Sprintf("n=%d dim=%d scale=%v", s.n, s.dim, s.scale), got, want, nil)
	}
	for _, s := range [][2]int{{3, 196}, {1, 7}, {64, 196}} {
		n, d := s[0], s[1]
		z, eps := randn(r, n*d), randn(r, n*d)
		logit := randn(r, d)
		c := sampler.MixingCoeff(logit)
		k := 0.37
		want := append([]float32(nil), eps...)
		for i := range want {
			cc := float64(c[i%d])
			want[i] = float32((1-cc)*k*float64(z[i]) + cc*float64(eps[i]))
		}
		got := append([]float32(nil), eps...)
		must(b.Mixed(got, z, c, k))
		compare(t, "mixed", fmt.Sprint(s), got, want, nil)
	}
	for _, n := range []int{1, 147, 4096} {
		for _, w := range []float64{0, 1, 3.5} {
			cond, uncond := randn(r, n), randn(r, n)
			want, got := make([]float32, n), make([]float32, n)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			sampler.CFG(want, cond, uncond, w)
			must(b.CFG(got, cond, uncond, w))
			compare(t, "cfg", fmt.Sprintf("n=%d w=%v", n, w), got, want, nil)
		}
	}
	for _, n := range []int{1, 100, 12345} {
		y := randn(r, n)
		xs := [][]float32{randn(r, n), randn(r, n), randn(r, n)}
		cy, c := 0.9, []float64{-0.3, 1.7, 0.05}
		want, scale := make([]float32, n), make([]float32, n)
		for i := range want {
			v := cy * float64(y[i])
			s := math.Abs(v)
			for k, x := range xs {
				v += c[k] * float64(x[i])
				s += math.Abs(c[k] * float64(x[i]))
			}
			want[i], scale[i] = float32(v), float32(s)
		}
		got := append([]float32(nil), y...)
		must(b.Lincomb(got, cy, c, xs))
		compare(t, "lincomb", fmt.Sprint(n), got, want, scale)
	}
	for _, s := range []rng.Source{{Seed: 7, First: 0, Dim: 196}, {Seed: 1 << 40, First: 5, Dim: 7}, {Seed: 99, First: 1 << 20, Dim: 4}} {
		count := 9
		want, got := make([]float32, count*s.Dim), make([]float32, count*s.Dim)
		s.Fill(want, 3, rng.StreamStep)
		must(b.Normals(got, s, 3, rng.StreamStep))
		compare(t, "normals", fmt.Sprintf("%+v", s), got, want, nil)
		words, err := b.Words(s, count, 3, rng.StreamStep)
		must(err)
		per := (s.Dim + 3) / 4
		for i := 0; i < count; i++ {
			for blk := 0; blk < per; blk++ {
				w := rng.Philox4x32([4]uint32{uint32(blk), s.First + uint32(i), 3, uint32(rng.StreamStep)}, rng.Key(s.Seed))
				g := words[4*(i*per+blk):][:4]
				if [4]uint32(g) != w {
					t.Fatalf("words %+v: sample %d block %d = %x, want %x", s, i, blk, g, w)
				}
			}
		}
	}
	for _, s := range []struct {
		n, c, hw int
		signed   bool
	}{{3, 1, 784, false}, {2, 3, 25, true}, {1, 1, 7, true}} {
		x := randn(r, s.n*s.c*s.hw)
		got, err := b.RGBA(x, s.n, s.c, s.hw, s.signed)
		must(err)
		u := make([]float32, len(x))
		if s.signed {
			for i, v := range x {
				u[i] = 0.5 * (v + 1)
			}
		} else {
			runtime.Sigmoid(u, x)
		}
		img, err := runtime.Grid(u, s.n, []int{s.c, 1, s.hw}, s.n, 0)
		must(err)
		// Grid lays the images side by side in one row of height 1.
		for i := 0; i < s.n; i++ {
			for q := 0; q < s.hw; q++ {
				want := img.Pix[4*(i*s.hw+q):][:4]
				g := got[4*(i*s.hw+q):][:4]
				for ch := 0; ch < 4; ch++ {
					if d := int(g[ch]) - int(want[ch]); d > 1 || d < -1 {
						t.Fatalf("rgba %+v: image %d pixel %d = %v, want %v (one level allowed for rounding)", s, i, q, g, want)
					}
				}
			}
		}
	}
}
