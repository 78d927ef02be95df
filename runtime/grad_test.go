package runtime

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// The backward references are the adjoints of their forward ops:
// <conv(x, w), g> = <x, Conv2DData(g, w)> = <w, Conv2DFilter(x, g)>, and
// <Upsample(x), g> = <x, UpsampleGrad(g)>.
func TestGradientsAreAdjoints(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][8]int{{2, 3, 7, 6, 4, 3, 1, 1}, {2, 2, 9, 8, 3, 3, 2, 1}, {1, 4, 5, 5, 2, 1, 1, 0}, {3, 2, 8, 7, 5, 3, 2, 0}} {
		n, c, h, wd, o, k, st, pad := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		ho, wo := ConvOut(h, k, st, pad), ConvOut(wd, k, st, pad)
		x, w, g := randVec(r, n*c*h*wd), randVec(r, o*c*k*k), randVec(r, n*o*ho*wo)
		y, dx, dw := make([]float32, len(g)), make([]float32, len(x)), make([]float32, len(w))
		Conv2D(y, x, w, make([]float32, o), n, c, h, wd, o, k, st, pad)
		Conv2DData(dx, g, w, n, c, h, wd, o, k, st, pad)
		Conv2DFilter(dw, x, g, n, c, h, wd, o, k, st, pad)
		want := dot(y, g)
		if d := math.Abs(dot(x, dx) - want); d > 1e-4*math.Abs(want)+1e-4 {
			t.Errorf("%v: <x, Conv2DData> = %v, want %v", s, dot(x, dx), want)
		}
		if d := math.Abs(dot(w, dw) - want); d > 1e-4*math.Abs(want)+1e-4 {
			t.Errorf("%v: <w, Conv2DFilter> = %v, want %v", s, dot(w, dw), want)
		}
	}
	x, g := randVec(r, 2*3*4*5), randVec(r, 2*3*8*10)
	y, dx := make([]float32, len(g)), make([]float32, len(x))
	Upsample(y, x, 2, 3, 4, 5, 2)
	UpsampleGrad(dx, g, 2, 3, 4, 5, 2)
	if a, b := dot(y, g), dot(x, dx); math.Abs(a-b) > 1e-4 {
		t.Errorf("<Upsample(x), g> = %v, <x, UpsampleGrad(g)> = %v", a, b)
	}
}

// GroupNormGrad is the derivative of L = <GroupNorm(x), g> (unit affine),
// checked by central differences in float64 on each input.
func TestGroupNormGradFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n, c, hw, groups := 2, 4, 3, 2
	x, g := randVec(r, n*c*hw), randVec(r, n*c*hw)
	one, zero := make([]float32, c), make([]float32, c)
	for i := range one {
		one[i] = 1
	}
	loss := func(x []float32) float64 {
		y := make([]float32, len(x))
		GroupNorm(y, x, one, zero, n, c, hw, groups, 1e-5)
		return dot(y, g)
	}
	dx := make([]float32, len(x))
	GroupNormGrad(dx, x, g, n, c, hw, groups, 1e-5)
	for i := range x {
		const h = 1e-2
		xp, xm := append([]float32(nil), x...), append([]float32(nil), x...)
		xp[i] += h
		xm[i] -= h
		fd := (loss(xp) - loss(xm)) / (2 * h)
		if math.Abs(fd-float64(dx[i])) > 2e-3*(1+math.Abs(fd)) {
			t.Errorf("dx[%d] = %v, finite difference %v", i, dx[i], fd)
		}
	}
}

// The discretized logistic: its bin masses sum to 1 over the 256 bins, its
// stable form equals the plain difference of sigmoids where that is
// accurate, and its derivatives match central differences.
func TestLogistic(t *testing.T) {
	for _, p := range [][2]float64{{0, -2}, {0.3, -4}, {-0.9, -1}, {0.99, -6}, {0.1, 0.5}} {
		mu, ls := p[0], p[1]
		var mass float64
		for k := 0; k < LogisticBins; k++ {
			x := float64(k)*2/(LogisticBins-1) - 1
			nll, dmu, dls := Logistic(mu, ls, x)
			mass += math.Exp(-nll)
			if k > 0 && k < LogisticBins-1 {
				s := 1 / math.Exp(ls)
				a, b := s*(x-mu+1.0/255), s*(x-mu-1.0/255)
				if plain := sigmoid64(a) - sigmoid64(b); plain > 1e-6 && math.Abs(math.Exp(-nll)-plain) > 1e-9*plain+1e-15 {
					t.Errorf("mu %v ls %v bin %d: mass %v, plain difference %v", mu, ls, k, math.Exp(-nll), plain)
				}
			}
			const h = 1e-6
			np, _, _ := Logistic(mu+h, ls, x)
			nm, _, _ := Logistic(mu-h, ls, x)
			if fd := (np - nm) / (2 * h); math.Abs(fd-dmu) > 1e-4*(1+math.Abs(fd)) {
				t.Errorf("mu %v ls %v bin %d: dmu %v, finite difference %v", mu, ls, k, dmu, fd)
			}
			np, _, _ = Logistic(mu, ls+h, x)
			nm, _, _ = Logistic(mu, ls-h, x)
			if fd := (np - nm) / (2 * h); math.Abs(fd-dls) > 1e-4*(1+math.Abs(fd)) {
				t.Errorf("mu %v ls %v bin %d: dls %v, finite difference %v", mu, ls, k, dls, fd)
			}
		}
		if math.Abs(mass-1) > 1e-9 {
			t.Errorf("mu %v ls %v: masses sum to %v", mu, ls, mass)
		}
	}
	// Far in the tail the plain difference underflows; the stable form does not.
	if nll, _, _ := Logistic(-0.9, -7, 0.9); math.IsInf(nll, 0) || math.IsNaN(nll) || nll < 1000 {
		t.Errorf("far tail: -log P = %v, want a large finite value", nll)
	}
}

