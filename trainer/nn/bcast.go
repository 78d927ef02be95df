package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Broadcast arithmetic as kernels: a bias, a per-channel scale or a
// per-sample time embedding b of the same rank as x, with size 1 along the
// axes it is repeated over. gorgonia's BroadcastAdd materializes b repeated
// to x's shape (three copies for a [1, C, 1, 1] bias) before adding, and
// its gradient sums one axis at a time; these loop over x once.

// bcastDims pads shapes of rank up to 4 to 4 axes on the left.
func bcastDims(s tensor.Shape) [4]int {
	out := [4]int{1, 1, 1, 1}
	copy(out[4-len(s):], s)
	return out
}

// bcastShape checks that b broadcasts to x.
func bcastShape(in []tensor.Shape) (tensor.Shape, error) {
	x, b := in[0], in[1]
	if len(x) != len(b) || len(x) > 4 {
		return nil, fmt.Errorf("nn: broadcast: shapes %v and %v differ in rank (or exceed 4 axes)", x, b)
	}
	for i := range x {
		if b[i] != x[i] && b[i] != 1 {
			return nil, fmt.Errorf("nn: broadcast: %v does not broadcast to %v", b, x)
		}
	}
	return x.Clone(), nil
}

// bcastPlan walks x (shape xs) in runs along its last axes that meet b
// (shape bs) at a fixed stride. Adjacent axes that b either spans or
// broadcasts along alike are merged first, so that a [1, C, 1, 1] bias over
// [B, C, H, W] runs H W elements at a time rather than W.
type bcastPlan struct {
	x, bstr [4]int // merged shape of x, and b's strides along it (0: broadcast)
	runs    int    // x[0] x[1] x[2] runs of x[3] elements
}

func newBcastPlan(xs, bs tensor.Shape) bcastPlan {
	x0, b0 := bcastDims(xs), bcastDims(bs)
	var x, b [4]int
	m := 4 // merged axes fill x[m:], b[m:]
	for d := 3; d >= 0; d-- {
		if x0[d] == 1 {
			continue
		}
		if m < 4 && (b[m] == 1) == (b0[d] == 1) {
			x[m] *= x0[d]
			b[m] *= b0[d]
			continue
		}
		m--
		x[m], b[m] = x0[d], b0[d]
	}
	for d := 0; d < m; d++ {
		x[d], b[d] = 1, 1
	}
	p := bcastPlan{x: x, runs: x[0] * x[1] * x[2]}
	s := 1
	for d := 3; d >= 0; d-- {
		if b[d] != 1 {
			p.bstr[d] = s
		}
		s *= b[d]
	}
	return p
}

// walk calls fn(i, j, n, step) for runs lo to hi: n elements of x from
// flat index i meet b at j + k step (step 0 where b broadcasts along them).
func (p bcastPlan) walk(lo, hi int, fn func(i, j, n, step int)) {
	x := p.x
	for r := lo; r < hi; r++ {
		a2, a1, a0 := r%x[2], r/x[2]%x[1], r/(x[2]*x[1])
		fn(r*x[3], a0*p.bstr[0]+a1*p.bstr[1]+a2*p.bstr[2], x[3], p.bstr[3])
	}
}

// parallel says whether x is big enough to split across the cores.
func (p bcastPlan) parallel() bool { return p.runs > 1 && p.runs*p.x[3] >= 1<<15 }

// bcastLoop walks all of x's runs, several cores at once for a large x
// (fn must write only its own run's elements).
func bcastLoop(xs, bs tensor.Shape, fn func(i, j, n, step int)) {
	p := newBcastPlan(xs, bs)
	if p.parallel() {
		parallelFor(p.runs, func(lo, hi int) { p.walk(lo, hi, fn) })
		return
	}
	p.walk(0, p.runs, fn)
}

// bcastReduce walks x's runs with fn accumulating into acc, b's shape:
// on several cores each sums into its own buffer (workerSums). out starts
// at zero.
func bcastReduce(out []float32, xs, bs tensor.Shape, fn func(acc []float32, i, j, n, step int)) {
	clear(out)
	p := newBcastPlan(xs, bs)
	if !p.parallel() {
		p.walk(0, p.runs, func(i, j, n, step int) { fn(out, i, j, n, step) })
		return
	}
	sums := newWorkerSums(out)
	parallelForW(p.runs, func(w, lo, hi int) {
		acc := sums.of(w)
		p.walk(lo, hi, func(i, j, n, step int) { fn(acc, i, j, n, step) })
	})
	sums.add()
}

