package gpu

import (
	"fmt"

	"github.com/lsgm-go/lsgm/runtime"
)

// Program is a fixed list of kernel launches and buffer copies over device
// buffers, prepared once and replayed as one submission per Run: the
// trainer's compiled training step (forward, loss and gradients). Its ops
// are the training ops of runtime/grad.go and runtime/mapop.go plus the
// layers the sampler uses, each tested against the CPU reference in the op
// suite (runtime/optest) through Host.
type Program struct {
	d     *Device
	steps []step
	own   []*Buffer          // scratch and constant buffers the program made
	fills map[[2]int]*Buffer // constant buffers by (length, value)
	bytes int64              // the size of own
}

// step is a launch, or a copy of n values from src into dst at dstOff.
type step struct {
	l           *launch
	src, dst    *Buffer
	dstOff, num int
}

// NewProgram starts an empty program on d.
func (d *Device) NewProgram() *Program {
	return &Program{d: d, fills: map[[2]int]*Buffer{}}
}

// Release frees the program's launches and its own buffers (not the
// buffers its ops were given).
func (p *Program) Release() {
	for _, s := range p.steps {
		if s.l != nil {
			s.l.release()
		}
	}
	for _, b := range p.own {
		b.Release()
	}
	p.steps, p.own = nil, nil
}

// Launches is the number of kernel launches a Run submits.
func (p *Program) Launches() int {
	n := 0
	for _, s := range p.steps {
		if s.l != nil {
			n++
		}
	}
	return n
}

// ScratchBytes is the device memory the program's own buffers take.
func (p *Program) ScratchBytes() int64 { return p.bytes }

// Run submits the whole program as one command buffer.
func (p *Program) Run() error { return RunAll(p.d, []*Program{p}) }

// RunRead submits the program and reads bufs back in the same submission.
func (p *Program) RunRead(bufs ...*Buffer) ([][]float32, error) {
	return RunRead(p.d, []*Program{p}, bufs...)
}

func (p *Program) record() (*recorder, error) {
	r, err := p.d.newRecorder(1)
	if err != nil {
		return nil, err
	}
	p.recordInto(r)
	return r, nil
}

func (p *Program) recordInto(r *recorder) {
	for _, s := range p.steps {
		if s.l != nil {
			s.l.record(r)
		} else {
			r.copyAt(s.dst, s.dstOff, s.src, s.num)
		}
	}
}

// Own hands buffers to the program: Release frees them with it.
func (p *Program) Own(bufs ...*Buffer) {
	for _, b := range bufs {
		p.own = append(p.own, b)
		p.bytes += int64(4 * b.len)
	}
}

// scratch allocates a buffer the program owns.
func (p *Program) scratch(n int, data []float32) (*Buffer, error) {
	b, err := p.d.NewBuffer(n, data)
	if err != nil {
		return nil, err
	}
	p.own = append(p.own, b)
	p.bytes += int64(4 * b.len)
	return b, nil
}

// filled returns a constant buffer of n values v (0 or 1), made once.
func (p *Program) filled(n, v int) (*Buffer, error) {
	if b := p.fills[[2]int{n, v}]; b != nil {
		return b, nil
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(v)
	}
	b, err := p.scratch(n, data)
	if err == nil {
		p.fills[[2]int{n, v}] = b
	}
	return b, err
}

func (p *Program) add(l *launch, err error) error {
	if err != nil {
		return err
	}
	p.steps = append(p.steps, step{l: l})
	return nil
}

// need checks that each buffer holds at least its count of values.
func need(op string, pairs ...any) error {
	for i := 0; i < len(pairs); i += 2 {
		b, n := pairs[i].(*Buffer), pairs[i+1].(int)
		if b == nil || b.len < n {
			got := 0
			if b != nil {
				got = b.len
			}
			return fmt.Errorf("gpu: %s: operand %d holds %d values, needs %d", op, i/2, got, n)
		}
	}
	return nil
}

