package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/weights"
)

// SoftmaxNLL is the cross entropy of one-hot targets y under softmax(logits),
// per element: y_ij (logsumexp_i - l_ij), both [B, K]; summed, it is the
// batch's negative log-likelihood. The gradient flows to the logits only.
func SoftmaxNLL(logits, y *G.Node) (*G.Node, error) {
	if !logits.Shape().Eq(y.Shape()) || logits.Dims() != 2 {
		return nil, fmt.Errorf("nn: softmax NLL needs logits and one-hot targets of one [B, K] shape, got %v and %v", logits.Shape(), y.Shape())
	}
	return G.ApplyOp(softmaxNLLOp, logits, y)
}

// logSumExp of one row, shifted by its maximum for stability.
func logSumExp(row []float32) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

var softmaxNLLOp = &kernel{name: "softmax_nll", arity: 2, shape: same, spec: Spec{Op: "softmax_nll"},
	fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
		k := sh[0][1]
		for i := 0; i*k < len(out); i++ {
			l, y := in[0][i*k:(i+1)*k], in[1][i*k:(i+1)*k]
			lse := logSumExp(l)
			for j := range l {
				out[i*k+j] = float32(float64(y[j]) * (lse - float64(l[j])))
			}
		}
	},
	grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dl, err := G.ApplyOp(softmaxNLLGradOp, in[0], in[1], dy)
		return G.Nodes{dl, nil}, err
	},
	nodiff: []int{1},
}

// d/dl_ik of sum_j dy_ij y_ij (lse_i - l_ij) = (sum_j dy_ij y_ij) p_ik - dy_ik y_ik.
var softmaxNLLGradOp = &kernel{name: "softmax_nll_grad", arity: 3, shape: same, spec: Spec{Op: "softmax_nll_grad"},
	fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
		k := sh[0][1]
		for i := 0; i*k < len(out); i++ {
			l, y, dy := in[0][i*k:(i+1)*k], in[1][i*k:(i+1)*k], in[2][i*k:(i+1)*k]
			lse := logSumExp(l)
			var w float64
			for j := range l {
				w += float64(dy[j]) * float64(y[j])
			}
			for j := range l {
				out[i*k+j] = float32(w*math.Exp(float64(l[j])-lse) - float64(dy[j])*float64(y[j]))
			}
		}
	},
}

// NewGraphParams creates parameter nodes for a graph outside any weights
// file (the classifier), sharing the given tensors' data.
func NewGraphParams(g *G.ExprGraph, graph *weights.Graph, name string, tensors map[string][]float32) (*Params, error) {
	_, specs, err := graph.Shapes(name)
	if err != nil {
		return nil, err
	}
	p := &Params{Nodes: map[string]*G.Node{}}
	for _, s := range specs {
		d, ok := tensors[s.Name]
		if !ok || len(d) != weights.Numel(s.Shape) {
			return nil, fmt.Errorf("nn: tensor %s missing or not of shape %v", s.Name, s.Shape)
		}
		v := tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(d))
		p.Nodes[s.Name] = G.NewTensor(g, G.Float32, len(s.Shape), G.WithShape(s.Shape...), G.WithName(s.Name), G.WithValue(v))
		p.Names = append(p.Names, s.Name)
	}
	return p, nil
}
