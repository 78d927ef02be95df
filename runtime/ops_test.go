package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func poison(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return x
}

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*(1+math.Abs(float64(want[i])))) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// Conv2D against the textbook formula written as one expression per output,
// at several sizes, strides and paddings including odd ones. Outputs start as
// NaN so a position the op forgets to write fails.
func TestConv2DMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ n, ci, h, w, co, k, s, p int }{
		{1, 1, 5, 5, 1, 3, 1, 1}, {2, 3, 7, 7, 4, 3, 2, 1}, {3, 2, 28, 28, 5, 3, 2, 1},
		{1, 4, 6, 9, 3, 1, 1, 0}, {2, 5, 13, 11, 2, 5, 3, 2}, {1, 2, 4, 4, 3, 4, 1, 0},
	} {
		x, w, b := randn(r, c.n*c.ci*c.h*c.w), randn(r, c.co*c.ci*c.k*c.k), randn(r, c.co)
		ho, wo := ConvOut(c.h, c.k, c.s, c.p), ConvOut(c.w, c.k, c.s, c.p)
		y := poison(c.n * c.co * ho * wo)
		Conv2D(y, x, w, b, c.n, c.ci, c.h, c.w, c.co, c.k, c.s, c.p)
		want := make([]float32, len(y))
		at := func(i, ch, yy, xx int) float64 {
			if yy < 0 || yy >= c.h || xx < 0 || xx >= c.w {
				return 0
			}
			return float64(x[((i*c.ci+ch)*c.h+yy)*c.w+xx])
		}
		for i := 0; i < c.n; i++ {
			for o := 0; o < c.co; o++ {
				for oy := 0; oy < ho; oy++ {
					for ox := 0; ox < wo; ox++ {
						acc := float64(b[o])
						for ch := 0; ch < c.ci; ch++ {
							for ky := 0; ky < c.k; ky++ {
								for kx := 0; kx < c.k; kx++ {
									acc += float64(w[((o*c.ci+ch)*c.k+ky)*c.k+kx]) * at(i, ch, oy*c.s+ky-c.p, ox*c.s+kx-c.p)
								}
							}
						}
						want[((i*c.co+o)*ho+oy)*wo+ox] = float32(acc)
					}
				}
			}
		}
		closeTo(t, "conv2d", y, want, 1e-5)
	}
}

func TestLinearMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 1))
	for _, c := range []struct{ n, in, out int }{{1, 1, 1}, {3, 7, 5}, {16, 64, 33}} {
		x, w, b := randn(r, c.n*c.in), randn(r, c.out*c.in), randn(r, c.out)
		y := poison(c.n * c.out)
		Linear(y, x, w, b, c.n, c.in, c.out)
		want := make([]float32, len(y))
		for i := 0; i < c.n; i++ {
			for o := 0; o < c.out; o++ {
				acc := float64(b[o])
				for k := 0; k < c.in; k++ {
					acc += float64(x[i*c.in+k]) * float64(w[o*c.in+k])
				}
				want[i*c.out+o] = float32(acc)
			}
		}
		closeTo(t, "linear", y, want, 1e-5)
	}
}

// With unit scale and zero shift each group comes out with mean 0 and variance
// 1 (up to eps); scale and shift then act per channel.
func TestGroupNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 1))
	n, c, hw, g := 3, 6, 10, 3
	x := randn(r, n*c*hw)
	for i := range x {
		x[i] = 3*x[i] + 2
	}
	ones, zeros := make([]float32, c), make([]float32, c)
	for i := range ones {
		ones[i] = 1
	}
	y := poison(len(x))
	GroupNorm(y, x, ones, zeros, n, c, hw, g, 1e-6)
	for i := 0; i < n*g; i++ {
		seg := y[i*(c/g)*hw : (i+1)*(c/g)*hw]
		var s, s2 float64
		for _, v := range seg {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		mean, vr := s/float64(len(seg)), s2/float64(len(seg))
		if math.Abs(mean) > 1e-5 || math.Abs(vr-1) > 1e-4 {
			t.Errorf("group %d: mean %v, var %v", i, mean, vr)
		}
	}
	gamma, beta := randn(r, c), randn(r, c)
	z := poison(len(x))
	GroupNorm(z, x, gamma, beta, n, c, hw, g, 1e-6)
	for i := range z {
		ch := (i / hw) % c
		if want := y[i]*gamma[ch] + beta[ch]; math.Abs(float64(z[i]-want)) > 1e-5 {
			t.Fatalf("affine: %v vs %v", z[i], want)
		}
	}
}

