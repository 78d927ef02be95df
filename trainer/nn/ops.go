package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is a gorgonia Op whose forward pass is a plain Go function over
// float32 slices. The trainer's hot layers (convolution, group norm, SiLU,
// upsampling) are kernels: gorgonia's own versions either copy through
// interfaces per element (Upsample2D) or alias buffers that its in-place
// scheduler then overwrites (a reshape feeding a broadcast), and fused
// kernels are faster. Each kernel's gradient is itself built from kernels,
// and every one is checked against finite differences in the tests.
type kernel struct {
	name  string
	arity int
	shape func(in []tensor.Shape) (tensor.Shape, error)
	fwd   func(out []float32, in [][]float32, shapes []tensor.Shape)
	// grad returns the gradient node of each input (nil where none), given
	// the op's inputs, output and the output's gradient.
	grad func(in G.Nodes, out, dy *G.Node) (G.Nodes, error)
	// nodiff lists inputs that get no gradient (data, targets, scales).
	nodiff []int
	spec   Spec
}

// Spec names what a kernel computes, for executors other than gorgonia's
// (the GPU trainer lowers a differentiated graph op by op). Op is the
// kernel's name without its parameters; the fields that apply are set.
type Spec struct {
	Op             string
	K, Stride, Pad int     // convolutions
	Groups         int     // group norm
	Eps            float64 // group norm
	Factor         int     // upsampling
	Which          int     // logistic_nll_grad: 0 by the mean, 1 by the log scale
	Off            int     // slice_ch: the first channel
}

// OpSpec returns the Spec of one of this package's kernels, and false for
// any other op (gorgonia's own).
func OpSpec(op G.Op) (Spec, bool) {
	k, ok := op.(*kernel)
	if !ok {
		return Spec{}, false
	}
	return k.spec, true
}

func (k *kernel) Arity() int { return k.arity }

// Type: every input and the output share one tensor type (all kernels take
// and return tensors of the same rank).
func (k *kernel) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, k.arity+1)
	for i := range ts {
		ts[i] = a
	}
	return hm.NewFnType(ts...)
}

func (k *kernel) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("nn: %s: input %d has no shape", k.name, i)
		}
		shapes[i] = s
	}
	return k.shape(shapes)
}

func (k *kernel) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != k.arity {
		return nil, fmt.Errorf("nn: %s takes %d inputs, got %d", k.name, k.arity, len(vals))
	}
	in := make([][]float32, len(vals))
	shapes := make([]tensor.Shape, len(vals))
	for i, v := range vals {
		d, ok := v.Data().([]float32)
		if f, scalar := v.Data().(float32); scalar {
			d, ok = []float32{f}, true
		}
		if !ok {
			return nil, fmt.Errorf("nn: %s: input %d is %T, want float32 data", k.name, i, v.Data())
		}
		if t, ok := v.(*tensor.Dense); ok && !t.IsMaterializable() && !t.DataOrder().IsRowMajor() {
			return nil, fmt.Errorf("nn: %s: input %d is not row-major", k.name, i)
		}
		in[i], shapes[i] = d, v.Shape()
	}
	s, err := k.shape(shapes)
	if err != nil {
		return nil, err
	}
	out := make([]float32, s.TotalSize())
	k.fwd(out, in, shapes)
	if s.IsScalar() {
		return G.NewF32(out[0]), nil
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(out)), nil
}

func (k *kernel) ReturnsPtr() bool      { return false }
func (k *kernel) CallsExtern() bool     { return false }
func (k *kernel) OverwritesInput() int  { return -1 }
func (k *kernel) WriteHash(h hash.Hash) { fmt.Fprint(h, k.name) }
func (k *kernel) Hashcode() uint32 {
	h := fnv.New32a()
	k.WriteHash(h)
	return h.Sum32()
}
func (k *kernel) String() string { return k.name }

func (k *kernel) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = k.grad != nil
	}
	for _, i := range k.nodiff {
		if i < n {
			d[i] = false
		}
	}
	return d
}

func (k *kernel) SymDiff(in G.Nodes, out, dy *G.Node) (G.Nodes, error) {
	if k.grad == nil {
		return nil, fmt.Errorf("nn: %s has no gradient", k.name)
	}
	return k.grad(in, out, dy)
}

func same(in []tensor.Shape) (tensor.Shape, error) { return in[0].Clone(), nil }

