package gpu

import (
	"encoding/binary"
	"math"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/rng"
)

// Host runs single ops on host slices: upload, one launch, readback. It is
// how the shared op suite (runtime/optest) tests each kernel against the CPU
// reference; the sampler never goes through it. Every output buffer starts
// poisoned with NaN, so a kernel that skips an element fails.
type Host struct{ D *Device }

// Name implements optest.Backend.
func (h Host) Name() string { return "webgpu: " + h.D.Name() }

// run uploads ins, makes a poisoned output of len(y), lets mk prepare the
// launch, runs it and reads the output into y.
func (h Host) run(y []float32, ins [][]float32, mk func(r *recorder, out *Buffer, in []*Buffer) error) error {
	d := h.D
	bufs := make([]*Buffer, len(ins))
	for i, x := range ins {
		b, err := d.NewBuffer(len(x), x)
		if err != nil {
			return err
		}
		defer b.Release()
		bufs[i] = b
	}
	poison := make([]float32, len(y))
	for i := range poison {
		poison[i] = float32(math.NaN())
	}
	out, err := d.NewBuffer(len(y), poison)
	if err != nil {
		return err
	}
	defer out.Release()
	r, err := d.newRecorder(8)
	if err != nil {
		return err
	}
	defer r.release()
	if err := mk(r, out, bufs); err != nil {
		return err
	}
	data, err := r.read([]*Buffer{out}, []int{len(y)})
	if err != nil {
		return err
	}
	copy(y, floats(data[0]))
	return nil
}

// static wraps a prepared launch for run.
func static(l *launch, err error, r *recorder) error {
	if err != nil {
		return err
	}
	r.owned = append(r.owned, l.bg, l.u)
	l.record(r)
	return nil
}

func (h Host) Linear(y, x, w, b []float32, n, in, out int, act bool) error {
	return h.run(y, [][]float32{x, w, b}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepLinear(o, i[0], i[1], i[2], n, in, out, act)
		return static(l, err, r)
	})
}

func (h Host) Conv2D(y, x, w, b []float32, n, c, hh, ww, o, k, stride, pad int, act bool) error {
	return h.run(y, [][]float32{x, w, b}, func(r *recorder, out *Buffer, i []*Buffer) error {
		l, err := h.D.prepConv(out, i[0], i[1], i[2], n, c, hh, ww, o, k, stride, pad, act)
		return static(l, err, r)
	})
}

func (h Host) GroupNorm(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32, act bool) error {
	return h.run(y, [][]float32{x, gamma, beta}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepGroupNorm(o, i[0], i[1], i[2], n, c, hw, groups, eps, act)
		return static(l, err, r)
	})
}

func (h Host) Upsample(y, x []float32, n, c, hh, ww, f int) error {
	return h.run(y, [][]float32{x}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepUpsample(o, i[0], n, c, hh, ww, f)
		return static(l, err, r)
	})
}

func (h Host) SiLU(y, x []float32) error {
	return h.run(y, [][]float32{x}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepUnary(o, i[0], len(x), opSiLU)
		return static(l, err, r)
	})
}

func (h Host) Sigmoid(y, x []float32) error {
	return h.run(y, [][]float32{x}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepUnary(o, i[0], len(x), opSigmoid)
		return static(l, err, r)
	})
}

func (h Host) Add(y, a, b []float32, n, size, bsize int) error {
	return h.run(y, [][]float32{a, b}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepAdd(o, i[0], i[1], n, size, bsize)
		return static(l, err, r)
	})
}

func (h Host) Concat(y []float32, xs [][]float32, sizes []int, n int) error {
	total := 0
	for _, s := range sizes {
		total += s
	}
	return h.run(y, xs, func(r *recorder, o *Buffer, in []*Buffer) error {
		off := 0
		for k := range xs {
			l, err := h.D.prepConcatPart(o, in[k], n, sizes[k], total, off)
			if err := static(l, err, r); err != nil {
				return err
			}
			off += sizes[k]
		}
		return nil
	})
}

