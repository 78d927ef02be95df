package weights

import (
	"errors"
	"fmt"
	"math"
)

// Arch is the one description of a model that the trainer and the runtime
// share: the data and latent shapes, the SDE, and the three networks as graphs
// over a small vocabulary of layers. The runtime builds whatever an Arch says;
// nothing about a particular network is hard-coded there.
type Arch struct {
	Name        string  `msgpack:"name"`
	DataShape   []int   `msgpack:"data_shape"`   // [C, H, W] of an image
	LatentShape []int   `msgpack:"latent_shape"` // [C, H, W] of z0; equals DataShape when Likelihood is "none"
	Likelihood  string  `msgpack:"likelihood"`   // decoder p(x|z0): "bernoulli", "logistic" or "none" (no VAE: a data-space SGM)
	SDE         SDESpec `msgpack:"sde"`
	// Encoder maps input "x" (DataShape) to outputs ["mu", "log_sigma"] (LatentShape each).
	Encoder *Graph `msgpack:"encoder,omitempty"`
	// Decoder maps input "z" (LatentShape) to ["logits"] (bernoulli) or
	// ["mean", "log_scale"] (logistic, mean in [-1, 1]), each DataShape.
	Decoder *Graph `msgpack:"decoder,omitempty"`
	// Score maps inputs "z" (LatentShape) and "t" ([1]) to ["eps"] (LatentShape):
	// the network part eps' of the mixed score. A class-conditional model's
	// score also takes "y" ([len(Classes) + 1]): a one-hot class, or the
	// last slot for "no class" (trained by label dropout), which is what
	// unconditional sampling and classifier-free guidance's unconditional
	// half feed.
	Score Graph `msgpack:"score"`
	// Classes names the classes of a class-conditional model, in label order.
	Classes []string `msgpack:"classes,omitempty"`
	// MixLogit names the tensor (LatentShape) of mixing logits a; empty means no
	// mixing (eps = eps').
	MixLogit string `msgpack:"mix_logit,omitempty"`
	// Sampling holds the model's default sampler settings.
	Sampling SamplingDefaults `msgpack:"sampling"`
}

// SDESpec names the forward SDE and its parameters (see runtime/sde.New).
type SDESpec struct {
	Kind   string             `msgpack:"kind"`
	Params map[string]float64 `msgpack:"params,omitempty"`
}

// SamplingDefaults are what the model was validated with.
type SamplingDefaults struct {
	Sampler string  `msgpack:"sampler"`
	NFE     int     `msgpack:"nfe"`
	EndTime float64 `msgpack:"end_time"` // ode_eps
}

// Graph is a network: named inputs, nodes in topological order, named outputs.
// Every value has a per-sample shape; the batch is implicit.
type Graph struct {
	Inputs  []Input `msgpack:"inputs"`
	Nodes   []Node  `msgpack:"nodes"`
	Outputs []Port  `msgpack:"outputs"`
}

// Input is a graph input.
type Input struct {
	Name  string `msgpack:"name"`
	Shape []int  `msgpack:"shape"`
}

// Port binds an output role to the node that produces it.
type Port struct {
	Name string `msgpack:"name"`
	Node string `msgpack:"node"`
}

