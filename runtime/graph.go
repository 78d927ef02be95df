package runtime

import (
	"fmt"

	"github.com/lsgm-go/lsgm/weights"
)

// program is a graph compiled for execution: each node's inputs resolved to
// value slots, its shapes inferred and its parameters bound.
type program struct {
	name    string
	steps   []step
	sizes   []int          // per-sample size of each slot
	inputs  map[string]int // input name -> slot
	outputs map[string]int // output role -> slot
}

type step struct {
	node    *weights.Node
	in      []int
	out     int
	inShape [][]int
	w, b    []float32
}

func compile(name string, g *weights.Graph, f *weights.File) (*program, error) {
	shapes, _, err := g.Shapes(name)
	if err != nil {
		return nil, err
	}
	p := &program{name: name, inputs: map[string]int{}, outputs: map[string]int{}}
	slot := map[string]int{}
	newSlot := func(v string) int {
		slot[v] = len(p.sizes)
		p.sizes = append(p.sizes, weights.Numel(shapes[v]))
		return slot[v]
	}
	for _, in := range g.Inputs {
		p.inputs[in.Name] = newSlot(in.Name)
	}
	param := func(node, which string) ([]float32, error) {
		t := f.Find(weights.ParamName(name, node, which))
		if t == nil {
			return nil, fmt.Errorf("runtime: %s node %q has no %s tensor", name, node, which)
		}
		return t.Data, nil
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		s := step{node: n}
		for _, src := range n.In {
			s.in = append(s.in, slot[src])
			s.inShape = append(s.inShape, shapes[src])
		}
		switch n.Op {
		case "linear", "conv2d", "groupnorm":
			if s.w, err = param(n.Name, "weight"); err != nil {
				return nil, err
			}
			if s.b, err = param(n.Name, "bias"); err != nil {
				return nil, err
			}
		}
		s.out = newSlot(n.Name)
		p.steps = append(p.steps, s)
	}
	for _, o := range g.Outputs {
		p.outputs[o.Name] = slot[o.Node]
	}
	if per := p.perSample(); per > maxActivationsPerSample {
		return nil, fmt.Errorf("runtime: the %s network needs %d MB of activations per sample, more than the %d MB this runtime allows (is the file's architecture what you meant?)", name, 4*per>>20, 4*maxActivationsPerSample>>20)
	}
	return p, nil
}

// Activation memory bounds: a small file can describe a graph whose values
// would need more memory than any machine has; refuse it with an error.
const (
	maxActivationsPerSample = 1 << 24 // float32 values (64 MB)
	maxActivationsPerBatch  = 1 << 28 // float32 values (1 GB)
)

// perSample is the number of float32 values one sample's activations take.
func (p *program) perSample() int {
	n := 0
	for _, s := range p.sizes {
		n += s
	}
	return n
}

// exec holds the buffers to run a program on batches of up to n samples.
type exec struct {
	p    *program
	n    int
	bufs [][]float32
}

func (p *program) newExec(n int) (*exec, error) {
	if n*p.perSample() > maxActivationsPerBatch {
		return nil, fmt.Errorf("runtime: a batch of %d needs %d MB of %s activations, more than %d MB; use a smaller batch", n, 4*n*p.perSample()>>20, p.name, 4*maxActivationsPerBatch>>20)
	}
	e := &exec{p: p, n: n, bufs: make([][]float32, len(p.sizes))}
	for i, s := range p.sizes {
		e.bufs[i] = make([]float32, n*s)
	}
	return e, nil
}

// run evaluates the program on n <= e.n samples. inputs are copied in;
// the returned outputs alias the exec's buffers until the next run.
func (e *exec) run(n int, inputs map[string][]float32) (map[string][]float32, error) {
	p := e.p
	if n > e.n {
		return nil, fmt.Errorf("runtime: batch of %d exceeds the %d this executor holds", n, e.n)
	}
	buf := func(slot int) []float32 { return e.bufs[slot][:n*p.sizes[slot]] }
	for name, slot := range p.inputs {
		x, ok := inputs[name]
		if !ok || len(x) != n*p.sizes[slot] {
			return nil, fmt.Errorf("runtime: %s input %q needs %d values for %d samples, got %d", p.name, name, n*p.sizes[slot], n, len(x))
		}
		copy(buf(slot), x)
	}
	for _, s := range p.steps {
		nd, y := s.node, buf(s.out)
		x := buf(s.in[0])
		sh := s.inShape[0]
		switch nd.Op {
		case "linear":
			Linear(y, x, s.w, s.b, n, sh[0], nd.Out)
		case "conv2d":
			Conv2D(y, x, s.w, s.b, n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad)
		case "groupnorm":
			GroupNorm(y, x, s.w, s.b, n, sh[0], weights.Numel(sh)/sh[0], nd.Groups, float32(nd.Eps))
		case "upsample":
			Upsample(y, x, n, sh[0], sh[1], sh[2], nd.Factor)
		case "silu":
			SiLU(y, x)
		case "sigmoid":
			Sigmoid(y, x)
		case "add":
			Add(y, x, buf(s.in[1]), n, weights.Numel(sh), weights.Numel(s.inShape[1]))
		case "concat":
			xs := make([][]float32, len(s.in))
			sizes := make([]int, len(s.in))
			for k, in := range s.in {
				xs[k], sizes[k] = buf(in), p.sizes[in]
			}
			Concat(y, xs, sizes, n)
		case "reshape":
			copy(y, x)
		case "timeembed":
			TimeEmbed(y, x, n, nd.Dim, float32(nd.Scale))
		default:
			return nil, fmt.Errorf("runtime: %s node %q: op %q is not implemented", p.name, nd.Name, nd.Op)
		}
	}
	out := map[string][]float32{}
	for role, slot := range p.outputs {
		out[role] = buf(slot)
	}
	return out, nil
}