func (h Host) TimeEmbed(y, t []float32, n, dim int, scale float32) error {
	return h.run(y, [][]float32{t}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepTimeEmbed(o, i[0], n, dim, scale)
		return static(l, err, r)
	})
}

// Mixed computes eps = (1 - c) k z + c eps in place.
func (h Host) Mixed(eps, z, coeff []float32, k float64) error {
	// eps is both input and output: it is uploaded as the "poisoned" output's
	// contents by copying from an input buffer first.
	return h.run(eps, [][]float32{z, coeff, append([]float32(nil), eps...)}, func(r *recorder, o *Buffer, i []*Buffer) error {
		r.copy(o, i[2], len(eps))
		return r.mixed(o, i[0], i[1], len(eps), len(coeff), k)
	})
}

// CFG computes dst = uncond + w (cond - uncond).
func (h Host) CFG(dst, cond, uncond []float32, w float64) error {
	both := append(append([]float32(nil), cond...), uncond...)
	return h.run(dst, [][]float32{both}, func(r *recorder, o *Buffer, i []*Buffer) error {
		return r.cfg(o, i[0], len(dst), w)
	})
}

// Lincomb computes y = cy y + sum c[i] xs[i] (y's input is its current value).
func (h Host) Lincomb(y []float32, cy float64, c []float64, xs [][]float32) error {
	ins := append([][]float32{append([]float32(nil), y...)}, xs...)
	return h.run(y, ins, func(r *recorder, o *Buffer, in []*Buffer) error {
		r.copy(o, in[0], len(y))
		terms := make([]term, len(xs))
		for i := range xs {
			terms[i] = term{c[i], in[1+i]}
		}
		return r.lincomb(o, len(y), cy, terms...)
	})
}

// Normals fills dst (a batch of samples of dim) like rng.Source.Fill.
func (h Host) Normals(dst []float32, src rng.Source, step int, stream rng.Stream) error {
	return h.run(dst, nil, func(r *recorder, o *Buffer, _ []*Buffer) error {
		return r.normals(o, noise{src.Seed, src.First, src.Dim}, len(dst)/src.Dim, step, uint32(stream))
	})
}

// Words returns the raw Philox words of a batch: 4 per block of 4 elements.
func (h Host) Words(src rng.Source, count, step int, stream rng.Stream) ([]uint32, error) {
	per := (src.Dim + 3) / 4
	y := make([]float32, 4*per*count)
	err := h.run(y, nil, func(r *recorder, o *Buffer, _ []*Buffer) error {
		return r.words(o, noise{src.Seed, src.First, src.Dim}, count, step, uint32(stream))
	})
	out := make([]uint32, len(y))
	for i, v := range y {
		out[i] = math.Float32bits(v)
	}
	return out, err
}

// RGBA converts n images [c, hw] to packed RGBA8 (mode 0 sigmoid, 1 [-1, 1]).
func (h Host) RGBA(x []float32, n, c, hw int, signed bool) ([]byte, error) {
	y := make([]float32, n*hw)
	mode := uint32(rgbaSigmoid)
	if signed {
		mode = rgbaSigned
	}
	err := h.run(y, [][]float32{x}, func(r *recorder, o *Buffer, i []*Buffer) error {
		l, err := h.D.prepRGBA(o, i[0], n, c, hw, mode)
		return static(l, err, r)
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4*len(y))
	for i, v := range y {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out, nil
}

// The training ops (optest.TrainBackend), each through a one-op Program.

// prog uploads ins and y (y's current values: Map keeps what its view
// skips), lets mk add ops to a fresh program and reads y back.
func (h Host) prog(y []float32, ins [][]float32, mk func(p *Program, out *Buffer, in []*Buffer) error) error {
	p := h.D.NewProgram()
	defer p.Release()
	bufs := make([]*Buffer, len(ins))
	for i, x := range ins {
		b, err := p.scratch(len(x), x)
		if err != nil {
			return err
		}
		bufs[i] = b
	}
	out, err := p.scratch(len(y), y)
	if err != nil {
		return err
	}
	if err := mk(p, out, bufs); err != nil {
		return err
	}
	data, err := p.RunRead(out)
	if err != nil {
		return err
	}
	copy(y, data[0])
	return nil
}

// poisoned fills y with NaN, so an element a kernel skips fails the suite.
func poisoned(y []float32) []float32 {
	for i := range y {
		y[i] = float32(math.NaN())
	}
	return y
}

func (h Host) Conv2DData(dx, dy, w []float32, n, c, hh, ww, o, k, stride, pad int) error {
	return h.prog(poisoned(dx), [][]float32{dy, w}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.Conv2DData(out, in[0], in[1], n, c, hh, ww, o, k, stride, pad)
	})
}

func (h Host) Conv2DFilter(dw, x, dy []float32, n, c, hh, ww, o, k, stride, pad int) error {
	return h.prog(poisoned(dw), [][]float32{x, dy}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.Conv2DFilter(out, in[0], in[1], n, c, hh, ww, o, k, stride, pad)
	})
}