// Copy copies n values of src into dst from value off.
func (p *Program) Copy(dst *Buffer, off int, src *Buffer, n int) error {
	if err := need("copy", src, n, dst, off+n); err != nil {
		return err
	}
	p.steps = append(p.steps, step{src: src, dst: dst, dstOff: off, num: n})
	return nil
}

// Conv2D is a convolution without bias: x [n, c, h, wd], w [o, c, k, k].
func (p *Program) Conv2D(y, x, w *Buffer, n, c, h, wd, o, k, stride, pad int) error {
	zero, err := p.filled(o, 0)
	if err != nil {
		return err
	}
	return p.Conv2DBias(y, x, w, zero, n, c, h, wd, o, k, stride, pad)
}

// Conv2DBias is a convolution plus a bias b [o] per output channel, in the
// one launch.
func (p *Program) Conv2DBias(y, x, w, b *Buffer, n, c, h, wd, o, k, stride, pad int) error {
	ho, wo := convOut(h, k, stride, pad), convOut(wd, k, stride, pad)
	if err := need("conv2d", x, n*c*h*wd, w, o*c*k*k, y, n*o*ho*wo, b, o); err != nil {
		return err
	}
	return p.add(p.d.prepConv(y, x, w, b, n, c, h, wd, o, k, stride, pad, false))
}

// Conv2DData is the convolution's input gradient (runtime.Conv2DData). At
// stride 1 (and a padding up to k-1) it is a convolution of dy with the
// kernel flipped and its channels swapped, padded k-1-pad, on the tuned
// conv2d kernel. Otherwise the products w^T dy are one 1x1 convolution on
// the same kernel into columns [n, c k k, ho wo], which col2im.wgsl adds up
// into dx: no multiply by the zeros a stride leaves between dy's pixels.
func (p *Program) Conv2DData(dx, dy, w *Buffer, n, c, h, wd, o, k, stride, pad int) error {
	ho, wo := convOut(h, k, stride, pad), convOut(wd, k, stride, pad)
	if err := need("conv2d_dx", dy, n*o*ho*wo, w, o*c*k*k, dx, n*c*h*wd); err != nil {
		return err
	}
	if stride == 1 && pad <= k-1 {
		flip, err := p.scratch(o*c*k*k, nil)
		if err != nil {
			return err
		}
		// flip[ic, oc, ky, kx] = w[oc, ic, k-1-ky, k-1-kx]
		shape := [4]int{c, o, k, k}
		src := runtime.View{Off: k*k - 1, Stride: [4]int{k * k, c * k * k, -k, -1}}
		if err := p.Map(runtime.MapCopy, shape, Ref{flip, runtime.Contiguous(shape)}, Ref{w, src}, Ref{}, Ref{}); err != nil {
			return err
		}
		return p.Conv2D(dx, dy, flip, n, o, ho, wo, c, k, 1, k-1-pad)
	}
	q := c * k * k
	wt, err := p.scratch(q*o, nil)
	if err != nil {
		return err
	}
	// wt[(ic, ky, kx), oc] = w[oc, ic, ky, kx]
	shape := [4]int{c, k, k, o}
	if err := p.Map(runtime.MapCopy, shape, Ref{wt, runtime.Contiguous(shape)}, Ref{w, runtime.View{Stride: [4]int{k * k, k, 1, q}}}, Ref{}, Ref{}); err != nil {
		return err
	}
	cols, err := p.scratch(n*q*ho*wo, nil)
	if err != nil {
		return err
	}
	if err := p.Conv2D(cols, dy, wt, n, o, ho, wo, q, 1, 1, 0); err != nil {
		return err
	}
	gx, gy := grid(n * c * h * wd)
	return p.add(p.d.prep("col2im", gx, gy, []uint32{
		uint32(n), uint32(c), uint32(h), uint32(wd), uint32(k), uint32(stride), uint32(pad), 0,
		uint32(ho), uint32(wo), 0, 0}, cols, dx))
}

