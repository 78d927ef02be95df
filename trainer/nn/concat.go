package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Concat joins tensors [B, C_i, ...] along the channels (axis 1), the
// U-Net's skip connections. gorgonia's own Concat copies element by element
// through an iterator, and its gradient materializes a strided slice the
// same way; these copy whole rows (C_i x the rest, per sample), 4% of a
// training step and 8% of an evaluation before.
func Concat(xs ...*G.Node) (*G.Node, error) {
	if len(xs) == 1 {
		return xs[0], nil
	}
	return G.ApplyOp(concatOp(len(xs)), xs...)
}

// inner is the size of one sample's slice of a tensor of shape s.
func inner(s tensor.Shape) int { return s.TotalSize() / s[0] }

func concatOp(k int) *kernel {
	return &kernel{name: fmt.Sprintf("concat(%d)", k), arity: k, spec: Spec{Op: "concat"},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			out := in[0].Clone()
			if len(out) < 2 {
				return nil, fmt.Errorf("nn: concat needs [B, C, ...], got %v", in[0])
			}
			for _, s := range in[1:] {
				if len(s) != len(out) || s[0] != out[0] || !s[2:].Eq(out[2:]) {
					return nil, fmt.Errorf("nn: concat: %v and %v differ beyond the channels", in[0], s)
				}
				out[1] += s[1]
			}
			return out, nil
		},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			b, row := sh[0][0], 0
			for _, s := range sh {
				row += inner(s)
			}
			for bi := 0; bi < b; bi++ {
				off := bi * row
				for i, x := range in {
					n := inner(sh[i])
					copy(out[off:off+n], x[bi*n:(bi+1)*n])
					off += n
				}
			}
		},
		grad: func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
			grads := make(G.Nodes, len(in))
			off := 0
			for i, x := range in {
				var err error
				if grads[i], err = G.ApplyOp(sliceChOp(off), x, dy); err != nil {
					return nil, err
				}
				off += x.Shape()[1]
			}
			return grads, nil
		},
	}
}

// sliceChOp(x, dy) is dy's channels off to off + C (x [B, C, ...] gives the
// shape): a concatenation's gradient for one of its inputs.
func sliceChOp(off int) *kernel {
	return &kernel{name: fmt.Sprintf("slice_ch(%d)", off), arity: 2, shape: same, spec: Spec{Op: "slice_ch", Off: off},
		fwd: func(out []float32, in [][]float32, sh []tensor.Shape) {
			n, m := inner(sh[0]), inner(sh[1])
			start := off * (n / sh[0][1]) // channels to floats
			for bi := 0; bi < sh[0][0]; bi++ {
				copy(out[bi*n:(bi+1)*n], in[1][bi*m+start:])
			}
		},
	}
}