func (h Host) GroupNormGrad(dx, x, dy []float32, n, c, hw, groups int, eps float32) error {
	return h.prog(poisoned(dx), [][]float32{x, dy}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.NormalizeGrad(out, in[0], in[1], n, c, hw, groups, eps)
	})
}

func (h Host) UpsampleGrad(dx, dy []float32, n, c, hh, ww, f int) error {
	return h.prog(poisoned(dx), [][]float32{dy}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.UpsampleGrad(out, in[0], n, c, hh, ww, f)
	})
}

func (h Host) Map(op runtime.MapOp, shape [runtime.MaxDims]int, y []float32, vy runtime.View, a []float32, va runtime.View, b []float32, vb runtime.View, c []float32, vc runtime.View) error {
	ins := [][]float32{a, b, c}[:op.Arity()]
	return h.prog(y, ins, func(p *Program, out *Buffer, in []*Buffer) error {
		refs := []Ref{{}, {}, {}}
		views := []runtime.View{va, vb, vc}
		for i := range in {
			refs[i] = Ref{in[i], views[i]}
		}
		return p.Map(op, shape, Ref{out, vy}, refs[0], refs[1], refs[2])
	})
}

func (h Host) SumAxis(y, x []float32, outer, k, inner int) error {
	return h.prog(poisoned(y), [][]float32{x}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.Sum(out, in[0], outer, k, inner)
	})
}

func (h Host) MatMul(c, a, b []float32, m, n, k int, ta, tb bool) error {
	return h.prog(poisoned(c), [][]float32{a, b}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.MatMul(out, in[0], in[1], m, n, k, ta, tb)
	})
}

func (h Host) LogisticNLL(y, mu, ls, x, dy []float32, which int) error {
	return h.prog(poisoned(y), [][]float32{mu, ls, x, dy}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.Logistic(out, in[0], in[1], in[2], in[3], len(y), which)
	})
}

// Adam runs an optimizer's t-th step on the device: the step count (t - 1,
// as GradNorm leaves it t) through the counters, the clipping factor
// through the state.
func (h Host) Adam(w, m, v, g []float32, lr, beta1, beta2, eps, clip float64, t, warmup int, max bool) error {
	p := h.D.NewProgram()
	defer p.Release()
	counters := make([]float32, runtime.CountersLen)
	counters[runtime.CountT+1] = float32(t)
	var bufs []*Buffer
	for _, x := range [][]float32{w, m, v, g, {1, 0, float32(clip)}, counters} {
		b, err := p.scratch(len(x), x)
		if err != nil {
			return err
		}
		bufs = append(bufs, b)
	}
	c := AdamConfig{LR: lr, Beta1: beta1, Beta2: beta2, Eps: eps, Warmup: warmup, Max: max}
	if err := p.Adam(bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5], len(w), 0, 1, 1, c); err != nil {
		return err
	}
	out, err := p.RunRead(bufs[0], bufs[1], bufs[2])
	if err != nil {
		return err
	}
	copy(w, out[0])
	copy(m, out[1])
	copy(v, out[2])
	return nil
}

