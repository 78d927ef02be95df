package runtime

import (
	"fmt"
	"slices"

	"github.com/lsgm-go/lsgm/weights"
)

// Plan is a graph compiled for execution: each node's inputs resolved to
// value slots, its shapes inferred and its parameters bound. Every backend
// runs the same plan, so a graph is checked once.
type Plan struct {
	Name    string
	Steps   []Step
	Sizes   []int          // per-sample size of each slot
	Inputs  map[string]int // input name -> slot
	Outputs map[string]int // output role -> slot
}

// Step is one node of a Plan: the op, its input and output slots, the
// per-sample shapes of its inputs, and its parameters (nil where none).
type Step struct {
	Node    *weights.Node
	In      []int
	Out     int
	InShape [][]int
	W, B    []float32
}

func compile(name string, g *weights.Graph, f *weights.File) (*Plan, error) {
	shapes, _, err := g.Shapes(name)
	if err != nil {
		return nil, err
	}
	p := &Plan{Name: name, Inputs: map[string]int{}, Outputs: map[string]int{}}
	slot := map[string]int{}
	newSlot := func(v string) int {
		slot[v] = len(p.Sizes)
		p.Sizes = append(p.Sizes, weights.Numel(shapes[v]))
		return slot[v]
	}
	for _, in := range g.Inputs {
		p.Inputs[in.Name] = newSlot(in.Name)
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
		s := Step{Node: n}
		for _, src := range n.In {
			s.In = append(s.In, slot[src])
			s.InShape = append(s.InShape, shapes[src])
		}
		switch n.Op {
		case "linear", "conv2d", "groupnorm":
			if s.W, err = param(n.Name, "weight"); err != nil {
				return nil, err
			}
			if s.B, err = param(n.Name, "bias"); err != nil {
				return nil, err
			}
		}
		s.Out = newSlot(n.Name)
		p.Steps = append(p.Steps, s)
	}
	for _, o := range g.Outputs {
		p.Outputs[o.Name] = slot[o.Node]
	}
	if per := p.perSample(); per > maxActivationsPerSample {
		return nil, fmt.Errorf("runtime: the %s network needs %d MB of activations per sample, more than the %d MB this runtime allows (is the file's architecture what you meant?)", name, 4*per>>20, 4*maxActivationsPerSample>>20)
	}
	return p, nil
}

// prune keeps only the steps that the outputs named in keep depend on, and
// only those outputs: the decoder's log-scale, which sampling never shows,
// then costs nothing on any backend.
func (p *Plan) prune(keep ...string) error {
	need := make([]bool, len(p.Sizes))
	outs := map[string]int{}
	for _, k := range keep {
		s, ok := p.Outputs[k]
		if !ok {
			return fmt.Errorf("runtime: the %s network has no output %q", p.Name, k)
		}
		need[s], outs[k] = true, s
	}
	var steps []Step
	for i := len(p.Steps) - 1; i >= 0; i-- {
		st := p.Steps[i]
		if !need[st.Out] {
			continue
		}
		for _, in := range st.In {
			need[in] = true
		}
		steps = append(steps, st)
	}
	slices.Reverse(steps)
	p.Steps, p.Outputs = steps, outs
	return nil
}

// Activation memory bounds: a small file can describe a graph whose values
// would need more memory than any machine has; refuse it with an error.
const (
	maxActivationsPerSample = 1 << 24 // float32 values (64 MB)
	maxActivationsPerBatch  = 1 << 28 // float32 values (1 GB)
)

// perSample is the number of float32 values one sample's activations take.
func (p *Plan) perSample() int {
	n := 0
	for _, s := range p.Sizes {
		n += s
	}
	return n
}