// Node is one layer. Which fields matter depends on Op:
//
//	linear     In[0] [K]          -> [Out]            params weight [Out, K], bias [Out]
//	conv2d     In[0] [C, H, W]    -> [Out, H', W']    params weight [Out, C, Kernel, Kernel], bias [Out];
//	                                                   H' = (H + 2 Pad - Kernel) / Stride + 1
//	upsample   In[0] [C, H, W]    -> [C, H F, W F]    nearest neighbour, F = Factor
//	groupnorm  In[0] [C, ...]     -> same             Groups divides C; params weight [C], bias [C]; Eps
//	silu, sigmoid  In[0]          -> same
//	add        In[0], In[1]       -> In[0]'s shape    In[1] has the same shape, or [C] added per channel
//	concat     In[0], In[1], ...  -> channels summed  along the first axis; the other axes equal
//	reshape    In[0]              -> Shape            same element count
//	timeembed  In[0] [1]          -> [Dim]            sinusoidal: [sin(s t f_i), cos(s t f_i)],
//	                                                   f_i = 10000^(-i/(Dim/2)), s = Scale
type Node struct {
	Name   string   `msgpack:"name"`
	Op     string   `msgpack:"op"`
	In     []string `msgpack:"in"`
	Out    int      `msgpack:"out,omitempty"`
	Kernel int      `msgpack:"kernel,omitempty"`
	Stride int      `msgpack:"stride,omitempty"`
	Pad    int      `msgpack:"pad,omitempty"`
	Factor int      `msgpack:"factor,omitempty"`
	Groups int      `msgpack:"groups,omitempty"`
	Eps    float64  `msgpack:"eps,omitempty"`
	Shape  []int    `msgpack:"shape,omitempty"`
	Dim    int      `msgpack:"dim,omitempty"`
	Scale  float64  `msgpack:"scale,omitempty"`
}

// ParamSpec is a tensor a graph needs.
type ParamSpec struct {
	Name  string
	Shape []int
}

// ParamName is the tensor name of a node's parameter: "graph/node.weight".
func ParamName(graph, node, param string) string { return graph + "/" + node + "." + param }

const (
	maxDim      = 1 << 16 // any one axis
	maxElements = 1 << 26 // any one value or tensor (256 MiB of f32)
)

