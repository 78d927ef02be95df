// Package nn builds the networks of a weights.Arch as gorgonia expression
// graphs, so the trainer differentiates exactly what the runtime evaluates.
// Values are batch-first: a per-sample shape [C, H, W] becomes [B, C, H, W].
package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/weights"
)

// Params holds the trainable tensors of a model by their weights-file name.
type Params struct {
	Names []string           // in weights.Arch.Params order
	Nodes map[string]*G.Node // name -> node in the graph
}

// NewParams creates one graph node per tensor of f that keep accepts (nil:
// all). The nodes' values share f's tensor data, so an optimizer step on
// f's slices is what the next run of the graph sees.
func NewParams(g *G.ExprGraph, f *weights.File, keep func(name string) bool) (*Params, error) {
	specs, err := f.Arch.Params()
	if err != nil {
		return nil, err
	}
	p := &Params{Nodes: map[string]*G.Node{}}
	for _, s := range specs {
		if keep != nil && !keep(s.Name) {
			continue
		}
		t := f.Find(s.Name)
		if t == nil {
			return nil, fmt.Errorf("nn: weights have no tensor %s", s.Name)
		}
		v := tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(t.Data))
		p.Nodes[s.Name] = G.NewTensor(g, G.Float32, len(s.Shape), G.WithShape(s.Shape...), G.WithName(s.Name), G.WithValue(v))
		p.Names = append(p.Names, s.Name)
	}
	return p, nil
}

// TimeInput is a sinusoidal time embedding computed on the host: gorgonia
// needs no gradient through t, and computing it in Go keeps the formula in
// one place (runtime.TimeEmbed).
type TimeInput struct {
	Node  *G.Node // [B, Dim] input
	Dim   int
	Scale float64
}

// FillTimes writes the embeddings of the per-sample times t into the
// graph's time inputs, before each run.
func FillTimes(times []TimeInput, t []float32) {
	for _, ti := range times {
		runtime.TimeEmbed(ti.Node.Value().Data().([]float32), t, len(t), ti.Dim, float32(ti.Scale))
	}
}

// Net is one built network.
type Net struct {
	Outputs map[string]*G.Node
	Times   []TimeInput
}

// Build adds graph (named name: "encoder", "decoder" or "score") to g for a
// fixed batch, reading its inputs from ins (batch-first nodes) and its
// parameters from p.
func Build(g *G.ExprGraph, graph *weights.Graph, name string, batch int, ins map[string]*G.Node, p *Params) (*Net, error) {
	shapes, _, err := graph.Shapes(name)
	if err != nil {
		return nil, err
	}
	vals := map[string]*G.Node{}
	for _, in := range graph.Inputs {
		n, ok := ins[in.Name]
		if !ok {
			return nil, fmt.Errorf("nn: %s input %q not supplied", name, in.Name)
		}
		want := append([]int{batch}, in.Shape...)
		if !weights.EqualShape(n.Shape(), want) {
			return nil, fmt.Errorf("nn: %s input %q has shape %v, want %v", name, in.Name, n.Shape(), want)
		}
		vals[in.Name] = n
	}
	net := &Net{Outputs: map[string]*G.Node{}}
	param := func(node, which string) *G.Node { return p.Nodes[weights.ParamName(name, node, which)] }
	for i := range graph.Nodes {
		nd := &graph.Nodes[i]
		x := vals[nd.In[0]]
		var y *G.Node
		var err error
		switch nd.Op {
		case "linear":
			var wt *G.Node
			if wt, err = G.Transpose(param(nd.Name, "weight"), 1, 0); err == nil {
				if y, err = G.Mul(x, wt); err == nil {
					y, err = BroadcastAdd(y, rowVec(param(nd.Name, "bias")))
				}
			}
		case "conv2d":
			y, err = Conv2DBias(x, param(nd.Name, "weight"), chanVec(param(nd.Name, "bias")), nd.Stride, nd.Pad)
		case "upsample":
			y, err = Upsample(x, nd.Factor)
		case "groupnorm":
			if y, err = Normalize(x, nd.Groups, nd.Eps); err == nil {
				if y, err = BroadcastMul(y, chanVec(param(nd.Name, "weight"))); err == nil {
					y, err = BroadcastAdd(y, chanVec(param(nd.Name, "bias")))
				}
			}
		case "silu":
			y, err = SiLU(x)
		case "sigmoid":
			y, err = G.Sigmoid(x)
		case "add":
			b := vals[nd.In[1]]
			if len(shapes[nd.In[1]]) == len(shapes[nd.In[0]]) {
				y, err = G.Add(x, b)
			} else { // [B, C] added per channel of [B, C, H, W]
				var r *G.Node
				if r, err = G.Reshape(b, tensor.Shape{batch, b.Shape()[1], 1, 1}); err == nil {
					y, err = BroadcastAdd(x, r)
				}
			}
		case "concat":
			xs := make([]*G.Node, len(nd.In))
			for j, s := range nd.In {
				xs[j] = vals[s]
			}
			y, err = Concat(xs...)
		case "reshape":
			y, err = G.Reshape(x, append(tensor.Shape{batch}, nd.Shape...))
		case "timeembed":
			if nd.In[0] != "t" {
				return nil, fmt.Errorf("nn: %s node %q: a time embedding must read the input t", name, nd.Name)
			}
			y = G.NewMatrix(g, G.Float32, G.WithShape(batch, nd.Dim), G.WithName(name+"/"+nd.Name+".input"), G.WithInit(G.Zeroes()))
			net.Times = append(net.Times, TimeInput{y, nd.Dim, nd.Scale})
		default:
			return nil, fmt.Errorf("nn: %s node %q: op %q is not supported by the trainer", name, nd.Name, nd.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("nn: %s node %q (%s): %w", name, nd.Name, nd.Op, err)
		}
		if want := append([]int{batch}, shapes[nd.Name]...); !weights.EqualShape(y.Shape(), want) {
			return nil, fmt.Errorf("nn: %s node %q (%s) built shape %v, want %v", name, nd.Name, nd.Op, y.Shape(), want)
		}
		vals[nd.Name] = y
	}
	for _, o := range graph.Outputs {
		net.Outputs[o.Name] = vals[o.Node]
	}
	return net, nil
}

func rowVec(v *G.Node) *G.Node  { return G.Must(G.Reshape(v, tensor.Shape{1, v.Shape()[0]})) }
func chanVec(v *G.Node) *G.Node { return G.Must(G.Reshape(v, tensor.Shape{1, v.Shape()[0], 1, 1})) }