// parallelFor runs fn over [0, n) split across the cores.
func parallelFor(n int, fn func(lo, hi int)) {
	parallelForW(n, func(_, lo, hi int) { fn(lo, hi) })
}

// parallelForW is parallelFor that also numbers each range's worker
// (0 <= worker < min(cores, n)), for per-worker accumulators (workerSums).
func parallelForW(n int, fn func(worker, lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() { defer wg.Done(); fn(i, lo, hi) }()
	}
	wg.Wait()
}

// parallelBlocks runs fn over [0, n) in blocks of block elements split
// across the cores: fn(a, b) gets elements a to b of an elementwise op.
func parallelBlocks(n, block int, fn func(a, b int)) {
	parallelFor(n/block+1, func(lo, hi int) { fn(min(lo*block, n), min(hi*block, n)) })
}

// workerSums gives each worker of a parallel reduction its own
// accumulator of len(dst), dst itself for worker 0, and adds the others
// into dst in worker order: the sum does not depend on which worker
// finished first (a resumed training run stays exact).
type workerSums struct {
	dst   []float32
	parts [][]float32
}

func newWorkerSums(dst []float32) *workerSums {
	s := &workerSums{dst: dst, parts: make([][]float32, runtime.GOMAXPROCS(0))}
	s.parts[0] = dst
	return s
}

// of is worker w's accumulator (made on first use; each worker calls it
// for its own w only).
func (s *workerSums) of(w int) []float32 {
	if s.parts[w] == nil {
		s.parts[w] = make([]float32, len(s.dst))
	}
	return s.parts[w]
}

// add sums the other workers' accumulators into dst.
func (s *workerSums) add() {
	for _, p := range s.parts[1:] {
		for i, v := range p {
			s.dst[i] += v
		}
	}
}

// expf is e^x in float32 to about 2 ulp (Cephes' expf: x = k ln 2 + r with
// |r| <= ln 2 / 2, a degree-6 polynomial for e^r, 2^k through the exponent
// bits), 0 below -87 and +Inf above 88.7: float64's math.Exp made SiLU and
// its gradient 15% of a training step.
func expf(x float32) float32 {
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	case x != x:
		return x
	}
	k := float32(math.Floor(float64(x*1.442695 + 0.5)))
	r := x - k*0.693359375 + k*2.12194440e-4
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	return (p*z + r + 1) * math.Float32frombits(uint32(int32(k)+127)<<23)
}

// SiLU is x * sigmoid(x).
func SiLU(x *G.Node) (*G.Node, error) {
	return G.ApplyOp(siluOp, x)
}

var siluOp = &kernel{name: "silu", arity: 1, shape: same, spec: Spec{Op: "silu"},
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		parallelBlocks(len(out), 1024, func(a, b int) {
			x, o := in[0][a:b], out[a:b]
			if haveVec {
				vecSiLU(o, x)
				return
			}
			for i, v := range x {
				o[i] = v / (1 + expf(-v))
			}
		})
	},
	grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dx, err := G.ApplyOp(siluGradOp, in[0], dy)
		return G.Nodes{dx}, err
	},
}

// siluGradOp(x, dy) = dy * s (1 + x (1 - s)), s = sigmoid(x).
var siluGradOp = &kernel{name: "silu_grad", arity: 2, shape: same, spec: Spec{Op: "silu_grad"},
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		parallelBlocks(len(out), 1024, func(a, b int) {
			x, dy, o := in[0][a:b], in[1][a:b], out[a:b]
			if haveVec {
				vecSiLUGrad(o, x, dy)
				return
			}
			for i, v := range x {
				s := 1 / (1 + expf(-v))
				o[i] = dy[i] * s * (1 + v*(1-s))
			}
		})
	},
}

// Upsample repeats each pixel of [B, C, H, W] f times along H and W.
func Upsample(x *G.Node, f int) (*G.Node, error) {
	return G.ApplyOp(upsampleOp(f), x)
}