// FusedSiLU marks the SiLU steps that every backend folds into the step
// before them (a linear layer, convolution or group norm), which then
// writes the SiLU's output itself: those whose input is that step's output
// and nothing else reads it (no other step, no network output).
func (p *Plan) FusedSiLU() []bool {
	uses := make([]int, len(p.Sizes))
	for _, s := range p.Steps {
		for _, in := range s.In {
			uses[in]++
		}
	}
	for _, s := range p.Outputs {
		uses[s]++
	}
	fused := make([]bool, len(p.Steps))
	for i := 0; i+1 < len(p.Steps); i++ {
		s, next := p.Steps[i], p.Steps[i+1]
		switch s.Node.Op {
		case "linear", "conv2d", "groupnorm":
			fused[i+1] = next.Node.Op == "silu" && next.In[0] == s.Out && uses[s.Out] == 1
		}
	}
	return fused
}

// exec holds the buffers to run a program on batches of up to n samples.
// Its ops run through Kernels (natively im2col and a matrix multiply; in
// the browser, WebAssembly SIMD); ops.go's loops are the reference they
// are tested against.
type exec struct {
	p     *Plan
	n     int
	bufs  [][]float32
	fused []bool
	k     Kernels
}

func (p *Plan) newExec(n int) (*exec, error) {
	if n*p.perSample() > maxActivationsPerBatch {
		return nil, fmt.Errorf("runtime: a batch of %d needs %d MB of %s activations, more than %d MB; use a smaller batch", n, 4*n*p.perSample()>>20, p.Name, 4*maxActivationsPerBatch>>20)
	}
	e := &exec{p: p, n: n, bufs: make([][]float32, len(p.Sizes)), fused: p.FusedSiLU()}
	for i, s := range p.Sizes {
		e.bufs[i] = make([]float32, n*s)
	}
	for i, f := range e.fused {
		if f { // the op before writes the SiLU's slot; its own is never read
			e.bufs[p.Steps[i-1].Out] = nil
		}
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
	buf := func(slot int) []float32 { return e.bufs[slot][:n*p.Sizes[slot]] }
	for name, slot := range p.Inputs {
		x, ok := inputs[name]
		if !ok || len(x) != n*p.Sizes[slot] {
			return nil, fmt.Errorf("runtime: %s input %q needs %d values for %d samples, got %d", p.Name, name, n*p.Sizes[slot], n, len(x))
		}
		copy(buf(slot), x)
	}
	for i, s := range p.Steps {
		if e.fused[i] {
			continue
		}
		nd, out := s.Node, s.Out
		act := i+1 < len(p.Steps) && e.fused[i+1]
		if act {
			out = p.Steps[i+1].Out
		}
		y := buf(out)
		x := buf(s.In[0])
		sh := s.InShape[0]
		switch nd.Op {
		case "linear":
			e.k.Linear(y, x, s.W, s.B, n, sh[0], nd.Out, act)
		case "conv2d":
			e.k.Conv2D(y, x, s.W, s.B, n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad, act)
		case "groupnorm":
			e.k.GroupNorm(y, x, s.W, s.B, n, sh[0], weights.Numel(sh)/sh[0], nd.Groups, float32(nd.Eps), act)
		case "upsample":
			Upsample(y, x, n, sh[0], sh[1], sh[2], nd.Factor)
		case "silu":
			e.k.SiLU(y, x)
		case "sigmoid":
			e.k.Sigmoid(y, x)
		case "add":
			e.k.Add(y, x, buf(s.In[1]), n, weights.Numel(sh), weights.Numel(s.InShape[1]))
		case "concat":
			xs := make([][]float32, len(s.In))
			sizes := make([]int, len(s.In))
			for k, in := range s.In {
				xs[k], sizes[k] = buf(in), p.Sizes[in]
			}
			Concat(y, xs, sizes, n)
		case "reshape":
			copy(y, x)
		case "timeembed":
			TimeEmbed(y, x, n, nd.Dim, float32(nd.Scale))
		default:
			return nil, fmt.Errorf("runtime: %s node %q: op %q is not implemented", p.Name, nd.Name, nd.Op)
		}
	}
	out := map[string][]float32{}
	for role, slot := range p.Outputs {
		out[role] = buf(slot)
	}
	return out, nil
}
