package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BernoulliNLL is -log p(x | logits) per element, x in [0, 1] (binary, or a
// grey level used as a soft target): softplus(l) - x l, computed stably. The
// gradient flows to the logits only.
func BernoulliNLL(logits, x *G.Node) (*G.Node, error) {
	return G.ApplyOp(bernoulliOp, logits, x)
}

func softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

var bernoulliOp = &kernel{name: "bernoulli_nll", arity: 2, shape: same,
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		for i, l := range in[0] {
			out[i] = float32(softplus(float64(l)) - float64(in[1][i])*float64(l))
		}
	},
	grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dl, err := G.ApplyOp(bernoulliGradOp, in[0], in[1], dy)
		return G.Nodes{dl, nil}, err
	},
	nodiff: []int{1},
}

var bernoulliGradOp = &kernel{name: "bernoulli_nll_grad", arity: 3, shape: same,
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		for i, l := range in[0] {
			out[i] = in[2][i] * float32(sigmoid(float64(l))-float64(in[1][i]))
		}
	},
}

// LogisticBins is the number of grey levels of the discretized logistic.
const LogisticBins = 256

// MinLogScale bounds the decoder's log scale from below, as PixelCNN++ does,
// so a bin's probability cannot collapse into float underflow.
const MinLogScale = -7

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

// logistic returns -log P and its derivatives by the mean and the log scale.
func logistic(mu, ls, x float64) (nll, dmu, dls float64) {
	clamped := ls < MinLogScale
	if clamped {
		ls = MinLogScale
	}
	inv := math.Exp(-ls)
	const half = 1.0 / (LogisticBins - 1)
	c := x - mu
	a, b := inv*(c+half), inv*(c-half) // upper and lower bin edges, standardised
	var da, db float64                 // d(-log P)/da, d(-log P)/db
	switch {
	case x < -0.999: // lowest bin: P = sigmoid(a)
		nll = softplus(-a)
		da = -(1 - sigmoid(a))
	case x > 0.999: // highest bin: P = 1 - sigmoid(b)
		nll = softplus(b)
		db = sigmoid(b)
	default:
		sa, sb := sigmoid(a), sigmoid(b)
		if d := sa - sb; d > 1e-10 {
			nll = -math.Log(d)
			da, db = -sa*(1-sa)/d, sb*(1-sb)/d
		} else { // far tail: density at the centre times the bin width
			m := inv * c
			nll = -(m - ls - 2*softplus(m) + math.Log(2*half))
			dm := -(1 - 2*sigmoid(m))
			dmu = dm * -inv
			dls = dm*-m + 1
			if clamped {
				dls = 0
			}
			return nll, dmu, dls
		}
	}
	// a = inv (c + h), b = inv (c - h): da/dmu = -inv, da/dls = -a.
	dmu = (da + db) * -inv
	dls = -da*a - db*b
	if clamped {
		dls = 0
	}
	return nll, dmu, dls
}

var logisticOp = &kernel{name: "logistic_nll", arity: 3, shape: same,
	fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
		for i := range out {
			nll, _, _ := logistic(float64(in[0][i]), float64(in[1][i]), float64(in[2][i]))
			out[i] = float32(nll)
		}
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
	return &kernel{name: fmt.Sprintf("logistic_nll_grad(%d)", which), arity: 4, shape: same,
		fwd: func(out []float32, in [][]float32, _ []tensor.Shape) {
			for i := range out {
				_, dmu, dls := logistic(float64(in[0][i]), float64(in[1][i]), float64(in[2][i]))
				d := dmu
				if which == 1 {
					d = dls
				}
				out[i] = in[3][i] * float32(d)
			}
		},
	}
}