// Conv2DFilter is the convolution's weight gradient (runtime.Conv2DFilter).
// The sum over the batch's pixels is split into chunks when the weight has
// few 32x64 tiles, so a large GPU has work for all its cores; the partial
// sums are then added by Sum.
func (p *Program) Conv2DFilter(dw, x, dy *Buffer, n, c, h, wd, o, k, stride, pad int) error {
	ho, wo := convOut(h, k, stride, pad), convOut(wd, k, stride, pad)
	if err := need("conv2d_dw", x, n*c*h*wd, dy, n*o*ho*wo, dw, o*c*k*k); err != nil {
		return err
	}
	nq, nr := c*k*k, n*ho*wo
	tiles := ((o + 31) / 32) * ((nq + 63) / 64)
	splits := max(1, min((256+tiles-1)/tiles, nr/1024))
	chunk := ((nr+splits-1)/splits + 15) / 16 * 16
	splits = (nr + chunk - 1) / chunk
	out := dw
	if splits > 1 {
		var err error
		if out, err = p.scratch(splits*o*nq, nil); err != nil {
			return err
		}
	}
	if uint32((nq+63)/64) > maxGroups || uint32((o+31)/32) > maxGroups {
		return fmt.Errorf("gpu: conv2d_dw of %d by %d weights is beyond the dispatch limit", o, nq)
	}
	l, err := p.d.prep("conv2d_dw", uint32((nq+63)/64), uint32((o+31)/32), []uint32{
		uint32(n), uint32(c), uint32(h), uint32(wd), uint32(o), uint32(k), uint32(stride), uint32(pad),
		uint32(ho), uint32(wo), uint32(chunk), 0}, x, dy, out)
	if err != nil {
		return err
	}
	l.z = uint32(splits)
	if err := p.add(l, nil); err != nil {
		return err
	}
	if splits > 1 {
		return p.Sum(dw, out, 1, splits, o*nq)
	}
	return nil
}

// Normalize is group normalisation without its affine part.
func (p *Program) Normalize(y, x *Buffer, n, c, hw, groups int, eps float32) error {
	if err := need("groupnorm", x, n*c*hw, y, n*c*hw); err != nil {
		return err
	}
	one, err := p.filled(c, 1)
	if err != nil {
		return err
	}
	zero, err := p.filled(c, 0)
	if err != nil {
		return err
	}
	return p.add(p.d.prepGroupNorm(y, x, one, zero, n, c, hw, groups, eps, false))
}

// NormalizeGrad is its input gradient (runtime.GroupNormGrad).
func (p *Program) NormalizeGrad(dx, x, dy *Buffer, n, c, hw, groups int, eps float32) error {
	if err := need("groupnorm_grad", x, n*c*hw, dy, n*c*hw, dx, n*c*hw); err != nil {
		return err
	}
	if n > maxGroups || groups > maxGroups {
		return fmt.Errorf("gpu: group norm over %d samples is beyond the dispatch limit", n)
	}
	return p.add(p.d.prep("groupnorm_grad", uint32(groups), uint32(n), []uint32{uint32(c), uint32(hw), uint32(groups), 0, f32bits(float64(eps))}, x, dy, dx))
}

// Upsample repeats each pixel of [n, c, h, w] f times along both axes.
func (p *Program) Upsample(y, x *Buffer, n, c, h, w, f int) error {
	if err := need("upsample", x, n*c*h*w, y, n*c*h*w*f*f); err != nil {
		return err
	}
	return p.add(p.d.prepUpsample(y, x, n, c, h, w, f))
}

// UpsampleGrad sums each f x f block of dy (runtime.UpsampleGrad).
func (p *Program) UpsampleGrad(dx, dy *Buffer, n, c, h, w, f int) error {
	if err := need("upsample_grad", dy, n*c*h*w*f*f, dx, n*c*h*w); err != nil {
		return err
	}
	gx, gy := grid(n * c * h * w)
	return p.add(p.d.prep("upsample_grad", gx, gy, []uint32{uint32(n * c), uint32(h), uint32(w), uint32(f)}, dy, dx))
}