// Shapes runs shape inference: the per-sample shape of every node, checking
// each op's parameters and inputs. name labels errors and tensor names.
func (g *Graph) Shapes(name string) (map[string][]int, []ParamSpec, error) {
	shapes := map[string][]int{}
	var params []ParamSpec
	fail := func(n *Node, f string, a ...any) error {
		return fmt.Errorf("weights: %s node %q (%s): %s", name, n.Name, n.Op, fmt.Sprintf(f, a...))
	}
	for _, in := range g.Inputs {
		if err := checkShape(in.Shape); err != nil {
			return nil, nil, fmt.Errorf("weights: %s input %q: %v", name, in.Name, err)
		}
		if _, dup := shapes[in.Name]; dup || in.Name == "" {
			return nil, nil, fmt.Errorf("weights: %s input name %q is empty or repeated", name, in.Name)
		}
		shapes[in.Name] = in.Shape
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if _, dup := shapes[n.Name]; dup || n.Name == "" {
			return nil, nil, fail(n, "name is empty or repeated")
		}
		ins := make([][]int, len(n.In))
		for j, src := range n.In {
			s, ok := shapes[src]
			if !ok {
				return nil, nil, fail(n, "input %q is not defined before it", src)
			}
			ins[j] = s
		}
		want := map[string]int{"concat": -2, "add": 2}[n.Op]
		switch {
		case want == 0 && len(ins) != 1:
			return nil, nil, fail(n, "takes 1 input, has %d", len(ins))
		case want == 2 && len(ins) != 2:
			return nil, nil, fail(n, "takes 2 inputs, has %d", len(ins))
		case want == -2 && len(ins) < 2:
			return nil, nil, fail(n, "takes at least 2 inputs, has %d", len(ins))
		}
		x := ins[0]
		var out []int
		param := func(p string, shape ...int) {
			params = append(params, ParamSpec{ParamName(name, n.Name, p), shape})
		}
		switch n.Op {
		case "linear":
			if len(x) != 1 || n.Out < 1 {
				return nil, nil, fail(n, "needs a 1-D input and out >= 1, got input %v, out %d", x, n.Out)
			}
			out = []int{n.Out}
			param("weight", n.Out, x[0])
			param("bias", n.Out)
		case "conv2d":
			if len(x) != 3 || n.Out < 1 || n.Kernel < 1 || n.Stride < 1 || n.Pad < 0 || n.Pad >= n.Kernel {
				return nil, nil, fail(n, "needs a [C,H,W] input, out, kernel, stride >= 1 and 0 <= pad < kernel; got input %v, out %d, kernel %d, stride %d, pad %d", x, n.Out, n.Kernel, n.Stride, n.Pad)
			}
			h := (x[1]+2*n.Pad-n.Kernel)/n.Stride + 1
			w := (x[2]+2*n.Pad-n.Kernel)/n.Stride + 1
			if x[1]+2*n.Pad < n.Kernel || x[2]+2*n.Pad < n.Kernel {
				return nil, nil, fail(n, "kernel %d larger than the padded input %v", n.Kernel, x)
			}
			out = []int{n.Out, h, w}
			param("weight", n.Out, x[0], n.Kernel, n.Kernel)
			param("bias", n.Out)
		case "upsample":
			if len(x) != 3 || n.Factor < 2 {
				return nil, nil, fail(n, "needs a [C,H,W] input and factor >= 2, got %v, %d", x, n.Factor)
			}
			out = []int{x[0], x[1] * n.Factor, x[2] * n.Factor}
		case "groupnorm":
			if n.Groups < 1 || x[0]%n.Groups != 0 || !(n.Eps > 0) {
				return nil, nil, fail(n, "groups %d must divide the %d channels, and eps %v must be > 0", n.Groups, x[0], n.Eps)
			}
			out = x
			param("weight", x[0])
			param("bias", x[0])
		case "silu", "sigmoid":
			out = x
		case "add":
			y := ins[1]
			if !equal(x, y) && !(len(y) == 1 && y[0] == x[0]) {
				return nil, nil, fail(n, "shapes %v and %v neither match nor broadcast per channel", x, y)
			}
			out = x
		case "concat":
			c := 0
			for _, s := range ins {
				if len(s) != len(x) || !equal(s[1:], x[1:]) {
					return nil, nil, fail(n, "shapes %v and %v differ beyond the first axis", x, s)
				}
				c += s[0]
			}
			out = append([]int{c}, x[1:]...)
		case "reshape":
			if err := checkShape(n.Shape); err != nil || numel(n.Shape) != numel(x) {
				return nil, nil, fail(n, "cannot reshape %v to %v", x, n.Shape)
			}
			out = n.Shape
		case "timeembed":
			if !equal(x, []int{1}) || n.Dim < 2 || n.Dim%2 != 0 || !(n.Scale > 0) {
				return nil, nil, fail(n, "needs input [1], an even dim >= 2 and scale > 0; got %v, %d, %v", x, n.Dim, n.Scale)
			}
			out = []int{n.Dim}
		default:
			return nil, nil, fail(n, "unknown op (want linear, conv2d, upsample, groupnorm, silu, sigmoid, add, concat, reshape or timeembed)")
		}
		if err := checkShape(out); err != nil {
			return nil, nil, fail(n, "output %v: %v", out, err)
		}
		shapes[n.Name] = out
	}
	for _, p := range params {
		if err := checkShape(p.Shape); err != nil {
			return nil, nil, fmt.Errorf("weights: %s tensor %s: %v", name, p.Name, err)
		}
	}
	return shapes, params, nil
}

// Output returns the node bound to an output role, or "".
func (g *Graph) Output(role string) string {
	for _, p := range g.Outputs {
		if p.Name == role {
			return p.Node
		}
	}
	return ""
}

// check validates a graph against the inputs and outputs its role requires.
func (g *Graph) check(name string, inputs map[string][]int, outputs map[string][]int) ([]ParamSpec, error) {
	if len(g.Inputs) != len(inputs) {
		return nil, fmt.Errorf("weights: %s has %d inputs, want %d", name, len(g.Inputs), len(inputs))
	}
	for _, in := range g.Inputs {
		want, ok := inputs[in.Name]
		if !ok || !equal(in.Shape, want) {
			return nil, fmt.Errorf("weights: %s input %q %v, want one of %v", name, in.Name, in.Shape, inputs)
		}
	}
	shapes, params, err := g.Shapes(name)
	if err != nil {
		return nil, err
	}
	if len(g.Outputs) != len(outputs) {
		return nil, fmt.Errorf("weights: %s has %d outputs, want %d", name, len(g.Outputs), len(outputs))
	}
	for role, want := range outputs {
		node := g.Output(role)
		got, ok := shapes[node]
		if node == "" || !ok {
			return nil, fmt.Errorf("weights: %s output %q is missing or names no node", name, role)
		}
		if !equal(got, want) {
			return nil, fmt.Errorf("weights: %s output %q has shape %v, want %v", name, role, got, want)
		}
	}
	return params, nil
}