// StepStats applies one step's bookkeeping to the counters c.
func (h Host) StepStats(c, vals []float32, norms [2]float32, groups int, finite bool) error {
	state := make([]float32, StateLen(groups))
	if finite {
		state[0] = 1
	}
	copy(state[1:], norms[:groups])
	return h.prog(c, [][]float32{vals, state}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.StepStats(out, in[0], in[1], groups, [2]int{0, 1})
	})
}

// EMA moves s toward w with decay d.
func (h Host) EMA(s, w []float32, d float64) error {
	return h.prog(s, [][]float32{w, {1}, EMARates(d)}, func(p *Program, out *Buffer, in []*Buffer) error {
		return p.EMA(out, in[0], in[1], in[2], len(w))
	})
}

// GradNorm computes each group's norm and clipping factor and the finite
// flag, the partial sums of every group then the decision, and returns the
// step counts it advanced from zero.
func (h Host) GradNorm(groups [][]float32, clip float64) (norms, factors []float64, finite bool, counts []float32, err error) {
	p := h.D.NewProgram()
	defer p.Release()
	fail := func(err error) ([]float64, []float64, bool, []float32, error) { return nil, nil, false, nil, err }
	state, err := p.scratch(StateLen(len(groups)), poisoned(make([]float32, StateLen(len(groups)))))
	if err != nil {
		return fail(err)
	}
	counters, err := p.scratch(runtime.CountersLen, make([]float32, runtime.CountersLen))
	if err != nil {
		return fail(err)
	}
	parts, err := p.scratch(len(groups)*NormParts, make([]float32, len(groups)*NormParts))
	if err != nil {
		return fail(err)
	}
	for i, g := range groups {
		b, err := p.scratch(len(g), g)
		if err != nil {
			return fail(err)
		}
		if err := p.GradPartial(parts, b, len(g), i); err != nil {
			return fail(err)
		}
	}
	if err := p.GradNorm(state, parts, counters, len(groups), [2]int{0, 1}, clip); err != nil {
		return fail(err)
	}
	got, err := p.RunRead(state, counters)
	if err != nil {
		return fail(err)
	}
	st := got[0]
	for i := range groups {
		norms = append(norms, float64(st[1+i]))
		factors = append(factors, float64(st[1+len(groups)+i]))
	}
	return norms, factors, st[0] == 1, got[1][runtime.CountT : runtime.CountT+len(groups)], nil
}

// TrainTimes draws a step's diffusion times on the device.
func (h Host) TrainTimes(out []float32, ts *runtime.TimeSampler, n int, seed uint64, step int, stream rng.Stream) error {
	words, table, err := ts.TimeParams()
	if err != nil {
		return err
	}
	return h.prog(poisoned(out), [][]float32{table}, func(p *Program, o *Buffer, in []*Buffer) error {
		return p.Times(o, in[0], words, n, n, seed, step, uint32(stream))
	})
}

// TrainImages gathers a batch from the dataset's bytes on the device.
func (h Host) TrainImages(x []float32, data []byte, idx []int, d int, mode runtime.ImageMode, seed uint64, step int, stream rng.Stream) error {
	db, err := h.D.NewBytes(data)
	if err != nil {
		return err
	}
	defer db.Release()
	words := make([]uint32, len(idx))
	for i, v := range idx {
		words[i] = uint32(v)
	}
	return h.prog(poisoned(x), nil, func(p *Program, out *Buffer, _ []*Buffer) error {
		ib, err := p.scratch(len(idx), nil)
		if err != nil {
			return err
		}
		if err := h.D.WriteWords(ib, words); err != nil {
			return err
		}
		return p.Images(out, db, ib, d, len(idx), mode, seed, step, uint32(stream))
	})
}
