package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/runtime"
)

// BernoulliNLL is -log p(x | logits) per element, x in [0, 1] (binary, or a
// grey level used as a soft target): softplus(l) - x l, computed stably. The
// gradient flows to the logits only.
func BernoulliNLL(logits, x *G.Node) (*G.Node, error) {
	return G.ApplyOp(bernoulliOp, logits, x)
}

var bernoulliOp = &kernel{name: "bernoulli_nll", arity: 2, shape: same, spec: Spec{Op: "bernoulli_nll"},
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		parallelBlocks(len(out), 4096, func(a, b int) {
			for i := a; i < b; i++ {
				out[i] = float32(runtime.MapBernoulliNLL.Apply(float64(in[0][i]), float64(in[1][i]), 0))
			}
		})
	},
	grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dl, err := G.ApplyOp(bernoulliGradOp, in[0], in[1], dy)
		return G.Nodes{dl, nil}, err
	},
	nodiff: []int{1},
}

var bernoulliGradOp = &kernel{name: "bernoulli_nll_grad", arity: 3, shape: same, spec: Spec{Op: "bernoulli_nll_grad"},
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		parallelBlocks(len(out), 4096, func(a, b int) {
			for i := a; i < b; i++ {
				out[i] = float32(runtime.MapBernoulliGrad.Apply(float64(in[0][i]), float64(in[1][i]), float64(in[2][i])))
			}
		})
	},
}

// LogisticNLL is -log P(x | mean, log_scale) per element under the
// discretized logistic of Salimans et al. (PixelCNN++) with 256 bins on
// [-1, 1]: the logistic mass of x's bin, with the outer bins open to
// infinity. x must lie on the bin centres 2k/255 - 1.
func LogisticNLL(mean, logScale, x *G.Node) (*G.Node, error) {
	if !mean.Shape().Eq(logScale.Shape()) || !mean.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("nn: logistic likelihood: shapes %v, %v, %v differ", mean.Shape(), logScale.Shape(), x.Shape())
	}
	return G.ApplyOp(logisticOp, mean, logScale, x)
}

var logisticOp = &kernel{name: "logistic_nll", arity: 3, shape: same, spec: Spec{Op: "logistic_nll"},
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		parallelBlocks(len(out), 4096, func(a, b int) {
			runtime.LogisticNLL(out[a:b], in[0][a:b], in[1][a:b], in[2][a:b], nil, 0)
		})
	},
	grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dmu, err := G.ApplyOp(logisticGradOp(0), in[0], in[1], in[2], dy)
		if err != nil {
			return nil, err
		}
		dls, err := G.ApplyOp(logisticGradOp(1), in[0], in[1], in[2], dy)
		return G.Nodes{dmu, dls, nil}, err
	},
	nodiff: []int{2},
}

func logisticGradOp(which int) *kernel {
	return &kernel{name: fmt.Sprintf("logistic_nll_grad(%d)", which), arity: 4, shape: same, spec: Spec{Op: "logistic_nll_grad", Which: which},
		fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
			parallelBlocks(len(out), 4096, func(a, b int) {
				runtime.LogisticNLL(out[a:b], in[0][a:b], in[1][a:b], in[2][a:b], in[3][a:b], which+1)
			})
		},
	}
}