func upsampleOp(f int) *kernel {
	return &kernel{name: fmt.Sprintf("upsample(%d)", f), arity: 1, spec: Spec{Op: "upsample", Factor: f},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			s := in[0]
			if len(s) != 4 {
				return nil, fmt.Errorf("nn: upsample needs [B,C,H,W], got %v", s)
			}
			return tensor.Shape{s[0], s[1], s[2] * f, s[3] * f}, nil
		},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			h, w := sh[0][2], sh[0][3]
			wf := w * f
			parallelFor(sh[0][0]*sh[0][1], func(lo, hi int) { // planes
				for p := lo; p < hi; p++ {
					src, dst := in[0][p*h*w:(p+1)*h*w], out[p*h*w*f*f:(p+1)*h*w*f*f]
					for y := 0; y < h; y++ {
						row := dst[y*f*wf : (y*f+1)*wf]
						for x, v := range src[y*w : (y+1)*w] {
							for k := range row[x*f : x*f+f] {
								row[x*f+k] = v
							}
						}
						for k := 1; k < f; k++ { // the row's copies below it
							copy(dst[(y*f+k)*wf:(y*f+k+1)*wf], row)
						}
					}
				}
			})
		},
		grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
			dx, err := G.ApplyOp(upsampleGradOp(f), in[0], dy)
			return G.Nodes{dx}, err
		},
	}
}

// upsampleGradOp(x, dy) sums each f x f block of dy (x gives the shape).
func upsampleGradOp(f int) *kernel {
	return &kernel{name: fmt.Sprintf("upsample_grad(%d)", f), arity: 2, shape: same, spec: Spec{Op: "upsample_grad", Factor: f},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			h, w := sh[0][2], sh[0][3]
			wf := w * f
			parallelFor(sh[0][0]*sh[0][1], func(lo, hi int) { // planes
				for p := lo; p < hi; p++ {
					src, dst := in[1][p*h*w*f*f:(p+1)*h*w*f*f], out[p*h*w:(p+1)*h*w]
					for y := 0; y < h; y++ {
						d := dst[y*w : (y+1)*w]
						for k := 0; k < f; k++ {
							row := src[(y*f+k)*wf : (y*f+k+1)*wf]
							for x := range d {
								var s float32
								for _, v := range row[x*f : x*f+f] {
									s += v
								}
								d[x] += s
							}
						}
					}
				}
			})
		},
	}
}

// Normalize is group normalisation without the affine part: each group of
// channels of each sample of [B, C, ...] to zero mean and unit variance, with
// statistics accumulated in float64 as the runtime does.
func Normalize(x *G.Node, groups int, eps float64) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 2 || groups < 1 || s[1]%groups != 0 {
		return nil, fmt.Errorf("nn: group norm: %d groups do not divide the channels of %v", groups, s)
	}
	return G.ApplyOp(normOp(groups, eps), x)
}

// groupStats returns each group's mean and 1/sqrt(var + eps).
func groupStats(x []float32, n, size int, eps float64) (mean, rstd []float64) {
	mean, rstd = make([]float64, n), make([]float64, n)
	parallelFor(n, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			v := x[g*size : (g+1)*size]
			var s, ss float64
			for _, a := range v {
				s += float64(a)
			}
			m := s / float64(size)
			for _, a := range v {
				d := float64(a) - m
				ss += d * d
			}
			mean[g], rstd[g] = m, 1/math.Sqrt(ss/float64(size)+eps)
		}
	})
	return mean, rstd
}

func normOp(groups int, eps float64) *kernel {
	return &kernel{name: fmt.Sprintf("groupnorm(%d,%g)", groups, eps), arity: 1, shape: same, spec: Spec{Op: "groupnorm", Groups: groups, Eps: eps},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			n := sh[0][0] * groups
			size := len(in[0]) / n
			if haveVec {
				parallelFor(n, func(lo, hi int) {
					vecGroupNorm(out[lo*size:hi*size], in[0][lo*size:hi*size], hi-lo, size, eps)
				})
				return
			}
			mean, rstd := groupStats(in[0], n, size, eps)
			for g := 0; g < n; g++ {
				for i := g * size; i < (g+1)*size; i++ {
					out[i] = float32((float64(in[0][i]) - mean[g]) * rstd[g])
				}
			}
		},
		grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
			dx, err := G.ApplyOp(normGradOp(groups, eps), in[0], dy)
			return G.Nodes{dx}, err
		},
	}
}

