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
	val    map[*G.Node]*value    // where each lowered node's value lives
	uses   map[*G.Node][]*G.Node // each node's readers
	place  map[*G.Node]*gpu.Buffer
	inputs []*G.Node // nodes with host values, uploaded by Sync
	outs   []*G.Node
	pool   map[int][]*gpu.Buffer // free intermediate buffers by length
	all    []*gpu.Buffer         // every buffer Exec allocated
	bytes  int64
}

// storage is a buffer shared by a node and its reshapes and views, freed to
// the pool when its last reader has been lowered.
type storage struct {
	b     *gpu.Buffer
	users int  // readers not yet lowered, over the node and its aliases
	keep  bool // an input or an output: never reused
}

// value is where a node's tensor lies: a storage and a view of it. A
// broadcast, transpose or slice whose readers are all elementwise ops is
// not computed at all: it is a view of its input, read in place by them.
type value struct {
	*storage
	v    runtime.View
	lazy bool // v is not the contiguous layout of the node's shape
}

// Compile lowers the part of g that outs depend on. Input nodes (those
// without an op: parameters, data, scalars set by G.Let) get buffers that
// Sync fills from their host values, except those placed in a given buffer
// (place: the parameters of a device-resident model), which the program
// reads where they are and Sync leaves alone.
func Compile(d *gpu.Device, g *G.ExprGraph, outs []*G.Node, place map[*G.Node]*gpu.Buffer) (e *Exec, err error) {
	ex := &Exec{d: d, prog: d.NewProgram(), val: map[*G.Node]*value{}, pool: map[int][]*gpu.Buffer{}, place: place}
	defer func() {
		if err != nil { // the returns below have set e to nil already
			ex.Release()
		}
	}()
	e = ex
	order, readers, uses := schedule(g, outs)
	e.uses = uses
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
			if v := e.val[c]; v != nil {
				v.users--
				if v.users == 0 && !v.keep {
					e.pool[v.b.Len()] = append(e.pool[v.b.Len()], v.b)
				}
			}
		}
	}
	return e, nil
}

// schedule returns the nodes outs depend on, each after its children, each
// node's number of reads among them and its readers.
func schedule(g *G.ExprGraph, outs []*G.Node) ([]*G.Node, map[*G.Node]int, map[*G.Node][]*G.Node) {
	var order []*G.Node
	seen := map[*G.Node]bool{}
	readers := map[*G.Node]int{}
	uses := map[*G.Node][]*G.Node{}
	var visit func(n *G.Node)
	visit = func(n *G.Node) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, c := range children(g, n) {
			visit(c)
			readers[c]++
			uses[c] = append(uses[c], n)
		}
		order = append(order, n)
	}
	for _, o := range outs {
		if o != nil {
			visit(o)
		}
	}
	return order, readers, uses
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

// SkipSync leaves input n out of Sync: the device fills it (noise drawn there).
func (e *Exec) SkipSync(n *G.Node) {
	for i, m := range e.inputs {
		if m == n {
			e.inputs = append(e.inputs[:i], e.inputs[i+1:]...)
			return
		}
	}
}

// Buffer is where an input or output node's value lives (nil for others).
func (e *Exec) Buffer(n *G.Node) *gpu.Buffer {
	if v := e.val[n]; v != nil && v.keep && !v.lazy && v.v.Off == 0 {
		return v.b
	}
	return nil
}

// Program is the compiled program, for running it with others in one
// submission (gpu.RunRead).
func (e *Exec) Program() *gpu.Program { return e.prog }

