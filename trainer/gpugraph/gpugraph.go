// Package gpugraph runs a differentiated gorgonia graph on the GPU: it
// lowers every node that the requested outputs depend on to the ops of a
// gpu.Program (the trainer's kernels by their nn.Spec, gorgonia's built-in
// ops by their kind), so gorgonia's symbolic differentiation stays the one
// source of gradients and the WGSL runtime executes them. A memory planner
// hands each intermediate's buffer on once its last reader has run.
package gpugraph

import (
	"fmt"
	"reflect"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/trainer/nn"
)

// Exec is a graph compiled for one device.
type Exec struct {
	d      *gpu.Device
	prog   *gpu.Program
	val    map[*G.Node]*storage // where each lowered node's value lives
	inputs []*G.Node            // nodes with host values, uploaded by Sync
	outs   []*G.Node
	pool   map[int][]*gpu.Buffer // free intermediate buffers by length
	all    []*gpu.Buffer         // every buffer Exec allocated
	bytes  int64
}

// storage is a buffer shared by a node and its reshapes, freed to the pool
// when its last reader has been lowered.
type storage struct {
	b     *gpu.Buffer
	users int  // readers not yet lowered, over the node and its aliases
	keep  bool // an input or an output: never reused
}

// Compile lowers the part of g that outs depend on. Input nodes (those
// without an op: parameters, data, scalars set by G.Let) get buffers that
// Sync fills from their host values.
func Compile(d *gpu.Device, g *G.ExprGraph, outs []*G.Node) (e *Exec, err error) {
	e = &Exec{d: d, prog: d.NewProgram(), val: map[*G.Node]*storage{}, pool: map[int][]*gpu.Buffer{}}
	defer func() {
		if err != nil {
			e.Release()
			e = nil
		}
	}()
	order, readers := schedule(g, outs)
	isOut := map[*G.Node]bool{}
	for _, o := range outs {
		if o != nil {
			isOut[o] = true
			e.outs = append(e.outs, o)
		}
	}
	for _, n := range order {
		if err := e.lower(g, n, readers[n], isOut[n]); err != nil {
			return nil, fmt.Errorf("gpugraph: node %d %q (%v): %w", n.ID(), n.Name(), n.Op(), err)
		}
		for _, c := range children(g, n) {
			if s := e.val[c]; s != nil {
				s.users--
				if s.users == 0 && !s.keep {
					e.pool[s.b.Len()] = append(e.pool[s.b.Len()], s.b)
				}
			}
		}
	}
	return e, nil
}

// schedule returns the nodes outs depend on, each after its children, and
// each node's number of readers among them.
func schedule(g *G.ExprGraph, outs []*G.Node) ([]*G.Node, map[*G.Node]int) {
	var order []*G.Node
	seen := map[*G.Node]bool{}
	readers := map[*G.Node]int{}
	var visit func(n *G.Node)
	visit = func(n *G.Node) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, c := range children(g, n) {
			visit(c)
			readers[c]++
		}
		order = append(order, n)
	}
	for _, o := range outs {
		if o != nil {
			visit(o)
		}
	}
	return order, readers
}