// normGradOp(x, dy): dx = rstd (dy - mean(dy) - xhat mean(dy xhat)) per group.
func normGradOp(groups int, eps float64) *kernel {
	return &kernel{name: fmt.Sprintf("groupnorm_grad(%d,%g)", groups, eps), arity: 2, shape: same, spec: Spec{Op: "groupnorm_grad", Groups: groups, Eps: eps},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			n := sh[0][0] * groups
			size := len(in[0]) / n
			x, dy := in[0], in[1]
			if haveVec {
				parallelFor(n, func(lo, hi int) {
					vecGroupNormGrad(out[lo*size:hi*size], x[lo*size:hi*size], dy[lo*size:hi*size], hi-lo, size, eps)
				})
				return
			}
			mean, rstd := groupStats(in[0], n, size, eps)
			parallelFor(n, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					var sd, sdx float64
					for i := g * size; i < (g+1)*size; i++ {
						xh := (float64(x[i]) - mean[g]) * rstd[g]
						sd += float64(dy[i])
						sdx += float64(dy[i]) * xh
					}
					sd /= float64(size)
					sdx /= float64(size)
					for i := g * size; i < (g+1)*size; i++ {
						xh := (float64(x[i]) - mean[g]) * rstd[g]
						out[i] = float32(rstd[g] * (float64(dy[i]) - sd - xh*sdx))
					}
				}
			})
		},
	}
}

// Conv2D convolves x [B, C, H, W] with w [O, C, K, K] (no bias) by lowering
// to matrix products: cols [C K K, n Ho Wo] from im2col for a chunk of n
// samples, y = w cols. Chunks are sized so that their columns stay in the
// core's cache (a whole batch's columns at 28x28 are 29 MB, and writing them
// out and reading them back cost more than the product) and run in
// parallel, one chunk per core at a time. A 1x1 convolution at stride 1
// needs no columns: each sample's [C, H W] is already its matrix. The
// products go through gonum's blas32, so linking OpenBLAS (blas32.Use)
// speeds up training without touching this code.
func Conv2D(x, w *G.Node, stride, pad int) (*G.Node, error) {
	if err := convFits(x.Shape(), w.Shape()); err != nil {
		return nil, err
	}
	return G.ApplyOp(convOp(convGeom{k: w.Shape()[2], stride: stride, pad: pad}), x, w)
}

// convFits checks an input [B, C, H, W] against a weight [O, C, K, K].
func convFits(xs, ws tensor.Shape) error {
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || ws[2] != ws[3] {
		return fmt.Errorf("nn: conv2d: input %v and weight %v do not fit", xs, ws)
	}
	return nil
}

// Conv2DBias is Conv2D plus a per-channel bias b [1, O, 1, 1], added as
// each output is written rather than in a pass of its own (and in the
// convolution's launch on the GPU).
func Conv2DBias(x, w, b *G.Node, stride, pad int) (*G.Node, error) {
	ws, bs := w.Shape(), b.Shape()
	if err := convFits(x.Shape(), ws); err != nil {
		return nil, err
	}
	if len(bs) != 4 || bs.TotalSize() != ws[0] || bs[1] != ws[0] {
		return nil, fmt.Errorf("nn: conv2d: bias %v for %d output channels, want [1, %d, 1, 1]", bs, ws[0], ws[0])
	}
	return G.ApplyOp(convBiasOp(convGeom{k: ws[2], stride: stride, pad: pad}), x, w, b)
}

// addBias adds b[o] to each of the n samples' O planes of p values in y.
func addBias(y, b []float32, n, o, p int) {
	for i := 0; i < n*o; i++ {
		v, row := b[i%o], y[i*p:(i+1)*p]
		for j := range row {
			row[j] += v
		}
	}
}

func convBiasOp(c convGeom) *kernel {
	k := convOp(c)
	k.name = fmt.Sprintf("conv2d_bias(k%d,s%d,p%d)", c.k, c.stride, c.pad)
	k.arity, k.spec = 3, c.spec("conv2d_bias")
	k.fwd = func(out []float32, in [][]float32, sh []tensor.Shape) {
		b, ch, h, w, o, ho, wo := c.dims(sh[0], sh[1])
		c.convFwdBias(out, in[0], in[1], in[2], b, ch, h, w, o, ho, wo)
	}
	grad := k.grad
	k.grad = func(in G.Nodes, out, dy *G.Node) (G.Nodes, error) {
		g, err := grad(in[:2], out, dy)
		if err != nil {
			return nil, err
		}
		db, err := G.ApplyOp(bcastSumOp, dy, in[2])
		return append(g, db), err
	}
	return k
}

type convGeom struct{ k, stride, pad int }

func (c convGeom) spec(op string) Spec { return Spec{Op: op, K: c.k, Stride: c.stride, Pad: c.pad} }