// Run executes the program and reads back nodes (each must be an output
// given to Compile) in the same submission.
func (e *Exec) Run(nodes ...*G.Node) ([][]float32, error) {
	bufs := make([]*gpu.Buffer, len(nodes))
	for i, n := range nodes {
		s := e.val[n]
		if s == nil || !s.keep || s.lazy {
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
		if b := e.place[n]; b != nil {
			if b.Len() != size(n) {
				return fmt.Errorf("placed in a buffer of %d values, needs %d", b.Len(), size(n))
			}
			e.val[n] = contiguous(&storage{b: b, users: readers, keep: true})
			return nil
		}
		b, err := e.alloc(size(n), true)
		if err != nil {
			return err
		}
		e.val[n] = contiguous(&storage{b: b, users: readers, keep: true})
		e.inputs = append(e.inputs, n)
		return nil
	}
	// Aliases: a reshape or a tap shares its child's storage (its child is
	// never lazy: neither is an elementwise reader).
	if isReshape(n.Op()) || isTap(n.Op()) {
		v := e.val[cs[0]]
		v.users += readers
		if out {
			v.keep = true
		}
		e.val[n] = v
		return nil
	}
	// Views: a broadcast, transpose or slice read only by elementwise ops.
	if v, ok, err := e.view(n, cs); err != nil {
		return err
	} else if ok && !out && e.onlyElementwise(n) {
		v.users += readers
		e.val[n] = &value{storage: v.storage, v: v.v, lazy: true}
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
	e.val[n] = contiguous(&storage{b: b, users: readers, keep: keep})
	in := make([]*gpu.Buffer, len(cs))
	for i, c := range cs {
		if v := e.val[c]; v != nil && !v.lazy && v.v.Off == 0 {
			in[i] = v.b // kernels read contiguous inputs (views feed elementwise ops only)
		} else if !elementwise[kind] {
			return fmt.Errorf("internal: input %d of a kernel is a view", i)
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
	case "conv2d", "conv2d_bias", "conv2d_dx", "conv2d_dw":
		xs, ws := sh, cs[1].Shape()
		b, c, h, w, o := xs[0], xs[1], xs[2], xs[3], ws[0]
		switch s.Op {
		case "conv2d":
			return p.Conv2D(y, in[0], in[1], b, c, h, w, o, s.K, s.Stride, s.Pad)
		case "conv2d_bias":
			return p.Conv2DBias(y, in[0], in[1], in[2], b, c, h, w, o, s.K, s.Stride, s.Pad)
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
	case "concat", "slice_ch": // channel copies through strided views
		axis := 4 - len(sh) + 1
		od, err := dims(n.Shape())
		if err != nil {
			return err
		}
		if s.Op == "slice_ch" {
			dd, err := dims(cs[1].Shape())
			if err != nil {
				return err
			}
			src := runtime.Contiguous(dd)
			src.Off = s.Off * src.Stride[axis]
			return p.Map(runtime.MapCopy, od, gpu.Ref{B: y, V: runtime.Contiguous(od)}, gpu.Ref{B: in[1], V: src}, gpu.Ref{}, gpu.Ref{})
		}
		ov, off := runtime.Contiguous(od), 0
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
	case "upsample":
		return p.Upsample(y, in[0], sh[0], sh[1], sh[2], sh[3], s.Factor)
	case "upsample_grad":
		return p.UpsampleGrad(y, in[1], sh[0], sh[1], sh[2], sh[3], s.Factor)
	case "bernoulli_nll":
		return e.mapFlat(runtime.MapBernoulliNLL, n, y, in...)
	case "bernoulli_nll_grad":
		return e.mapFlat(runtime.MapBernoulliGrad, n, y, in...)
	case "bcast_add", "bcast_mul":
		op := runtime.MapAdd
		if s.Op == "bcast_mul" {
			op = runtime.MapMul
		}
		od, err := dims(n.Shape())
		if err != nil {
			return err
		}
		return p.Map(op, od, gpu.Ref{B: y, V: runtime.Contiguous(od)}, e.ref(cs[0], n.Shape()), e.ref(cs[1], n.Shape()), gpu.Ref{})
	case "bcast_sum", "bcast_dot":
		// the sum of dy (times x) over the axes the operand repeats along
		xs := cs[0].Shape()
		bs := cs[len(cs)-1].Shape()
		var axes []int
		for d := range xs {
			if bs[d] == 1 && xs[d] != 1 {
				axes = append(axes, d)
			}
		}
		src := in[0]
		if s.Op == "bcast_dot" {
			xd, err := dims(xs)
			if err != nil {
				return err
			}
			if src, err = e.alloc(size(cs[0]), false); err != nil {
				return err
			}
			v := runtime.Contiguous(xd)
			if err := p.Map(runtime.MapMul, xd, gpu.Ref{B: src, V: v}, gpu.Ref{B: in[0], V: v}, gpu.Ref{B: in[1], V: v}, gpu.Ref{}); err != nil {
				return err
			}
			defer func() { e.pool[src.Len()] = append(e.pool[src.Len()], src) }()
		}
		if len(axes) == 0 {
			return p.Copy(y, 0, src, size(n))
		}
		return e.sum(y, src, xs, axes)
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
	case "repeatOp", "transposeOp", "sliceOp": // read by a kernel, or an output: computed
		v, _, err := e.view(n, cs)
		if err != nil {
			return err
		}
		return p.Map(runtime.MapCopy, oshape, gpu.Ref{B: y, V: ov}, gpu.Ref{B: v.b, V: v.v}, gpu.Ref{}, gpu.Ref{})
	case "elemBinOp":
		sym, _, _ := strings.Cut(fmt.Sprint(n.Op()), " ")
		op, ok := binOps[sym]
		if !ok {
			return fmt.Errorf("no GPU kernel for the elementwise %q", sym)
		}
		return p.Map(op, oshape, gpu.Ref{B: y, V: ov}, e.ref(cs[0], n.Shape()), e.ref(cs[1], n.Shape()), gpu.Ref{})
	case "elemUnaryOp":
		op, ok := unOps[fmt.Sprint(n.Op())]
		if !ok {
			return fmt.Errorf("no GPU kernel for the elementwise %q", fmt.Sprint(n.Op()))
		}
		return p.Map(op, oshape, gpu.Ref{B: y, V: ov}, e.ref(cs[0], n.Shape()), gpu.Ref{}, gpu.Ref{})
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
	}
	return fmt.Errorf("no GPU kernel for gorgonia's %s", kind)
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

// Profile times each kernel launch of the compiled graph alone.
func (e *Exec) Profile(reps int) ([]gpu.KernelTime, error) { return e.prog.Profile(reps) }

func contiguous(s *storage) *value { return &value{storage: s} }

// elementwise ops read their operands through views.
var elementwise = map[string]bool{"elemBinOp": true, "elemUnaryOp": true, "repeatOp": true, "transposeOp": true, "sliceOp": true}

// onlyElementwise says whether every reader of n takes a view.
func (e *Exec) onlyElementwise(n *G.Node) bool {
	for _, u := range e.uses[n] {
		if u.Op() == nil || !elementwise[typeName(u.Op())] {
			return false
		}
	}
	return true
}

// layout is the view v of a node of shape s, or its contiguous layout.
func (e *Exec) layout(c *G.Node) (*value, runtime.View, [4]int, error) {
	v := e.val[c]
	d, err := dims(c.Shape())
	if err != nil {
		return nil, runtime.View{}, d, err
	}
	if !v.lazy {
		cv := runtime.Contiguous(d)
		cv.Off = v.v.Off
		return v, cv, d, nil
	}
	return v, v.v, d, nil
}

// ref reads child c as an operand of an elementwise op of shape ys: through
// its view, with stride 0 along the axes it broadcasts (size 1 in c, or a
// scalar).
func (e *Exec) ref(c *G.Node, ys tensor.Shape) gpu.Ref {
	v, cv, cd, _ := e.layout(c)
	if c.Shape().TotalSize() <= 1 && (len(c.Shape()) != len(ys) || c.Shape().IsScalar()) {
		return gpu.Ref{B: v.b, V: runtime.View{Off: cv.Off}}
	}
	yd, _ := dims(ys)
	for d := range cd {
		if cd[d] == 1 && yd[d] != 1 {
			cv.Stride[d] = 0
		}
	}
	return gpu.Ref{B: v.b, V: cv}
}

// view is n as a view of its child, for a broadcast, a transpose or a
// slice (ok false for other ops).
func (e *Exec) view(n *G.Node, cs []*G.Node) (value, bool, error) {
	kind := typeName(n.Op())
	if kind != "repeatOp" && kind != "transposeOp" && kind != "sliceOp" {
		return value{}, false, nil
	}
	cv, v, _, err := e.layout(cs[0])
	if err != nil {
		return value{}, false, err
	}
	xs := cs[0].Shape()
	pad := 4 - len(xs)
	out := runtime.View{Off: v.Off}
	switch kind {
	case "repeatOp":
		// A broadcast: the input has size 1 along the repeated axis.
		along := int(field(n.Op(), "along").Int())
		if len(xs) != len(n.Shape()) {
			return value{}, false, fmt.Errorf("repeat of rank %d into rank %d", len(xs), len(n.Shape()))
		}
		if xs[along] != 1 && xs[along] != n.Shape()[along] {
			return value{}, false, fmt.Errorf("repeat along axis %d of size %d (only broadcasts from size 1)", along, xs[along])
		}
		out.Stride = v.Stride
		if xs[along] == 1 {
			out.Stride[pad+along] = 0
		}
	case "transposeOp":
		for i, a := range ints(field(n.Op(), "pattern")) {
			out.Stride[pad+i] = v.Stride[pad+a]
		}
	case "sliceOp":
		along := int(field(n.Op(), "along").Int())
		sl, _ := field(n.Op(), "Slice").Interface().(tensor.Slice)
		start, step := 0, 1
		if sl != nil {
			start, step = sl.Start(), max(1, sl.Step())
		}
		out.Off += start * v.Stride[pad+along]
		// the output keeps the input's axes, less along when it is indexed away
		keep := len(n.Shape()) == len(xs)
		for a, i := 0, 4-len(n.Shape()); a < len(xs); a++ {
			if a == along && !keep {
				continue
			}
			out.Stride[i] = v.Stride[pad+a]
			if a == along {
				out.Stride[i] *= step
			}
			i++
		}
	}
	return value{storage: cv.storage, v: out}, true, nil
}
