package nn

import (
	"fmt"

	"gorgonia.org/tensor"
	"math"
	"math/rand/v2"
	"testing"
)

// expf agrees with float64's exp rounded to float32 within 3e-7 relative
// over the range SiLU meets, and saturates at the ends.
func TestExpf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for i := 0; i < 1000000; i++ {
		x := float32(r.Float64()*170 - 85)
		if i < 1000 {
			x = float32(r.Float64()*2 - 1) // near 0 too
		}
		want := math.Exp(float64(x))
		got := float64(expf(x))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("expf: worst relative error %.3g, want <= 3e-7", worst)
	}
	t.Logf("expf: worst relative error %.3g", worst)
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) || expf(0) != 1 {
		t.Errorf("expf(-100) = %v, expf(100) = %v, expf(0) = %v", expf(-100), expf(100), expf(0))
	}
	if v := expf(float32(math.NaN())); v == v {
		t.Errorf("expf(NaN) = %v", v)
	}
}

func BenchmarkSiLU(b *testing.B) {
	x := make([]float32, 64*32*28*28)
	for i := range x {
		x[i] = float32(i%200)/20 - 5
	}
	out := make([]float32, len(x))
	b.Run("kernel", func(b *testing.B) { // vectorized C where built with cgo on amd64
		b.SetBytes(int64(4 * len(x)))
		for i := 0; i < b.N; i++ {
			siluOp.fwd(out, [][]float32{x}, nil)
		}
	})
	b.Run("expf", func(b *testing.B) { // the scalar Go loop
		b.SetBytes(int64(4 * len(x)))
		for i := 0; i < b.N; i++ {
			for j, v := range x {
				out[j] = v / (1 + expf(-v))
			}
		}
	})
	b.Run("math.Exp", func(b *testing.B) { // the float64 loop it replaced
		b.SetBytes(int64(4 * len(x)))
		for i := 0; i < b.N; i++ {
			parallelFor(len(out)/1024+1, func(lo, hi int) {
				xs := x[min(lo*1024, len(out)):min(hi*1024, len(out))]
				o := out[min(lo*1024, len(out)):]
				for i, v := range xs {
					o[i] = v / (1 + float32(math.Exp(-float64(v))))
				}
			})
		}
	})
}

// The vectorized SiLU and its gradient agree with float64 within 1e-6
// relative (the gradient relative to the size of its terms; plus 1e-30
// absolute, for the far negative tail that the clamp flattens), on random
// inputs over [-100, 100] and at the edges.
func TestVecSiLU(t *testing.T) {
	if !haveVec {
		t.Skip("nn: built without cgo on amd64: no vector kernels to test")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 7, 8, 33, 4096} {
		x, dy := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(r.Float64()*200 - 100)
			if i%3 == 0 {
				x[i] = float32(r.NormFloat64() * 4)
			}
			dy[i] = float32(r.NormFloat64())
		}
		copy(x, []float32{0, -100, 100, 88.8, -88, 1e-8, -1e-8}[:min(n, 7)])
		y, g := make([]float32, n), make([]float32, n)
		vecSiLU(y, x)
		vecSiLUGrad(g, x, dy)
		for i, v := range x {
			s := 1 / (1 + math.Exp(-float64(v)))
			wy, wg := float64(v)*s, float64(dy[i])*s*(1+float64(v)*(1-s))
			if d := math.Abs(float64(y[i]) - wy); d > 1e-6*math.Abs(wy)+1e-30 {
				t.Errorf("n %d: silu(%g) = %g, want %g", n, v, y[i], wy)
			}
			// relative to the terms' size: 1 + x (1 - s) cancels near x = -1.28
			if d := math.Abs(float64(g[i]) - wg); d > 1e-6*math.Abs(float64(dy[i]))*s*(1+math.Abs(float64(v))*(1-s))+1e-30 {
				t.Errorf("n %d: silu'(%g) dy %g = %g, want %g", n, v, dy[i], g[i], wg)
			}
		}
	}
	nan := float32(math.NaN())
	y, g := make([]float32, 1), make([]float32, 1)
	vecSiLU(y, []float32{nan})
	vecSiLUGrad(g, []float32{nan}, []float32{1})
	if y[0] == y[0] || g[0] == g[0] {
		t.Errorf("silu(NaN) = %v, grad %v, want NaN", y[0], g[0])
	}
}

