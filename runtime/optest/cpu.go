package optest

import (
	"math"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sampler"
)

// CPU is the reference backend itself, so the suite's own plumbing is
// checked where no GPU exists.
type CPU struct{}

func (CPU) Name() string { return "cpu reference" }

func (CPU) Linear(y, x, w, b []float32, n, in, out int, act bool) error {
	runtime.Linear(y, x, w, b, n, in, out)
	if act {
		silu(y)
	}
	return nil
}

func (CPU) Conv2D(y, x, w, b []float32, n, c, h, wd, o, k, stride, pad int, act bool) error {
	runtime.Conv2D(y, x, w, b, n, c, h, wd, o, k, stride, pad)
	if act {
		silu(y)
	}
	return nil
}

func (CPU) GroupNorm(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32, act bool) error {
	runtime.GroupNorm(y, x, gamma, beta, n, c, hw, groups, eps)
	if act {
		silu(y)
	}
	return nil
}

func (CPU) Upsample(y, x []float32, n, c, h, w, f int) error {
	runtime.Upsample(y, x, n, c, h, w, f)
	return nil
}

func (CPU) SiLU(y, x []float32) error    { runtime.SiLU(y, x); return nil }
func (CPU) Sigmoid(y, x []float32) error { runtime.Sigmoid(y, x); return nil }

func (CPU) Add(y, a, b []float32, n, size, bsize int) error {
	runtime.Add(y, a, b, n, size, bsize)
	return nil
}

func (CPU) Concat(y []float32, xs [][]float32, sizes []int, n int) error {
	runtime.Concat(y, xs, sizes, n)
	return nil
}

func (CPU) TimeEmbed(y, t []float32, n, dim int, scale float32) error {
	runtime.TimeEmbed(y, t, n, dim, scale)
	return nil
}

func (CPU) Mixed(eps, z, coeff []float32, k float64) error {
	for i := range eps {
		c := float64(coeff[i%len(coeff)])
		eps[i] = float32((1-c)*k*float64(z[i]) + c*float64(eps[i]))
	}
	return nil
}

func (CPU) CFG(dst, cond, uncond []float32, w float64) error {
	sampler.CFG(dst, cond, uncond, w)
	return nil
}

func (CPU) Lincomb(y []float32, cy float64, c []float64, xs [][]float32) error {
	for i := range y {
		v := cy * float64(y[i])
		for k, x := range xs {
			v += c[k] * float64(x[i])
		}
		y[i] = float32(v)
	}
	return nil
}

func (CPU) Normals(dst []float32, src rng.Source, step int, stream rng.Stream) error {
	src.Fill(dst, step, stream)
	return nil
}

func (CPU) Words(src rng.Source, count, step int, stream rng.Stream) ([]uint32, error) {
	per := (src.Dim + 3) / 4
	out := make([]uint32, 0, 4*per*count)
	for i := 0; i < count; i++ {
		for blk := 0; blk < per; blk++ {
			w := rng.Philox4x32([4]uint32{uint32(blk), src.First + uint32(i), uint32(step), uint32(stream)}, rng.Key(src.Seed))
			out = append(out, w[:]...)
		}
	}
	return out, nil
}

func (CPU) RGBA(x []float32, n, c, hw int, signed bool) ([]byte, error) {
	u := make([]float32, len(x))
	if signed {
		for i, v := range x {
			u[i] = 0.5 * (v + 1)
		}
	} else {
		runtime.Sigmoid(u, x)
	}
	img, err := runtime.Grid(u, n, []int{c, 1, hw}, n, 0)
	if err != nil {
		return nil, err
	}
	return img.Pix, nil
}

// CPUFast is the CPU path the runtime samples with (runtime.Kernels:
// natively im2col and a matrix multiply; in the browser build the
// WebAssembly SIMD kernels where loaded, else im2col and a register-tiled
// Go multiply), for the ops it speeds up; the rest are the reference's.
type CPUFast struct {
	CPU
	k runtime.Kernels
}

func (*CPUFast) Name() string {
	if ok, _ := runtime.SIMDKernels(); ok {
		return "cpu fast (wasm simd)"
	}
	return "cpu fast (gemm)"
}

func (c *CPUFast) Linear(y, x, w, b []float32, n, in, out int, act bool) error {
	c.k.Linear(y, x, w, b, n, in, out, act)
	return nil
}