// dims derives the sizes from the input and weight shapes.
func (c convGeom) dims(xs, ws tensor.Shape) (b, ch, h, w, o, ho, wo int) {
	b, ch, h, w, o = xs[0], xs[1], xs[2], xs[3], ws[0]
	ho = (h+2*c.pad-c.k)/c.stride + 1
	wo = (w+2*c.pad-c.k)/c.stride + 1
	return
}

// pointwise: the input is its own column matrix.
func (c convGeom) pointwise() bool { return c.k == 1 && c.stride == 1 && c.pad == 0 }

// chunkFloats bounds a chunk's column matrix (in floats): 128 Ki floats is
// half a megabyte, inside one core's L2 with the chunk's input and output.
var chunkFloats = 128 << 10

// chunks splits b samples whose column matrices hold per floats each into
// chunks of at most chunkFloats (at least one sample), and runs fn over
// them in parallel; worker numbers the goroutine (0 <= worker < workers),
// so that fn can keep per-worker accumulators.
func chunks(b, per int, fn func(worker, lo, hi int)) (workers int) {
	n := max(1, min(b, chunkFloats/max(per, 1)))
	nc := (b + n - 1) / n
	workers = min(runtime.GOMAXPROCS(0), nc)
	if workers <= 1 {
		for lo := 0; lo < b; lo += n {
			fn(0, lo, min(b, lo+n))
		}
		return 1
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < nc; j += workers {
				fn(i, j*n, min(b, (j+1)*n))
			}
		}()
	}
	wg.Wait()
	return workers
}

// im2col writes cols[(c k k + ky k + kx), b P + oy Wo + ox] = x[b, c, iy, ix]
// (zero outside the image), P = Ho Wo, for the b samples of x.
func (c convGeom) im2col(cols, x []float32, b, ch, h, w, ho, wo int) {
	k, np := c.k, b*ho*wo
	for r := 0; r < ch*k*k; r++ {
		cc, ky, kx := r/(k*k), r/k%k, r%k
		row := cols[r*np : (r+1)*np]
		// valid output columns: 0 <= ox*stride - pad + kx < w
		x0 := max(0, (c.pad-kx+c.stride-1)/c.stride)
		x1 := min(wo, (w+c.pad-kx+c.stride-1)/c.stride)
		for bi := 0; bi < b; bi++ {
			plane := x[(bi*ch+cc)*h*w : (bi*ch+cc+1)*h*w]
			dst := row[bi*ho*wo:]
			for oy := 0; oy < ho; oy++ {
				iy := oy*c.stride - c.pad + ky
				d := dst[oy*wo : (oy+1)*wo]
				if iy < 0 || iy >= h || x0 >= x1 {
					clear(d)
					continue
				}
				clear(d[:x0])
				clear(d[x1:])
				src := plane[iy*w:]
				if c.stride == 1 {
					copy(d[x0:x1], src[x0-c.pad+kx:])
					continue
				}
				for ox := x0; ox < x1; ox++ {
					d[ox] = src[ox*c.stride-c.pad+kx]
				}
			}
		}
	}
}

// col2im is im2col's adjoint: it accumulates cols back into dx, the b
// samples' planes.
func (c convGeom) col2im(dx, cols []float32, b, ch, h, w, ho, wo int) {
	k, np := c.k, b*ho*wo
	for pc := 0; pc < b*ch; pc++ {
		bi, cc := pc/ch, pc%ch
		plane := dx[pc*h*w : (pc+1)*h*w]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				src := cols[((cc*k+ky)*k+kx)*np+bi*ho*wo:][:ho*wo]
				// valid output columns: 0 <= ox*stride - pad + kx < w (as in im2col),
				// so the row loop needs no test per element
				x0 := max(0, (c.pad-kx+c.stride-1)/c.stride)
				x1 := min(wo, (w+c.pad-kx+c.stride-1)/c.stride)
				if x0 >= x1 {
					continue
				}
				for oy := 0; oy < ho; oy++ {
					iy := oy*c.stride - c.pad + ky
					if iy < 0 || iy >= h {
						continue
					}
					s := src[oy*wo+x0 : oy*wo+x1]
					if c.stride == 1 {
						d := plane[iy*w+x0-c.pad+kx:][:len(s)]
						for i, v := range s {
							d[i] += v
						}
						continue
					}
					d := plane[iy*w:][:w]
					for i, v := range s {
						d[(x0+i)*c.stride-c.pad+kx] += v
					}
				}
			}
		}
	}
}

