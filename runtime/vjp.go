package runtime

import (
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/weights"
)

// VJP runs the plan on n samples and returns the output named out and the
// vector-Jacobian product seed^T d out / d wrt: the gradient of
// sum(seed * out) with respect to the input named wrt, the parameters held
// fixed (classifier guidance's d log p(y | z) / dz). seed is given the
// output (classifier guidance's seed, one-hot minus softmax, depends on it). Every op's backward is
// a reference loop of grad.go or here; an op with none is an error, as is
// an input that no path from wrt reaches the output through a
// differentiable op (time embeddings are constants of the other input).
func (p *Plan) VJP(n int, inputs map[string][]float32, out string, seedOf func(y []float32) []float32, wrt string) (y, grad []float32, err error) {
	return p.vjp(nil, n, inputs, out, seedOf, wrt)
}

// vjp is VJP, with the forward layers and the convolutions' and linear
// layers' input gradients on kn's fast kernels (im2col and a matrix
// multiply, as sampling runs) where kn is not nil.
func (p *Plan) vjp(kn *Kernels, n int, inputs map[string][]float32, out string, seedOf func(y []float32) []float32, wrt string) (y, grad []float32, err error) {
	os, ok := p.Outputs[out]
	if !ok {
		return nil, nil, fmt.Errorf("runtime: the %s network has no output %q", p.Name, out)
	}
	ws, ok := p.Inputs[wrt]
	if !ok {
		return nil, nil, fmt.Errorf("runtime: the %s network has no input %q", p.Name, wrt)
	}
	// The forward pass, every value kept (no fused SiLU: its backward needs
	// the pre-activation).
	vals := make([][]float32, len(p.Sizes))
	for name, slot := range p.Inputs {
		x, ok := inputs[name]
		if !ok || len(x) != n*p.Sizes[slot] {
			return nil, nil, fmt.Errorf("runtime: %s input %q needs %d values for %d samples, got %d", p.Name, name, n*p.Sizes[slot], n, len(x))
		}
		vals[slot] = x
	}
	for _, s := range p.Steps {
		vals[s.Out] = make([]float32, n*p.Sizes[s.Out])
		if err := p.forward(kn, s, vals, n); err != nil {
			return nil, nil, err
		}
	}
	dep := p.Depends(ws) // only these slots carry gradients
	if !dep[os] {
		return nil, nil, fmt.Errorf("runtime: the %s network's output %q does not depend on its input %q", p.Name, out, wrt)
	}
	seed := seedOf(vals[os])
	if len(seed) != n*p.Sizes[os] {
		return nil, nil, fmt.Errorf("runtime: %s output %q has %d values for %d samples, the seed %d", p.Name, out, n*p.Sizes[os], n, len(seed))
	}
	grads := make([][]float32, len(p.Sizes))
	grads[os] = append([]float32(nil), seed...)
	acc := func(slot int, g []float32) {
		if grads[slot] == nil {
			grads[slot] = g
			return
		}
		for i, v := range g {
			grads[slot][i] += v
		}
	}
	for i := len(p.Steps) - 1; i >= 0; i-- {
		s := p.Steps[i]
		dy := grads[s.Out]
		if dy == nil || !dep[s.Out] {
			continue
		}
		nd, sh := s.Node, s.InShape[0]
		x := vals[s.In[0]]
		dx := make([]float32, len(x))
		switch nd.Op {
		case "linear":
			if kn != nil {
				gemm(false, n, sh[0], nd.Out, dy, nd.Out, s.W, sh[0], dx, sh[0])
			} else {
				MatMul(dx, dy, s.W, n, sh[0], nd.Out, false, false)
			}
		case "conv2d":
			if kn != nil {
				kn.conv2DData(dx, dy, s.W, n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad)
			} else {
				Conv2DData(dx, dy, s.W, n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad)
			}
		case "groupnorm":
			c, hw := sh[0], weights.Numel(sh)/sh[0]
			d := make([]float32, len(dy))
			for j, v := range dy {
				d[j] = v * s.W[(j/hw)%c]
			}
			GroupNormGrad(dx, x, d, n, c, hw, nd.Groups, float32(nd.Eps))
		case "upsample":
			UpsampleGrad(dx, dy, n, sh[0], sh[1], sh[2], nd.Factor)
		case "silu":
			for j, v := range x {
				sg := 1 / (1 + math.Exp(-float64(v)))
				dx[j] = float32(float64(dy[j]) * sg * (1 + float64(v)*(1-sg)))
			}
		case "sigmoid":
			for j, v := range vals[s.Out] {
				dx[j] = dy[j] * v * (1 - v)
			}
		case "reshape":
			copy(dx, dy)
		case "add":
			size, bsize := weights.Numel(sh), weights.Numel(s.InShape[1])
			copy(dx, dy)
			if b := s.In[1]; dep[b] {
				db := make([]float32, n*bsize)
				per := size / bsize
				for j, v := range dy {
					db[(j/size)*bsize+(j%size)/per] += v
				}
				acc(b, db)
			}
		case "concat":
			total := p.Sizes[s.Out]
			off := 0
			for _, in := range s.In {
				sz := p.Sizes[in]
				if dep[in] {
					d := make([]float32, n*sz)
					for j := 0; j < n; j++ {
						copy(d[j*sz:(j+1)*sz], dy[j*total+off:j*total+off+sz])
					}
					acc(in, d)
				}
				off += sz
			}
			continue
		default:
			return nil, nil, fmt.Errorf("runtime: %s node %q: op %q has no backward pass", p.Name, nd.Name, nd.Op)
		}
		if dep[s.In[0]] {
			acc(s.In[0], dx)
		}
	}
	return vals[os], grads[ws], nil
}