// SiLU is x sigmoid(x) over n values.
func (p *Program) SiLU(y, x *Buffer, n int) error {
	if err := need("silu", x, n, y, n); err != nil {
		return err
	}
	return p.add(p.d.prepUnary(y, x, n, opSiLU))
}

// Ref is an operand of Map: a buffer and where the tensor lies in it.
type Ref struct {
	B *Buffer
	V runtime.View
}

// extent returns the lowest and one past the highest index v reaches over shape.
func extent(v runtime.View, shape [4]int) (lo, hi int) {
	lo, hi = v.Off, v.Off
	for d, s := range v.Stride {
		if s < 0 {
			lo += s * (shape[d] - 1)
		} else {
			hi += s * (shape[d] - 1)
		}
	}
	return lo, hi + 1
}

// Map computes y = op(a, b, c) elementwise over shape (runtime.Map). y must
// not share a buffer with an input: WebGPU forbids a writable binding that
// aliases another.
func (p *Program) Map(op runtime.MapOp, shape [4]int, y, a, b, c Ref) error {
	total := shape[0] * shape[1] * shape[2] * shape[3]
	if total == 0 {
		return nil
	}
	refs := []Ref{y, a, b, c}[:1+op.Arity()]
	for i, r := range refs {
		if r.B == nil {
			return fmt.Errorf("gpu: map %v: operand %d missing", op, i)
		}
		if lo, hi := extent(r.V, shape); lo < 0 || hi > r.B.len {
			return fmt.Errorf("gpu: map %v: operand %d reaches [%d, %d) of a buffer of %d", op, i, lo, hi, r.B.len)
		}
		if i > 0 && r.B == y.B {
			return fmt.Errorf("gpu: map %v: input %d is the output buffer", op, i)
		}
	}
	words := []uint32{uint32(shape[0]), uint32(shape[1]), uint32(shape[2]), uint32(shape[3]), uint32(total), uint32(op), 0, 0}
	all := []Ref{y, a, b, c}
	for _, r := range all {
		words = append(words, uint32(int32(r.V.Off)))
	}
	for _, r := range all {
		for _, s := range r.V.Stride {
			words = append(words, uint32(int32(s)))
		}
	}
	gx, gy := grid(total)
	return p.add(p.d.prep("map", gx, gy, words, a.B, b.B, c.B, y.B))
}

// Sum adds x [outer, k, inner] over its middle axis into y [outer, inner].
func (p *Program) Sum(y, x *Buffer, outer, k, inner int) error {
	if err := need("sum", x, outer*k*inner, y, outer*inner); err != nil {
		return err
	}
	words := []uint32{uint32(outer), uint32(k), uint32(inner), 0}
	if k < 256 {
		gx, gy := grid(outer * inner)
		return p.add(p.d.prep("sum", gx, gy, words, x, y))
	}
	g := outer * inner
	gx := min(g, maxGroups)
	return p.add(p.d.prep("sumwide", uint32(gx), uint32((g+gx-1)/gx), words, x, y))
}

// MatMul computes c [m, n] = op(a) op(b) (runtime.MatMul).
func (p *Program) MatMul(c, a, b *Buffer, m, n, k int, ta, tb bool) error {
	if err := need("matmul", a, m*k, b, k*n, c, m*n); err != nil {
		return err
	}
	sam, sak := k, 1
	if ta {
		sam, sak = 1, m
	}
	sbk, sbn := n, 1
	if tb {
		sbk, sbn = 1, k
	}
	gx := uint32((n + 63) / 64) // 32x64 tiles
	if gx > maxGroups || tiles(m) > maxGroups {
		return fmt.Errorf("gpu: matmul %dx%d is beyond the dispatch limit", m, n)
	}
	return p.add(p.d.prep("gemm", gx, tiles(m), []uint32{uint32(m), uint32(n), uint32(k), 0, uint32(sam), uint32(sak), uint32(sbk), uint32(sbn)}, a, b, c))
}