// toBatchMajor copies y [O, B P] to out [B, O, P]; toChannelMajor inverts it.
func toBatchMajor(out, y []float32, b, o, p int) {
	for oi := 0; oi < o; oi++ {
		for bi := 0; bi < b; bi++ {
			copy(out[(bi*o+oi)*p:(bi*o+oi+1)*p], y[oi*b*p+bi*p:oi*b*p+(bi+1)*p])
		}
	}
}

// channelMajor returns n samples' dy [n, O, P] as [O, n P]: dy itself for
// one sample, else a scratch copy that release gives back.
func channelMajor(dy []float32, n, o, p int) (d []float32, release func()) {
	if n == 1 {
		return dy, func() {}
	}
	y := getScratch(o * n * p)
	toChannelMajor(*y, dy, n, o, p)
	return *y, func() { putScratch(y) }
}

func toChannelMajor(y, in []float32, b, o, p int) {
	for oi := 0; oi < o; oi++ {
		for bi := 0; bi < b; bi++ {
			copy(y[oi*b*p+bi*p:oi*b*p+(bi+1)*p], in[(bi*o+oi)*p:(bi*o+oi+1)*p])
		}
	}
}

// scratch buffers for the lowered convolutions, reused across calls; their
// contents are always overwritten in full before use.
var scratchPool sync.Pool

func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n)
	return &b
}

func putScratch(p *[]float32) { scratchPool.Put(p) }

// gemm is c = a b + beta c with a [m, k] and b [k, n] (each transposed when
// asked), all row-major and dense.
func gemm(tA, tB bool, m, n, k int, a, b []float32, beta float32, c []float32) {
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	sgemm(tA, tB, m, n, k, a, lda, b, ldb, beta, c, n)
}

// convFwd is y = conv(x, w), chunk by chunk.
func (c convGeom) convFwd(out, x, wt []float32, b, ch, h, w, o, ho, wo int) {
	c.convFwdBias(out, x, wt, nil, b, ch, h, w, o, ho, wo)
}

// convFwdBias is y = conv(x, w) + bias (bias [O], nil for none), the bias
// added to each chunk's output while it is in cache.
func (c convGeom) convFwdBias(out, x, wt, bias []float32, b, ch, h, w, o, ho, wo int) {
	if c.tapped() {
		c.tapFwd(out, x, wt, bias, b, ch, h, w, o)
		return
	}
	kk, p := ch*c.k*c.k, ho*wo
	chunks(b, kk*p, func(_, lo, hi int) {
		n := hi - lo
		xs, ys := x[lo*ch*h*w:hi*ch*h*w], out[lo*o*p:hi*o*p]
		if bias != nil {
			defer addBias(ys, bias, n, o, p)
		}
		if c.pointwise() { // per sample: y_b [O, P] = w [O, C] x_b [C, P]
			for i := range n {
				gemm(false, false, o, p, kk, wt, xs[i*ch*p:], 0, ys[i*o*p:])
			}
			return
		}
		cols := getScratch(kk * n * p)
		defer putScratch(cols)
		c.im2col(*cols, xs, n, ch, h, w, ho, wo)
		if n == 1 {
			gemm(false, false, o, p, kk, wt, *cols, 0, ys)
			return
		}
		y := getScratch(o * n * p)
		defer putScratch(y)
		gemm(false, false, o, n*p, kk, wt, *cols, 0, *y)
		toBatchMajor(ys, *y, n, o, p)
	})
}

// convDx is dx = col2im(w^T dy), chunk by chunk; dx starts at zero.
func (c convGeom) convDx(dx, wt, dy []float32, b, ch, h, w, o, ho, wo int) {
	if c.tapped() {
		c.tapDx(dx, wt, dy, b, ch, h, w, o)
		return
	}
	kk, p := ch*c.k*c.k, ho*wo
	chunks(b, kk*p, func(_, lo, hi int) {
		n := hi - lo
		dxs, dys := dx[lo*ch*h*w:hi*ch*h*w], dy[lo*o*p:hi*o*p]
		if c.pointwise() { // dx_b [C, P] = w^T dy_b
			for i := range n {
				gemm(true, false, kk, p, o, wt, dys[i*o*p:], 0, dxs[i*ch*p:])
			}
			return
		}
		d, release := channelMajor(dys, n, o, p)
		defer release()
		cols := getScratch(kk * n * p)
		defer putScratch(cols)
		gemm(true, false, kk, n*p, o, wt, d, 0, *cols)
		c.col2im(dxs, *cols, n, ch, h, w, ho, wo)
	})
}