// The vectorized group norm and its gradient agree with float64 sums
// within 1e-5 relative to the largest value, at group sizes from 1 to a
// 32x32 plane, on inputs with an offset (mean 3, sd 2).
func TestVecGroupNorm(t *testing.T) {
	if !haveVec {
		t.Skip("nn: built without cgo on amd64: no vector kernels to test")
	}
	r := rand.New(rand.NewPCG(9, 10))
	const eps = 1e-5
	for _, g := range [][3]int{{1, 1, 3}, {3, 7, 3}, {4, 49, 3}, {2, 1024, 3}, {4, 49, 1000}, {2, 196, 100000}} {
		ng, size := g[0], g[1]
		x, dy := make([]float32, ng*size), make([]float32, ng*size)
		for i := range x { // mean g[2], spread 2: the mean's rounding must not show
			x[i], dy[i] = float32(float64(g[2])+2*r.NormFloat64()), float32(float64(g[2])/3+r.NormFloat64())
		}
		y, dx := make([]float32, len(x)), make([]float32, len(x))
		vecGroupNorm(y, x, ng, size, eps)
		vecGroupNormGrad(dx, x, dy, ng, size, eps)
		wy, wdx := make([]float64, len(x)), make([]float64, len(x))
		for gi := 0; gi < ng; gi++ {
			var m, v, sd, sdx float64
			for i := gi * size; i < (gi+1)*size; i++ {
				m += float64(x[i]) / float64(size)
			}
			for i := gi * size; i < (gi+1)*size; i++ {
				v += (float64(x[i]) - m) * (float64(x[i]) - m) / float64(size)
			}
			rs := 1 / math.Sqrt(v+eps)
			for i := gi * size; i < (gi+1)*size; i++ {
				wy[i] = (float64(x[i]) - m) * rs
				sd += float64(dy[i]) / float64(size)
				sdx += float64(dy[i]) * wy[i] / float64(size)
			}
			for i := gi * size; i < (gi+1)*size; i++ {
				wdx[i] = rs * (float64(dy[i]) - sd - wy[i]*sdx)
			}
		}
		for _, c := range []struct {
			what string
			got  []float32
			want []float64
		}{{"y", y, wy}, {"dx", dx, wdx}} {
			var scale, worst float64
			for i, w := range c.want {
				scale = max(scale, math.Abs(w))
				worst = max(worst, math.Abs(float64(c.got[i])-w))
			}
			if worst > 1e-5*max(scale, 1e-3) {
				t.Errorf("%d groups of %d: %s worst error %.3g of scale %.3g", ng, size, c.what, worst, scale)
			}
		}
	}
}

// BenchmarkGroupNorm times group norm and its gradient at the shipped
// decoder's largest size ([64, 32, 14, 14], 8 groups) and the score
// network's ([64, 64, 7, 7], 8 groups).
func BenchmarkGroupNorm(b *testing.B) {
	for _, s := range [][4]int{{64, 32, 14, 14}, {64, 64, 7, 7}} {
		n := s[0] * s[1] * s[2] * s[3]
		r := rand.New(rand.NewPCG(1, 3))
		x, dy, out := randSlice(r, n, 1), randSlice(r, n, 1), make([]float32, n)
		sh := []tensor.Shape{{s[0], s[1], s[2], s[3]}, {s[0], s[1], s[2], s[3]}}
		fwd, grad := normOp(8, 1e-5), normGradOp(8, 1e-5)
		name := fmt.Sprintf("%dx%dx%dx%d", s[0], s[1], s[2], s[3])
		b.Run(name+"/fwd", func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for i := 0; i < b.N; i++ {
				fwd.fwd(out, [][]float32{x}, sh)
			}
		})
		b.Run(name+"/grad", func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for i := 0; i < b.N; i++ {
				grad.fwd(out, [][]float32{x, dy}, sh)
			}
		})
	}
}