// Logistic writes the discretized logistic's -log P (which 0) or dy times
// its derivative by mu (1) or by ls (2) over n values (runtime.LogisticNLL;
// dy may be nil for which 0).
func (p *Program) Logistic(y, mu, ls, x, dy *Buffer, n, which int) error {
	if err := need("logistic", mu, n, ls, n, x, n, y, n); err != nil {
		return err
	}
	if which != 0 {
		if err := need("logistic", dy, n); err != nil {
			return err
		}
	}
	gx, gy := grid(n)
	return p.add(p.d.prep("logistic", gx, gy, []uint32{uint32(n), uint32(which)}, mu, ls, x, dy, y))
}

// RunRead submits progs in order as one command buffer and reads bufs back
// in the same submission.
func RunRead(d *Device, progs []*Program, bufs ...*Buffer) ([][]float32, error) {
	r, err := d.newRecorder(1)
	if err != nil {
		return nil, err
	}
	defer r.release()
	for _, p := range progs {
		p.recordInto(r)
	}
	n := make([]int, len(bufs))
	for i, b := range bufs {
		n[i] = b.len
	}
	data, err := r.read(bufs, n)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(data))
	for i, b := range data {
		out[i] = floats(b)
	}
	return out, nil
}

// Normals writes count samples of dim standard normals for (step, stream)
// into y, the draw of rng.Source{Seed: seed, First: first, Dim: dim}.Fill.
func (p *Program) Normals(y *Buffer, seed uint64, first uint32, dim, count, step int, stream uint32) error {
	if err := need("normals", y, count*dim); err != nil {
		return err
	}
	gx, gy := grid(count * ((dim + 3) / 4))
	return p.add(p.d.prep("normals_static", gx, gy, []uint32{uint32(seed), uint32(seed >> 32), first, uint32(dim), uint32(step), stream, uint32(count), 0}, y))
}

// Images writes a training batch of count images of d pixels into x: image
// idx[i] of the dataset's bytes in data, in mode's scale (runtime.TrainImages;
// the random modes' uniforms keyed by seed, step and stream).
func (p *Program) Images(x, data, idx *Buffer, d, count int, mode runtime.ImageMode, seed uint64, step int, stream uint32) error {
	if err := need("images", x, count*d, idx, count); err != nil {
		return err
	}
	gx, gy := grid(count * d)
	return p.add(p.d.prep("images", gx, gy, []uint32{uint32(seed), uint32(seed >> 32), uint32(d), uint32(count), uint32(step), stream, uint32(mode), 0}, data, idx, x))
}

// Times writes the diffusion times of a training step for count samples
// into out (runtime.TimeSampler.Fill: t, weight, m_t, sigma_t, c_t, count
// each, stride apart), with a sampler's parameters (TimeParams) and its
// table in table.
func (p *Program) Times(out, table *Buffer, words []uint32, count, stride int, seed uint64, step int, stream uint32) error {
	if err := need("times", out, (runtime.TimeParts-1)*stride+count); err != nil {
		return err
	}
	if stride < count {
		return fmt.Errorf("gpu: times: stride %d below the count %d", stride, count)
	}
	gx, gy := grid(count)
	u := append([]uint32{uint32(seed), uint32(seed >> 32), uint32(count), uint32(step), stream, uint32(stride), 0, 0}, words...)
	return p.add(p.d.prep("times", gx, gy, u, table, out))
}

// TimeEmbed writes the sinusoidal embeddings of the n times t into y
// (runtime.TimeEmbed).
func (p *Program) TimeEmbed(y, t *Buffer, n, dim int, scale float32) error {
	if err := need("timeembed", t, n, y, n*dim); err != nil {
		return err
	}
	return p.add(p.d.prepTimeEmbed(y, t, n, dim, scale))
}

// RunAll submits progs in order as one command buffer, reading nothing.
func RunAll(d *Device, progs []*Program) error {
	r, err := d.newRecorder(1)
	if err != nil {
		return err
	}
	defer r.release()
	for _, p := range progs {
		p.recordInto(r)
	}
	return r.submit()
}
