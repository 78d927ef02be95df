package nn

import (
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
	b.Run("expf", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for i := 0; i < b.N; i++ {
			siluOp.fwd(out, [][]float32{x}, nil)
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
