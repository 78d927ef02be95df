package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/tensor"
)

// naiveConv returns y = conv(x, w), dx = conv^T(dy) and dw = dy (*) x by
// direct summation in float64, the reference for the chunked kernels.
func naiveConv(c convGeom, x, w, dy []float32, b, ch, h, wd, o int) (y, dx, dw []float64) {
	ho, wo := (h+2*c.pad-c.k)/c.stride+1, (wd+2*c.pad-c.k)/c.stride+1
	y = make([]float64, b*o*ho*wo)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	for bi := range b {
		for oi := range o {
			for oy := range ho {
				for ox := range wo {
					yi := ((bi*o+oi)*ho+oy)*wo + ox
					for ci := range ch {
						for ky := range c.k {
							for kx := range c.k {
								iy, ix := oy*c.stride-c.pad+ky, ox*c.stride-c.pad+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								xi := ((bi*ch+ci)*h+iy)*wd + ix
								wi := ((oi*ch+ci)*c.k+ky)*c.k + kx
								y[yi] += float64(w[wi]) * float64(x[xi])
								dx[xi] += float64(w[wi]) * float64(dy[yi])
								dw[wi] += float64(dy[yi]) * float64(x[xi])
							}
						}
					}
				}
			}
		}
	}
	return y, dx, dw
}

// The chunked convolution, its input gradient and its weight gradient
// match direct summation within 1e-5 (relative to the largest magnitude),
// with chunks of one sample, of several with a partial last one, and of
// the whole batch, on one worker and on three.
func TestConvChunks(t *testing.T) {
	defer func(n int) { chunkFloats = n }(chunkFloats)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(5, 6))
	for _, g := range []struct{ b, ch, h, w, o, k, s, p int }{
		{5, 3, 6, 5, 4, 3, 1, 1}, {5, 2, 7, 7, 3, 3, 2, 1}, {4, 3, 4, 4, 5, 1, 1, 0}, {3, 2, 6, 6, 2, 1, 2, 0}, {5, 2, 8, 9, 3, 5, 1, 2}, {3, 2, 6, 7, 3, 3, 1, 0}, {2, 3, 5, 5, 2, 3, 1, 2},
	} {
		c := convGeom{k: g.k, stride: g.s, pad: g.p}
		ho, wo := (g.h+2*g.p-g.k)/g.s+1, (g.w+2*g.p-g.k)/g.s+1
		x, w, dy := randSlice(r, g.b*g.ch*g.h*g.w, 1), randSlice(r, g.o*g.ch*g.k*g.k, 1), randSlice(r, g.b*g.o*ho*wo, 1)
		wy, wdx, wdw := naiveConv(c, x, w, dy, g.b, g.ch, g.h, g.w, g.o)
		bias := randSlice(r, g.o, 1)
		per := g.ch * g.k * g.k * ho * wo
		for _, chunk := range []int{1, 2, g.b} {
			for _, procs := range []int{1, 3} {
				chunkFloats = chunk * per
				runtime.GOMAXPROCS(procs)
				name := fmt.Sprintf("%+v chunk %d procs %d", g, chunk, procs)
				y := make([]float32, len(wy))
				c.convFwd(y, x, w, g.b, g.ch, g.h, g.w, g.o, ho, wo)
				yb := make([]float32, len(wy))
				c.convFwdBias(yb, x, w, bias, g.b, g.ch, g.h, g.w, g.o, ho, wo)
				for i := range yb { // the bias path adds exactly bias[o] to the same sums
					if oc := i / (ho * wo) % g.o; yb[i] != y[i]+bias[oc] {
						t.Fatalf("%s: with bias, y[%d] = %v, want %v + %v", name, i, yb[i], y[i], bias[oc])
					}
				}
				dx := make([]float32, len(x))
				c.convDx(dx, w, dy, g.b, g.ch, g.h, g.w, g.o, ho, wo)
				dw := make([]float32, len(w))
				c.convDw(dw, x, dy, g.b, g.ch, g.h, g.w, g.o, ho, wo)
				for _, cmp := range []struct {
					what string
					got  []float32
					want []float64
				}{{"y", y, wy}, {"dx", dx, wdx}, {"dw", dw, wdw}} {
					var scale, worst float64
					for i, v := range cmp.want {
						scale = max(scale, math.Abs(v))
						worst = max(worst, math.Abs(float64(cmp.got[i])-v))
					}
					if worst > 1e-5*scale {
						t.Errorf("%s: %s worst error %.3g of scale %.3g", name, cmp.what, worst, scale)
					}
				}
			}
		}
	}
}