func TestElementwiseAndLayout(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8} // [2, 1, 2, 2]
	y := poison(32)
	Upsample(y, x, 2, 1, 2, 2, 2)
	if y[0] != 1 || y[1] != 1 || y[2] != 2 || y[4] != 1 || y[8] != 3 || y[15] != 4 || y[16] != 5 || y[31] != 8 {
		t.Errorf("upsample: %v", y)
	}
	s := poison(3)
	SiLU(s, []float32{0, 1, -2})
	closeTo(t, "silu", s, []float32{0, float32(1 / (1 + math.Exp(-1))), float32(-2 / (1 + math.Exp(2)))}, 1e-6)
	Sigmoid(s, []float32{0, 30, -30})
	closeTo(t, "sigmoid", s, []float32{0.5, 1, float32(math.Exp(-30))}, 1e-6)
	a := poison(8)
	Add(a, x, []float32{10, 20}, 2, 4, 1) // per-sample scalar channel
	closeTo(t, "add broadcast", a, []float32{11, 12, 13, 14, 25, 26, 27, 28}, 0)
	cc := poison(10)
	Concat(cc, [][]float32{{1, 2, 3, 4}, {9, 8, 7, 6, 5, 4}}, []int{2, 3}, 2)
	closeTo(t, "concat", cc, []float32{1, 2, 9, 8, 7, 3, 4, 6, 5, 4}, 0)
	e := poison(8)
	TimeEmbed(e, []float32{0, 0.5}, 2, 4, 1000)
	closeTo(t, "timeembed", e, []float32{0, 0, 1, 1,
		float32(math.Sin(500)), float32(math.Sin(5)), float32(math.Cos(500)), float32(math.Cos(5))}, 1e-6)
}

// BenchmarkConv2D compares the reference loop with the fast path (im2col
// and gemm) at the shipped model's sizes: the score network's 64-channel 3x3
// convolutions on the 7x7 latent, the decoder's 32 channels at 14x14 and 16
// at 28x28, at batch 1, 16 and 64.
func BenchmarkConv2D(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, sz := range []struct{ c, h, o int }{{64, 7, 64}, {32, 14, 32}, {16, 28, 16}} {
		for _, n := range []int{1, 16, 64} {
			const k = 3
			x, w, bias := randn(r, n*sz.c*sz.h*sz.h), randn(r, sz.o*sz.c*k*k), randn(r, sz.o)
			y := make([]float32, n*sz.o*sz.h*sz.h)
			flops := 2.0 * float64(n*sz.o*sz.h*sz.h*sz.c*k*k)
			var kn Kernels
			for _, impl := range []string{"ref", "fast"} {
				b.Run(fmt.Sprintf("%s/%dx%d/%dto%d/batch%d", impl, sz.h, sz.h, sz.c, sz.o, n), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						if impl == "ref" {
							Conv2D(y, x, w, bias, n, sz.c, sz.h, sz.h, sz.o, k, 1, 1)
						} else {
							kn.Conv2D(y, x, w, bias, n, sz.c, sz.h, sz.h, sz.o, k, 1, 1, false)
						}
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkGemmPeak is the multiply itself on a large square problem (512),
// the peak the convolutions' GFLOP/s are read against.
func BenchmarkGemmPeak(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 512
	x, w, y := randn(r, n*n), randn(r, n*n), make([]float32, n*n)
	for i := 0; i < b.N; i++ {
		gemm(false, n, n, n, w, n, x, n, y, n)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
