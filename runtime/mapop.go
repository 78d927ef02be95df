package runtime

import (
	"fmt"
	"math"
)

// MaxDims is the largest rank the strided ops take.
const MaxDims = 4

// View places a tensor in a flat array: element (i0, .., i3) is at
// Off + sum_d i_d Stride[d]. A zero stride broadcasts along its axis and a
// negative one walks it backwards (a flipped kernel), so one view expresses
// a broadcast, a transpose, a slice or one part of a concatenation.
type View struct {
	Off    int
	Stride [MaxDims]int
}

// Contiguous is the row-major view of shape (unused trailing axes have size 1).
func Contiguous(shape [MaxDims]int) View {
	var v View
	s := 1
	for d := MaxDims - 1; d >= 0; d-- {
		v.Stride[d] = s
		s *= shape[d]
	}
	return v
}

// At is the flat index of element idx.
func (v View) At(idx [MaxDims]int) int {
	i := v.Off
	for d, x := range idx {
		i += x * v.Stride[d]
	}
	return i
}

// MapOp is an elementwise function of up to three inputs a, b, c.
type MapOp uint32

// The elementwise functions. The numbers are shared with shaders/map.wgsl.
const (
	MapCopy          MapOp = iota // a
	MapNeg                        // -a
	MapExp                        // exp(a)
	MapSquare                     // a a
	MapSigmoid                    // 1 / (1 + exp(-a))
	MapAdd                        // a + b
	MapSub                        // a - b
	MapMul                        // a b
	MapDiv                        // a / b
	MapSiLUGrad                   // b s (1 + a (1 - s)), s = sigmoid(a): SiLU's input gradient (x = a, dy = b)
	MapBernoulliNLL               // softplus(a) - b a: -log p(b | logits a)
	MapBernoulliGrad              // c (sigmoid(a) - b): its gradient by the logits, times dy = c
	numMapOps
)

var mapNames = [...]string{"copy", "neg", "exp", "square", "sigmoid", "add", "sub", "mul", "div", "silu_grad", "bernoulli_nll", "bernoulli_grad"}

func (op MapOp) String() string {
	if op < numMapOps {
		return mapNames[op]
	}
	return fmt.Sprintf("map(%d)", uint32(op))
}

// Arity is the number of inputs op reads.
func (op MapOp) Arity() int {
	switch {
	case op <= MapSigmoid:
		return 1
	case op == MapBernoulliGrad:
		return 3
	}
	return 2
}

// MapOps lists every elementwise function.
func MapOps() []MapOp {
	ops := make([]MapOp, numMapOps)
	for i := range ops {
		ops[i] = MapOp(i)
	}
	return ops
}

// Softplus is log(1 + exp(v)), computed without overflow.
func Softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

func sigmoid64(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// Apply is op on one element, in float64.
func (op MapOp) Apply(a, b, c float64) float64 {
	switch op {
	case MapCopy:
		return a
	case MapNeg:
		return -a
	case MapExp:
		return math.Exp(a)
	case MapSquare:
		return a * a
	case MapSigmoid:
		return sigmoid64(a)
	case MapAdd:
		return a + b
	case MapSub:
		return a - b
	case MapMul:
		return a * b
	case MapDiv:
		return a / b
	case MapSiLUGrad:
		s := sigmoid64(a)
		return b * s * (1 + a*(1-s))
	case MapBernoulliNLL:
		return Softplus(a) - b*a
	case MapBernoulliGrad:
		return c * (sigmoid64(a) - b)
	}
	return math.NaN()
}

// Map computes y = op(a, b, c) over every element of shape, each operand
// placed by its view (inputs past op's arity are ignored and may be nil).
func Map(op MapOp, shape [MaxDims]int, y []float32, vy View, a []float32, va View, b []float32, vb View, c []float32, vc View) {
	var idx [MaxDims]int
	total := shape[0] * shape[1] * shape[2] * shape[3]
	for e := 0; e < total; e++ {
		r := e
		for d := MaxDims - 1; d >= 0; d-- {
			idx[d] = r % shape[d]
			r /= shape[d]
		}
		var av, bv, cv float64
		av = float64(a[va.At(idx)])
		if op.Arity() > 1 {
			bv = float64(b[vb.At(idx)])
		}
		if op.Arity() > 2 {
			cv = float64(c[vc.At(idx)])
		}
		y[vy.At(idx)] = float32(op.Apply(av, bv, cv))
	}
}