func children(g *G.ExprGraph, n *G.Node) []*G.Node {
	var out []*G.Node
	it := g.From(n.ID())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

// Release frees every buffer and the program.
func (e *Exec) Release() {
	if e.prog != nil {
		e.prog.Release()
	}
	for _, b := range e.all {
		b.Release()
	}
	e.all, e.prog = nil, nil
}

// Launches is the number of kernel launches one Run submits.
func (e *Exec) Launches() int { return e.prog.Launches() }

// Bytes is the device memory the compiled graph holds: inputs, outputs,
// the planner's intermediates and the program's scratch.
func (e *Exec) Bytes() int64 { return e.bytes + e.prog.ScratchBytes() }

// Sync uploads every input node's current host value.
func (e *Exec) Sync() error {
	for _, n := range e.inputs {
		data, err := hostData(n)
		if err != nil {
			return err
		}
		if err := e.d.Write(e.val[n].b, data); err != nil {
			return fmt.Errorf("gpugraph: uploading %q: %w", n.Name(), err)
		}
	}
	return nil
}

// Run executes the program and reads back nodes (each must be an output
// given to Compile) in the same submission.
func (e *Exec) Run(nodes ...*G.Node) ([][]float32, error) {
	bufs := make([]*gpu.Buffer, len(nodes))
	for i, n := range nodes {
		s := e.val[n]
		if s == nil || !s.keep {
			return nil, fmt.Errorf("gpugraph: node %q was not compiled as an output", n.Name())
		}
		bufs[i] = s.b
	}
	if len(bufs) == 0 {
		return nil, e.prog.Run()
	}
	out, err := e.prog.RunRead(bufs...)
	if err != nil {
		return nil, err
	}
	for i, n := range nodes {
		out[i] = out[i][:size(n)]
	}
	return out, nil
}

func hostData(n *G.Node) ([]float32, error) {
	v := n.Value()
	if v == nil {
		return nil, fmt.Errorf("gpugraph: input %q has no value", n.Name())
	}
	switch d := v.Data().(type) {
	case []float32:
		return d, nil
	case float32:
		return []float32{d}, nil
	}
	return nil, fmt.Errorf("gpugraph: input %q holds %T, want float32", n.Name(), v.Data())
}

func size(n *G.Node) int { return max(1, n.Shape().TotalSize()) }

// alloc returns a buffer of n values for a new node: a freed one of that
// length, or a new one.
func (e *Exec) alloc(n int, keep bool) (*gpu.Buffer, error) {
	if free := e.pool[n]; len(free) > 0 && !keep {
		b := free[len(free)-1]
		e.pool[n] = free[:len(free)-1]
		return b, nil
	}
	b, err := e.d.NewBuffer(n, nil)
	if err != nil {
		return nil, err
	}
	e.all = append(e.all, b)
	e.bytes += int64(4 * b.Len())
	return b, nil
}

// dims pads a shape of rank up to 4 to 4 axes on the left (a scalar is [1]).
func dims(s tensor.Shape) ([4]int, error) {
	out := [4]int{1, 1, 1, 1}
	if len(s) > 4 {
		return out, fmt.Errorf("rank %d is beyond the GPU ops' 4", len(s))
	}
	for i, v := range s {
		out[4-len(s)+i] = v
	}
	return out, nil
}

// lower adds the ops computing n.
func (e *Exec) lower(g *G.ExprGraph, n *G.Node, readers int, out bool) error {
	cs := children(g, n)
	if n.Op() == nil { // an input
		b, err := e.alloc(size(n), true)
		if err != nil {
			return err
		}
		e.val[n] = &storage{b: b, users: readers, keep: true}
		e.inputs = append(e.inputs, n)
		return nil
	}
	// Aliases: a reshape or a tap shares its child's storage.
	if isReshape(n.Op()) || isTap(n.Op()) {
		s := e.val[cs[0]]
		s.users += readers
		if out {
			s.keep = true
		}
		e.val[n] = s
		return nil
	}
	if a := n.Op().Arity(); a >= 0 && a != len(cs) {
		return fmt.Errorf("op of arity %d has %d children", a, len(cs))
	}
	// Constants are written once, at compile time: their buffers are kept.
	kind := typeName(n.Op())
	keep := out || kind == "constantScalar" || kind == "sizeOp"
	b, err := e.alloc(size(n), keep)
	if err != nil {
		return err
	}
	e.val[n] = &storage{b: b, users: readers, keep: keep}
	in := make([]*gpu.Buffer, len(cs))
	for i, c := range cs {
		if s := e.val[c]; s != nil {
			in[i] = s.b
		}
	}
	if spec, ok := nn.OpSpec(n.Op()); ok {
		return e.lowerKernel(spec, n, cs, in, b)
	}
	return e.lowerBuiltin(n, cs, in, b)
}

func isReshape(op G.Op) bool { return typeName(op) == "reshapeOp" }

func isTap(op G.Op) bool {
	s, ok := nn.OpSpec(op)
	return ok && s.Op == "tap"
}

func typeName(op G.Op) string {
	t := reflect.TypeOf(op)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// field reads an unexported field of a gorgonia op by reflection: the ops'
// parameters (axes, patterns, transposes) are not exported.
func field(op G.Op, name string) reflect.Value {
	v := reflect.ValueOf(op)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v.FieldByName(name)
}

func ints(v reflect.Value) []int {
	out := make([]int, v.Len())
	for i := range out {
		out[i] = int(v.Index(i).Int())
	}
	return out
}

// lowerKernel lowers one of the trainer's kernels.
func (e *Exec) lowerKernel(s nn.Spec, n *G.Node, cs []*G.Node, in []*gpu.Buffer, y *gpu.Buffer) error {
	p := e.prog
	sh := cs[0].Shape()
	switch s.Op {
	case "conv2d", "conv2d_dx", "conv2d_dw":
		xs, ws := sh, cs[1].Shape()
		b, c, h, w, o := xs[0], xs[1], xs[2], xs[3], ws[0]
		switch s.Op {
		case "conv2d":
			return p.Conv2D(y, in[0], in[1], b, c, h, w, o, s.K, s.Stride, s.Pad)
		case "conv2d_dx":
			return p.Conv2DData(y, in[2], in[1], b, c, h, w, o, s.K, s.Stride, s.Pad)
		default:
			return p.Conv2DFilter(y, in[0], in[2], b, c, h, w, o, s.K, s.Stride, s.Pad)
		}
	case "groupnorm", "groupnorm_grad":
		hw := sh.TotalSize() / (sh[0] * sh[1])
		if s.Op == "groupnorm" {
			return p.Normalize(y, in[0], sh[0], sh[1], hw, s.Groups, float32(s.Eps))
		}
		return p.NormalizeGrad(y, in[0], in[1], sh[0], sh[1], hw, s.Groups, float32(s.Eps))
	case "silu":
		return p.SiLU(y, in[0], size(n))
	case "silu_grad":
		return e.mapFlat(runtime.MapSiLUGrad, n, y, in...)
	case "upsample":
		return p.Upsample(y, in[0], sh[0], sh[1], sh[2], sh[3], s.Factor)
	case "upsample_grad":
		return p.UpsampleGrad(y, in[1], sh[0], sh[1], sh[2], sh[3], s.Factor)
	case "bernoulli_nll":
		return e.mapFlat(runtime.MapBernoulliNLL, n, y, in...)
	case "bernoulli_nll_grad":
		return e.mapFlat(runtime.MapBernoulliGrad, n, y, in...)
	case "logistic_nll":
		return p.Logistic(y, in[0], in[1], in[2], nil, size(n), 0)
	case "logistic_nll_grad":
		return p.Logistic(y, in[0], in[1], in[2], in[3], size(n), 1+s.Which)
	}
	return fmt.Errorf("no GPU kernel for the trainer's op %q", s.Op)
}

// mapFlat applies op to same-shaped contiguous operands.
func (e *Exec) mapFlat(op runtime.MapOp, n *G.Node, y *gpu.Buffer, in ...*gpu.Buffer) error {
	shape := [4]int{1, 1, 1, size(n)}
	v := runtime.Contiguous(shape)
	refs := []gpu.Ref{{}, {}, {}}
	for i := 0; i < op.Arity(); i++ {
		refs[i] = gpu.Ref{B: in[i], V: v}
	}
	return e.prog.Map(op, shape, gpu.Ref{B: y, V: v}, refs[0], refs[1], refs[2])
}

var binOps = map[string]runtime.MapOp{"+": runtime.MapAdd, "-": runtime.MapSub, "⊙": runtime.MapMul, "÷": runtime.MapDiv}
var unOps = map[string]runtime.MapOp{"exp": runtime.MapExp, "neg": runtime.MapNeg, "square": runtime.MapSquare, "sigmoid": runtime.MapSigmoid}

// lowerBuiltin lowers one of gorgonia's own ops.
func (e *Exec) lowerBuiltin(n *G.Node, cs []*G.Node, in []*gpu.Buffer, y *gpu.Buffer) error {
	p := e.prog
	kind := typeName(n.Op())
	oshape, err := dims(n.Shape())
	if err != nil {
		return err
	}
	ov := runtime.Contiguous(oshape)
	switch kind {
	case "constantScalar":
		v, ok := n.Value().Data().(float32)
		if !ok {
			return fmt.Errorf("constant %v is not float32", n.Value())
		}
		return e.constant(y, v)
	case "sizeOp":
		// The size of an axis, known when the graph is built.
		ax := int(field(n.Op(), "axis").Int())
		return e.constant(y, float32(cs[0].Shape()[ax]))
	case "repeatOp":
		// A broadcast: the input has size 1 along the repeated axis.
		along := int(field(n.Op(), "along").Int())
		xs := cs[0].Shape()
		if len(xs) != len(n.Shape()) {
			return fmt.Errorf("repeat of rank %d into rank %d", len(xs), len(n.Shape()))
		}
		if xs[along] != 1 && xs[along] != n.Shape()[along] {
			return fmt.Errorf("repeat along axis %d of size %d (only broadcasts from size 1)", along, xs[along])
		}
		return p.Map(runtime.MapCopy, oshape, gpu.Ref{B: y, V: ov}, gpu.Ref{B: in[0], V: broadcastView(xs, n.Shape())}, gpu.Ref{}, gpu.Ref{})
	case "elemBinOp":
		sym, _, _ := strings.Cut(fmt.Sprint(n.Op()), " ")
		op, ok := binOps[sym]
		if !ok {
			return fmt.Errorf("no GPU kernel for the elementwise %q", sym)
		}
		return p.Map(op, oshape, gpu.Ref{B: y, V: ov}, gpu.Ref{B: in[0], V: broadcastView(cs[0].Shape(), n.Shape())},
			gpu.Ref{B: in[1], V: broadcastView(cs[1].Shape(), n.Shape())}, gpu.Ref{})
	case "elemUnaryOp":
		op, ok := unOps[fmt.Sprint(n.Op())]
		if !ok {
			return fmt.Errorf("no GPU kernel for the elementwise %q", fmt.Sprint(n.Op()))
		}
		return p.Map(op, oshape, gpu.Ref{B: y, V: ov}, gpu.Ref{B: in[0], V: ov}, gpu.Ref{}, gpu.Ref{})
	case "sumOp":
		return e.sum(y, in[0], cs[0].Shape(), ints(field(n.Op(), "along")))
	case "linAlgBinOp":
		as, bs := cs[0].Shape(), cs[1].Shape()
		if len(as) != 2 || len(bs) != 2 {
			return fmt.Errorf("only matrix products of matrices run on the GPU, not %v x %v", as, bs)
		}
		ta, tb := field(n.Op(), "transA").Bool(), field(n.Op(), "transB").Bool()
		m, k := as[0], as[1]
		if ta {
			m, k = k, m
		}
		nn := bs[1]
		if tb {
			nn = bs[0]
		}
		return p.MatMul(y, in[0], in[1], m, nn, k, ta, tb)
	case "transposeOp":
		pattern := ints(field(n.Op(), "pattern"))
		xs := cs[0].Shape()
		xd, err := dims(xs)
		if err != nil {
			return err
		}
		xv := runtime.Contiguous(xd)
		pad := 4 - len(xs)
		var v runtime.View
		for i, a := range pattern {
			v.Stride[pad+i] = xv.Stride[pad+a]
		}
		return p.Map(runtime.MapCopy, oshape, gpu.Ref{B: y, V: ov}, gpu.Ref{B: in[0], V: v}, gpu.Ref{}, gpu.Ref{})
	case "concatOp":
		axis := 4 - len(n.Shape()) + int(field(n.Op(), "axis").Int())
		off := 0
		for i, c := range cs {
			cd, err := dims(c.Shape())
			if err != nil {
				return err
			}
			part := runtime.View{Off: off * ov.Stride[axis], Stride: ov.Stride}
			if err := p.Map(runtime.MapCopy, cd, gpu.Ref{B: y, V: part}, gpu.Ref{B: in[i], V: runtime.Contiguous(cd)}, gpu.Ref{}, gpu.Ref{}); err != nil {
				return err
			}
			off += cd[axis]
		}
		return nil
	case "sliceOp":
		return e.slice(n, cs[0], in[0], y, oshape)
	}
	return fmt.Errorf("no GPU kernel for gorgonia's %s", kind)
}

// broadcastView reads a tensor of shape xs as one of shape ys (same rank,
// or a scalar): stride 0 where xs has size 1 and ys does not.
func broadcastView(xs, ys tensor.Shape) runtime.View {
	if xs.IsScalar() || xs.TotalSize() == 1 && len(xs) != len(ys) {
		return runtime.View{}
	}
	xd, _ := dims(xs)
	yd, _ := dims(ys)
	v := runtime.Contiguous(xd)
	for d := range xd {
		if xd[d] == 1 && yd[d] != 1 {
			v.Stride[d] = 0
		}
	}
	return v
}

// constant makes y hold v (a one-value buffer, written at compile time
// through a host upload: constants never change).
func (e *Exec) constant(y *gpu.Buffer, v float32) error {
	return e.d.Write(y, []float32{v})
}

// sum lowers a sum over axes of x (shape xs): contiguous axes in one pass,
// others one axis at a time from the last.
func (e *Exec) sum(y, x *gpu.Buffer, xs tensor.Shape, axes []int) error {
	cur, shape := x, append(tensor.Shape(nil), xs...)
	if len(shape) == 0 {
		return e.prog.Copy(y, 0, x, 1)
	}
	// sort descending and group runs of consecutive axes
	for i := 1; i < len(axes); i++ {
		for j := i; j > 0 && axes[j] > axes[j-1]; j-- {
			axes[j], axes[j-1] = axes[j-1], axes[j]
		}
	}
	for i := 0; i < len(axes); {
		hi := axes[i]
		lo := hi
		j := i + 1
		for j < len(axes) && axes[j] == lo-1 {
			lo = axes[j]
			j++
		}
		outer, k, inner := 1, 1, 1
		for d, s := range shape {
			switch {
			case d < lo:
				outer *= s
			case d <= hi:
				k *= s
			default:
				inner *= s
			}
		}
		dst := y
		if j < len(axes) {
			var err error
			if dst, err = e.alloc(outer*inner, false); err != nil {
				return err
			}
		}
		if err := e.prog.Sum(dst, cur, outer, k, inner); err != nil {
			return err
		}
		if cur != x {
			e.pool[cur.Len()] = append(e.pool[cur.Len()], cur)
		}
		cur = dst
		shape = append(shape[:lo:lo], shape[hi+1:]...)
		i = j
	}
	return nil
}

// slice lowers gorgonia's slice of one axis: a strided view of the input.
func (e *Exec) slice(n, x *G.Node, xb, y *gpu.Buffer, oshape [4]int) error {
	along := int(field(n.Op(), "along").Int())
	sl, _ := field(n.Op(), "Slice").Interface().(tensor.Slice)
	xs := x.Shape()
	start, step := 0, 1
	if sl != nil {
		start, step = sl.Start(), max(1, sl.Step())
	}
	xd, err := dims(xs)
	if err != nil {
		return err
	}
	xv := runtime.Contiguous(xd)
	pad := 4 - len(xs)
	v := runtime.View{Off: start * xv.Stride[pad+along]}
	// the output keeps the input's axes, less along when it is indexed away
	keep := len(n.Shape()) == len(xs)
	od := 4 - len(n.Shape())
	for a, i := 0, od; a < len(xs); a++ {
		if a == along && !keep {
			continue
		}
		v.Stride[i] = xv.Stride[pad+a]
		if a == along {
			v.Stride[i] *= step
		}
		i++
	}
	return e.prog.Map(runtime.MapCopy, oshape, gpu.Ref{B: y, V: runtime.Contiguous(oshape)}, gpu.Ref{B: xb, V: v}, gpu.Ref{}, gpu.Ref{})
}