// forward runs one step of the plan into vals: with the reference ops, or
// the linear and convolution layers on kn's kernels.
func (p *Plan) forward(kn *Kernels, s Step, vals [][]float32, n int) error {
	nd, sh := s.Node, s.InShape[0]
	x, y := vals[s.In[0]], vals[s.Out]
	switch {
	case kn != nil && nd.Op == "linear":
		kn.Linear(y, x, s.W, s.B, n, sh[0], nd.Out, false)
		return nil
	case kn != nil && nd.Op == "conv2d":
		kn.Conv2D(y, x, s.W, s.B, n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad, false)
		return nil
	}
	switch nd.Op {
	case "linear":
		Linear(y, x, s.W, s.B, n, sh[0], nd.Out)
	case "conv2d":
		Conv2D(y, x, s.W, s.B, n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad)
	case "groupnorm":
		GroupNorm(y, x, s.W, s.B, n, sh[0], weights.Numel(sh)/sh[0], nd.Groups, float32(nd.Eps))
	case "upsample":
		Upsample(y, x, n, sh[0], sh[1], sh[2], nd.Factor)
	case "silu":
		SiLU(y, x)
	case "sigmoid":
		Sigmoid(y, x)
	case "add":
		Add(y, x, vals[s.In[1]], n, weights.Numel(sh), weights.Numel(s.InShape[1]))
	case "concat":
		xs := make([][]float32, len(s.In))
		sizes := make([]int, len(s.In))
		for k, in := range s.In {
			xs[k], sizes[k] = vals[in], p.Sizes[in]
		}
		Concat(y, xs, sizes, n)
	case "reshape":
		copy(y, x)
	case "timeembed":
		TimeEmbed(y, x, n, nd.Dim, float32(nd.Scale))
	default:
		return fmt.Errorf("runtime: %s node %q: op %q is not implemented", p.Name, nd.Name, nd.Op)
	}
	return nil
}

// conv2DData is Conv2DData through a matrix multiply: per output position
// the product of the output gradient with the weights gives the gradient of
// every input tap (cols = dy^T w, [n ho wo, c k k]), which col2im adds up.
func (kn *Kernels) conv2DData(dx, dy, w []float32, n, c, h, wd, o, k, stride, pad int) {
	ho, wo := ConvOut(h, k, stride, pad), ConvOut(wd, k, stride, pad)
	P, K := ho*wo, c*k*k
	N := n * P
	dyT := grow(&kn.out, N*o)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			src := dy[(i*o+oc)*P : (i*o+oc+1)*P]
			for p, v := range src {
				dyT[(i*P+p)*o+oc] = v
			}
		}
	}
	cols := grow(&kn.col, N*K)
	gemm(false, N, K, o, dyT, o, w, K, cols, K)
	clear(dx[:n*c*h*wd])
	for i := 0; i < n; i++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				row := cols[(i*P+oy*wo+ox)*K:][:K]
				for cc := 0; cc < c; cc++ {
					plane := dx[(i*c+cc)*h*wd : (i*c+cc+1)*h*wd]
					for ky := 0; ky < k; ky++ {
						iy := oy*stride - pad + ky
						if iy < 0 || iy >= h {
							continue
						}
						for kx := 0; kx < k; kx++ {
							ix := ox*stride - pad + kx
							if ix >= 0 && ix < wd {
								plane[iy*wd+ix] += row[(cc*k+ky)*k+kx]
							}
						}
					}
				}
			}
		}
	}
}

// Depends marks the slots whose values depend differentiably on slot in
// (through any op but the time embedding, a constant of its input).
func (p *Plan) Depends(in int) []bool {
	dep := make([]bool, len(p.Sizes))
	dep[in] = true
	for _, s := range p.Steps {
		for _, x := range s.In {
			if dep[x] && s.Node.Op != "timeembed" {
				dep[s.Out] = true
			}
		}
	}
	return dep
}