// LogisticNLL, which computes only what each output needs, matches
// Logistic within float32 rounding (2e-6 relative) on random means, log
// scales (clamped ones included) and pixels of every bin, sizes 1 to 4097.
func TestLogisticNLL(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 256, 4097} {
		mu, ls, x, dy := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range mu {
			mu[i] = float32(2*r.Float64() - 1)
			ls[i] = float32(-9 + 10*r.Float64()) // below MinLogScale too
			x[i] = float32(r.IntN(LogisticBins))*2/(LogisticBins-1) - 1
			dy[i] = float32(r.NormFloat64())
		}
		for which := 0; which < 3; which++ {
			y := make([]float32, n)
			LogisticNLL(y, mu, ls, x, dy, which)
			for i := range y {
				nll, dmu, dls := Logistic(float64(mu[i]), float64(ls[i]), float64(x[i]))
				want := [3]float64{nll, float64(dy[i]) * dmu, float64(dy[i]) * dls}[which]
				if g := float64(y[i]); math.Abs(g-want) > 2e-6*math.Abs(want)+1e-30 {
					t.Fatalf("n %d which %d element %d (mu %v ls %v x %v): %v, Logistic gives %v", n, which, i, mu[i], ls[i], x[i], g, want)
				}
			}
		}
	}
}

// Map applies each function through its views: a broadcast (stride 0), a
// transpose and a flip, against direct loops.
func TestMapViews(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shape := [MaxDims]int{2, 3, 1, 4}
	a := randVec(r, 24)
	b := randVec(r, 3) // one value per axis-1 index
	c := randVec(r, 24)
	y := make([]float32, 24)
	vb := View{Stride: [MaxDims]int{0, 1, 0, 0}}
	// a read transposed: a is stored [4, 3, 2] (axis 3, 1, 0).
	va := View{Stride: [MaxDims]int{1, 2, 0, 6}}
	// y written flipped along axis 3.
	vy := View{Off: 3, Stride: [MaxDims]int{12, 4, 0, -1}}
	for _, op := range MapOps() {
		Map(op, shape, y, vy, a, va, b, vb, c, Contiguous(shape))
		for i0 := 0; i0 < 2; i0++ {
			for i1 := 0; i1 < 3; i1++ {
				for i3 := 0; i3 < 4; i3++ {
					want := float32(op.Apply(float64(a[i3*6+i1*2+i0]), float64(b[i1]), float64(c[(i0*3+i1)*4+i3])))
					if got := y[i0*12+i1*4+3-i3]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
						t.Fatalf("%v at (%d,%d,%d): %v, want %v", op, i0, i1, i3, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkLogisticNLL times the decoder loss and its two gradients on one
// batch of 64 Fashion-MNIST images, against Logistic element by element.
func BenchmarkLogisticNLL(b *testing.B) {
	const n = 64 * 28 * 28
	r := rand.New(rand.NewPCG(3, 4))
	mu, ls, x, dy, y := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range mu {
		mu[i], ls[i], dy[i] = float32(2*r.Float64()-1), float32(-4+2*r.Float64()), 1
		x[i] = float32(r.IntN(LogisticBins))*2/(LogisticBins-1) - 1
	}
	b.Run("LogisticNLL", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for which := 0; which < 3; which++ {
				LogisticNLL(y, mu, ls, x, dy, which)
			}
		}
	})
	b.Run("Logistic", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for which := 0; which < 3; which++ {
				for k := range y {
					nll, dmu, dls := Logistic(float64(mu[k]), float64(ls[k]), float64(x[k]))
					y[k] = float32([3]float64{nll, dmu, dls}[which])
				}
			}
		}
	})
}