func (c *CPUFast) Conv2D(y, x, w, b []float32, n, ch, h, wd, o, k, stride, pad int, act bool) error {
	c.k.Conv2D(y, x, w, b, n, ch, h, wd, o, k, stride, pad, act)
	return nil
}

func (c *CPUFast) GroupNorm(y, x, gamma, beta []float32, n, ch, hw, groups int, eps float32, act bool) error {
	c.k.GroupNorm(y, x, gamma, beta, n, ch, hw, groups, eps, act)
	return nil
}

func (c *CPUFast) SiLU(y, x []float32) error {
	c.k.SiLU(y, x)
	return nil
}

func (c *CPUFast) Sigmoid(y, x []float32) error {
	c.k.Sigmoid(y, x)
	return nil
}

func (c *CPUFast) Add(y, a, b []float32, n, size, bsize int) error {
	c.k.Add(y, a, b, n, size, bsize)
	return nil
}

// The training ops of the reference (TrainBackend).

func (CPU) Conv2DData(dx, dy, w []float32, n, c, h, wd, o, k, stride, pad int) error {
	runtime.Conv2DData(dx, dy, w, n, c, h, wd, o, k, stride, pad)
	return nil
}

func (CPU) Conv2DFilter(dw, x, dy []float32, n, c, h, wd, o, k, stride, pad int) error {
	runtime.Conv2DFilter(dw, x, dy, n, c, h, wd, o, k, stride, pad)
	return nil
}

func (CPU) GroupNormGrad(dx, x, dy []float32, n, c, hw, groups int, eps float32) error {
	runtime.GroupNormGrad(dx, x, dy, n, c, hw, groups, eps)
	return nil
}

func (CPU) UpsampleGrad(dx, dy []float32, n, c, h, w, f int) error {
	runtime.UpsampleGrad(dx, dy, n, c, h, w, f)
	return nil
}

func (CPU) Map(op runtime.MapOp, shape [runtime.MaxDims]int, y []float32, vy runtime.View, a []float32, va runtime.View, b []float32, vb runtime.View, c []float32, vc runtime.View) error {
	runtime.Map(op, shape, y, vy, a, va, b, vb, c, vc)
	return nil
}

func (CPU) SumAxis(y, x []float32, outer, k, inner int) error {
	runtime.SumAxis(y, x, outer, k, inner)
	return nil
}

func (CPU) MatMul(c, a, b []float32, m, n, k int, ta, tb bool) error {
	runtime.MatMul(c, a, b, m, n, k, ta, tb)
	return nil
}

func (CPU) LogisticNLL(y, mu, ls, x, dy []float32, which int) error {
	runtime.LogisticNLL(y, mu, ls, x, dy, which)
	return nil
}

func (CPU) Adam(p, m, v, g []float32, lr, beta1, beta2, eps, clip float64, t, warmup int, max bool) error {
	runtime.AdamStepAt(lr, beta1, beta2, eps, clip, t, warmup, max).Apply(p, m, v, g)
	return nil
}

func (CPU) StepStats(c, vals []float32, norms [2]float32, groups int, finite bool) error {
	m := map[int]float32{0: norms[0]}
	if groups == 2 {
		m[1] = norms[1]
	}
	runtime.StepStats(c, vals, m, finite)
	return nil
}

func (CPU) EMA(s, p []float32, d float64) error {
	runtime.EMAUpdate(s, p, d)
	return nil
}

func (CPU) GradNorm(groups [][]float32, clip float64) (norms, factors []float64, finite bool, counts []float32, err error) {
	finite = true
	for _, g := range groups {
		var s float64
		for _, v := range g {
			s += float64(v) * float64(v)
		}
		n := math.Sqrt(s)
		finite = finite && !math.IsNaN(n) && !math.IsInf(n, 0)
		norms, factors = append(norms, n), append(factors, runtime.ClipFactor(n, clip))
	}
	counts = make([]float32, len(groups))
	if finite {
		for i := range counts {
			counts[i] = 1
		}
	}
	return norms, factors, finite, counts, nil
}

func (CPU) TrainTimes(out []float32, ts *runtime.TimeSampler, n int, seed uint64, step int, stream rng.Stream) error {
	ts.Fill(out, n, seed, step, stream)
	return nil
}

func (CPU) TrainImages(x []float32, data []byte, idx []int, d int, mode runtime.ImageMode, seed uint64, step int, stream rng.Stream) error {
	runtime.TrainImages(x, data, idx, d, mode, seed, step, stream)
	return nil
}