// BroadcastAdd is x + b, b repeated along its size-1 axes.
func BroadcastAdd(x, b *G.Node) (*G.Node, error) { return G.ApplyOp(bcastAddOp, x, b) }

// BroadcastMul is x * b, b repeated along its size-1 axes.
func BroadcastMul(x, b *G.Node) (*G.Node, error) { return G.ApplyOp(bcastMulOp, x, b) }

var bcastAddOp = &kernel{name: "bcast_add", arity: 2, shape: bcastShape, spec: Spec{Op: "bcast_add"},
	fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
		x, b := in[0], in[1]
		bcastLoop(sh[0], sh[1], func(i, j, n, step int) {
			o, xs := out[i:i+n], x[i:i+n]
			if step == 0 {
				c := b[j]
				for k, v := range xs {
					o[k] = v + c
				}
				return
			}
			for k, v := range b[j : j+n] {
				o[k] = xs[k] + v
			}
		})
	},
	grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		db, err := G.ApplyOp(bcastSumOp, dy, in[1])
		return G.Nodes{dy, db}, err
	},
}

var bcastMulOp = &kernel{name: "bcast_mul", arity: 2, shape: bcastShape, spec: Spec{Op: "bcast_mul"},
	fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
		x, b := in[0], in[1]
		bcastLoop(sh[0], sh[1], func(i, j, n, step int) {
			o, xs := out[i:i+n], x[i:i+n]
			if step == 0 {
				c := b[j]
				for k, v := range xs {
					o[k] = v * c
				}
				return
			}
			for k, v := range b[j : j+n] {
				o[k] = xs[k] * v
			}
		})
	},
}

func init() { // set here: the gradient applies the op itself
	bcastMulOp.grad = func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dx, err := G.ApplyOp(bcastMulOp, dy, in[1])
		if err != nil {
			return nil, err
		}
		db, err := G.ApplyOp(bcastDotOp, dy, in[0], in[1])
		return G.Nodes{dx, db}, err
	}
}

// bcastSumOp(dy, b) sums dy over b's size-1 axes: b's gradient in x + b.
var bcastSumOp = &kernel{name: "bcast_sum", arity: 2, spec: Spec{Op: "bcast_sum"},
	shape: func(in []tensor.Shape) (tensor.Shape, error) {
		if _, err := bcastShape(in); err != nil {
			return nil, err
		}
		return in[1].Clone(), nil
	},
	fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
		dy := in[0]
		bcastReduce(out, sh[0], sh[1], func(out []float32, i, j, n, step int) {
			if step == 0 {
				out[j] += sum32(dy[i : i+n])
				return
			}
			o := out[j : j+n]
			for k, v := range dy[i : i+n] {
				o[k] += v
			}
		})
	},
}

// bcastDotOp(dy, x, b) sums dy x over b's size-1 axes: b's gradient in x b.
var bcastDotOp = &kernel{name: "bcast_dot", arity: 3, spec: Spec{Op: "bcast_dot"},
	shape: func(in []tensor.Shape) (tensor.Shape, error) {
		if _, err := bcastShape([]tensor.Shape{in[0], in[2]}); err != nil {
			return nil, err
		}
		if !in[0].Eq(in[1]) {
			return nil, fmt.Errorf("nn: bcast_dot: %v and %v differ", in[0], in[1])
		}
		return in[2].Clone(), nil
	},
	fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
		dy, x := in[0], in[1]
		bcastReduce(out, sh[0], sh[2], func(out []float32, i, j, n, step int) {
			d, xs := dy[i:i+n], x[i:i+n]
			if step == 0 {
				out[j] += dot32(d, xs)
				return
			}
			o := out[j : j+n]
			for k, v := range d {
				o[k] += v * xs[k]
			}
		})
	},
}

// sum32 and dot32 keep four partial sums: one running sum is a chain of
// dependent adds (4 cycles each), four overlap. The broadcast gradients'
// per-channel sums (bias, scale, time embedding) spend most of their time
// here.
func sum32(v []float32) float32 {
	var s0, s1, s2, s3 float32
	for len(v) >= 4 {
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		v = v[4:]
	}
	for _, x := range v {
		s0 += x
	}
	return (s0 + s1) + (s2 + s3)
}

func dot32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	for len(a) >= 4 && len(b) >= 4 {
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
		a, b = a[4:], b[4:]
	}
	for i, x := range a {
		s0 += x * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