// convDw is dw = sum over chunks of dy cols^T; each worker sums its chunks
// into its own buffer (workerSums).
func (c convGeom) convDw(dw, x, dy []float32, b, ch, h, w, o, ho, wo int) {
	if c.tapped() {
		c.tapDw(dw, x, dy, b, ch, h, w, o)
		return
	}
	kk, p := ch*c.k*c.k, ho*wo
	sums := newWorkerSums(dw)
	defer sums.add()
	chunks(b, kk*p, func(wk, lo, hi int) {
		n := hi - lo
		acc := sums.of(wk)
		xs, dys := x[lo*ch*h*w:hi*ch*h*w], dy[lo*o*p:hi*o*p]
		if c.pointwise() { // dw += dy_b [O, P] x_b^T [P, C]
			for i := range n {
				gemm(false, true, o, kk, p, dys[i*o*p:], xs[i*ch*p:], 1, acc)
			}
			return
		}
		cols := getScratch(kk * n * p)
		defer putScratch(cols)
		c.im2col(*cols, xs, n, ch, h, w, ho, wo)
		d, release := channelMajor(dys, n, o, p)
		defer release()
		gemm(false, true, o, kk, n*p, d, *cols, 1, acc)
	})
}

func convOp(c convGeom) *kernel {
	return &kernel{name: fmt.Sprintf("conv2d(k%d,s%d,p%d)", c.k, c.stride, c.pad), arity: 2, spec: c.spec("conv2d"),
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			b, _, h, w, o, ho, wo := c.dims(in[0], in[1])
			if h+2*c.pad < c.k || w+2*c.pad < c.k {
				return nil, fmt.Errorf("nn: conv2d: kernel %d larger than the padded input %v", c.k, in[0])
			}
			return tensor.Shape{b, o, ho, wo}, nil
		},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			b, ch, h, w, o, ho, wo := c.dims(sh[0], sh[1])
			c.convFwd(out, in[0], in[1], b, ch, h, w, o, ho, wo)
		},
		grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
			dx, err := G.ApplyOp(convDxOp(c), in[0], in[1], dy)
			if err != nil {
				return nil, err
			}
			dw, err := G.ApplyOp(convDwOp(c), in[0], in[1], dy)
			return G.Nodes{dx, dw}, err
		},
	}
}

// convDxOp(x, w, dy) = col2im(w^T dy): the input gradient (x gives the shape).
func convDxOp(c convGeom) *kernel {
	return &kernel{name: fmt.Sprintf("conv2d_dx(k%d,s%d,p%d)", c.k, c.stride, c.pad), arity: 3, shape: same, spec: c.spec("conv2d_dx"),
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			b, ch, h, w, o, ho, wo := c.dims(sh[0], sh[1])
			c.convDx(out, in[1], in[2], b, ch, h, w, o, ho, wo)
		},
	}
}

// convDwOp(x, w, dy) = dy cols^T: the weight gradient (w gives the shape).
func convDwOp(c convGeom) *kernel {
	return &kernel{name: fmt.Sprintf("conv2d_dw(k%d,s%d,p%d)", c.k, c.stride, c.pad), arity: 3, spec: c.spec("conv2d_dw"),
		shape: func(in []tensor.Shape) (tensor.Shape, error) { return in[1].Clone(), nil },
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			b, ch, h, w, o, ho, wo := c.dims(sh[0], sh[1])
			c.convDw(out, in[0], in[2], b, ch, h, w, o, ho, wo)
		},
	}
}

// Tap returns a copy of x taken when x is computed. Read values through a
// tap: gorgonia's scheduler may overwrite a node's buffer in place once its
// last consumer in the graph has run, so a node read after the run can hold
// a later value (the sum it fed, say).
func Tap(x *G.Node) (*G.Node, error) { return G.ApplyOp(tapOp, x) }

var tapOp = &kernel{name: "tap", arity: 1, shape: same, spec: Spec{Op: "tap"}, fwd: func(out []float32, in [][]float32, _ []tensor.Shape) { copy(out, in[0]) }}