// BenchmarkConv times the forward pass, the input gradient and the weight
// gradient of 3x3 convolutions at the shipped model's sizes, batch 64, in
// GFLOP/s (2 O C K K Ho Wo per sample each).
func BenchmarkConv(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range []struct{ c, o, h int }{{64, 64, 7}, {128, 64, 7}, {32, 32, 14}, {32, 16, 28}} {
		const B = 64
		c := convGeom{k: 3, stride: 1, pad: 1}
		x, w, dy := randSlice(r, B*g.c*g.h*g.h, 1), randSlice(r, g.o*g.c*9, 1), randSlice(r, B*g.o*g.h*g.h, 1)
		out, dx, dw := make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
		flops := float64(2 * B * g.o * g.c * 9 * g.h * g.h)
		for _, op := range []struct {
			name string
			run  func()
		}{
			{"fwd", func() { c.convFwd(out, x, w, B, g.c, g.h, g.h, g.o, g.h, g.h) }},
			{"dx", func() { clear(dx); c.convDx(dx, w, dy, B, g.c, g.h, g.h, g.o, g.h, g.h) }},
			{"dw", func() { clear(dw); c.convDw(dw, x, dy, B, g.c, g.h, g.h, g.o, g.h, g.h) }},
		} {
			b.Run(fmt.Sprintf("%dto%d_%dx%d/%s", g.c, g.o, g.h, g.h, op.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					op.run()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// On a tensor large enough to split across cores (three here), the
// broadcast kernels match direct loops: add and mul exactly, the sums over
// b's broadcast axes within 1e-6 of the sum of their terms' sizes (float32
// sums; each core sums its own runs).
func TestBroadcastParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	r := rand.New(rand.NewPCG(11, 12))
	xs := tensor.Shape{4, 16, 32, 32}
	for _, bs := range []tensor.Shape{{1, 16, 1, 1}, {4, 16, 1, 1}, {1, 1, 32, 32}, {4, 1, 1, 1}} {
		x, b, dy := randSlice(r, xs.TotalSize(), 1), randSlice(r, bs.TotalSize(), 1), randSlice(r, xs.TotalSize(), 1)
		// bi maps x's flat index to b's.
		bi := func(i int) int {
			idx := [4]int{i / (16 * 32 * 32), i / (32 * 32) % 16, i / 32 % 32, i % 32}
			j := 0
			for d := 0; d < 4; d++ {
				if bs[d] != 1 {
					j = j*bs[d] + idx[d]
				}
			}
			return j
		}
		add, mul := make([]float32, len(x)), make([]float32, len(x))
		bcastAddOp.fwd(add, [][]float32{x, b}, []tensor.Shape{xs, bs})
		bcastMulOp.fwd(mul, [][]float32{x, b}, []tensor.Shape{xs, bs})
		sum, dot := make([]float32, len(b)), make([]float32, len(b))
		bcastSumOp.fwd(sum, [][]float32{dy, b}, []tensor.Shape{xs, bs})
		bcastDotOp.fwd(dot, [][]float32{dy, x, b}, []tensor.Shape{xs, xs, bs})
		wsum, wdot, wabs := make([]float64, len(b)), make([]float64, len(b)), make([]float64, len(b))
		for i := range x {
			j := bi(i)
			if add[i] != x[i]+b[j] || mul[i] != x[i]*b[j] {
				t.Fatalf("b %v: element %d: add %v mul %v, want %v and %v", bs, i, add[i], mul[i], x[i]+b[j], x[i]*b[j])
			}
			wsum[j] += float64(dy[i])
			wdot[j] += float64(dy[i]) * float64(x[i])
			wabs[j] += math.Abs(float64(dy[i])) * (1 + math.Abs(float64(x[i])))
		}
		for j := range b {
			if math.Abs(float64(sum[j])-wsum[j]) > 1e-6*wabs[j] || math.Abs(float64(dot[j])-wdot[j]) > 1e-6*wabs[j] {
				t.Fatalf("b %v: element %d: sum %v dot %v, want %v and %v", bs, j, sum[j], dot[j], wsum[j], wdot[j])
			}
		}
	}
}

// sum32 and dot32 match float64 sums within float32 rounding of the sum of
// magnitudes, at every length from 0 to 40 (all tails of the unrolling).
func TestSumDot32(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 40; n++ {
		a, b := randSlice(r, n, 1), randSlice(r, n, 1)
		var s, d, sa, da float64
		for i := range a {
			s, sa = s+float64(a[i]), sa+math.Abs(float64(a[i]))
			d, da = d+float64(a[i])*float64(b[i]), da+math.Abs(float64(a[i])*float64(b[i]))
		}
		if g := float64(sum32(a)); math.Abs(g-s) > 1e-6*sa+1e-30 {
			t.Errorf("sum32 of %d: %v, want %v", n, g, s)
		}
		if g := float64(dot32(a, b)); math.Abs(g-d) > 1e-6*da+1e-30 {
			t.Errorf("dot32 of %d: %v, want %v", n, g, d)
		}
	}
}

// BenchmarkBcastSum times a bias's gradient (dy summed to [1, C, 1, 1]) at
// the score network's size.
func BenchmarkBcastSum(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	dy, out := randSlice(r, 64*64*7*7, 1), make([]float32, 64)
	sh := []tensor.Shape{{64, 64, 7, 7}, {1, 64, 1, 1}}
	b.SetBytes(int64(4 * len(dy)))
	for i := 0; i < b.N; i++ {
		bcastSumOp.fwd(out, [][]float32{dy, out}, sh)
	}
}