// Params validates the architecture and lists every tensor it needs, in a fixed
// order: encoder, decoder, score network, mixing logits.
func (a *Arch) Params() ([]ParamSpec, error) {
	if err := checkShape(a.DataShape); err != nil || len(a.DataShape) != 3 {
		return nil, fmt.Errorf("weights: data shape %v must be [C, H, W]", a.DataShape)
	}
	if err := checkShape(a.LatentShape); err != nil || len(a.LatentShape) != 3 {
		return nil, fmt.Errorf("weights: latent shape %v must be [C, H, W]", a.LatentShape)
	}
	if a.SDE.Kind == "" {
		return nil, errors.New("weights: the architecture names no SDE")
	}
	var all []ParamSpec
	switch a.Likelihood {
	case "none":
		if a.Encoder != nil || a.Decoder != nil {
			return nil, errors.New(`weights: likelihood "none" (no VAE) must have no encoder or decoder`)
		}
		if !equal(a.DataShape, a.LatentShape) {
			return nil, fmt.Errorf("weights: without a VAE the latent shape %v must equal the data shape %v", a.LatentShape, a.DataShape)
		}
	case "bernoulli", "logistic":
		if a.Encoder == nil || a.Decoder == nil {
			return nil, fmt.Errorf("weights: likelihood %q needs an encoder and a decoder", a.Likelihood)
		}
		p, err := a.Encoder.check("encoder", map[string][]int{"x": a.DataShape},
			map[string][]int{"mu": a.LatentShape, "log_sigma": a.LatentShape})
		if err != nil {
			return nil, err
		}
		all = append(all, p...)
		outs := map[string][]int{"logits": a.DataShape}
		if a.Likelihood == "logistic" {
			outs = map[string][]int{"mean": a.DataShape, "log_scale": a.DataShape}
		}
		p, err = a.Decoder.check("decoder", map[string][]int{"z": a.LatentShape}, outs)
		if err != nil {
			return nil, err
		}
		all = append(all, p...)
	default:
		return nil, fmt.Errorf("weights: unknown likelihood %q (want bernoulli, logistic or none)", a.Likelihood)
	}
	ins := map[string][]int{"z": a.LatentShape, "t": {1}}
	if len(a.Classes) > 0 {
		if len(a.Classes) > 1000 {
			return nil, fmt.Errorf("weights: %d classes (at most 1000)", len(a.Classes))
		}
		ins["y"] = []int{len(a.Classes) + 1}
	}
	p, err := a.Score.check("score", ins, map[string][]int{"eps": a.LatentShape})
	if err != nil {
		return nil, err
	}
	all = append(all, p...)
	if a.MixLogit != "" {
		all = append(all, ParamSpec{a.MixLogit, a.LatentShape})
	}
	seen := map[string]bool{}
	for _, p := range all {
		if seen[p.Name] {
			return nil, fmt.Errorf("weights: tensor name %q is used twice", p.Name)
		}
		seen[p.Name] = true
	}
	return all, nil
}

func checkShape(s []int) error {
	if len(s) == 0 || len(s) > 4 {
		return fmt.Errorf("rank %d (want 1 to 4)", len(s))
	}
	n := 1
	for _, d := range s {
		if d < 1 || d > maxDim {
			return fmt.Errorf("axis of size %d (want 1 to %d)", d, maxDim)
		}
		n *= d
		if n > maxElements {
			return fmt.Errorf("more than %d elements", maxElements)
		}
	}
	return nil
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Numel is the element count of a shape.
func Numel(s []int) int { return numel(s) }

// EqualShape reports whether two shapes are the same.
func EqualShape(a, b []int) bool { return equal(a, b) }

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
