package gpu

import (
	"errors"
	"fmt"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/weights"
)

// Classifier is classifier guidance's gradient on the device: the noisy
// classifier's forward pass with every value kept, and its backward pass
// to the latent from the training ops (the matrix multiply, the
// convolution's input gradient, SiLU's gradient), each tested against the
// CPU reference in the op suite. The seed of the backward pass (one-hot
// minus softmax) is worked out on the host from the logits, a read of
// n x classes values.
type Classifier struct {
	d          *Device
	c          *runtime.Classifier
	n          int
	ps         params
	fwd, back  *Program
	z, t       *Buffer
	logits     *Buffer
	seed, grad *Buffer
}

// NewClassifier compiles c for batches of n latents.
func (d *Device) NewClassifier(c *runtime.Classifier, n int) (*Classifier, error) {
	p := c.Plan()
	ps, err := d.upload(p)
	if err != nil {
		return nil, err
	}
	g := &Classifier{d: d, c: c, n: n, ps: ps, fwd: d.NewProgram(), back: d.NewProgram()}
	if err := g.build(p); err != nil {
		g.Release()
		return nil, err
	}
	return g, nil
}

func (g *Classifier) build(p *runtime.Plan) error {
	d, n := g.d, g.n
	nt, err := d.compileFused(p, g.ps, n, false)
	if err != nil {
		return err
	}
	// The program takes over the net's launches and buffers.
	for _, l := range nt.launches {
		g.fwd.steps = append(g.fwd.steps, step{l: l})
	}
	g.fwd.Own(nt.bufs...)
	g.z, g.t, g.logits = nt.in["z"], nt.in["t"], nt.out["logits"]
	slots := nt.slots
	ws := p.Inputs["z"]
	dep := p.Depends(ws)
	grads := make([]*Buffer, len(p.Sizes))
	os := p.Outputs["logits"]
	if g.seed, err = g.back.scratch(n*p.Sizes[os], nil); err != nil {
		return err
	}
	grads[os] = g.seed
	bp := g.back
	flat := func(k int) [4]int { return [4]int{k, 1, 1, 1} }
	ref := func(b *Buffer) Ref { return Ref{B: b, V: runtime.Contiguous(flat(b.len))} }
	// acc adds gradient b into slot s's (a new buffer when it has one).
	acc := func(s int, b *Buffer) error {
		if grads[s] == nil {
			grads[s] = b
			return nil
		}
		sum, err := bp.scratch(n*p.Sizes[s], nil)
		if err != nil {
			return err
		}
		k := n * p.Sizes[s]
		if err := bp.Map(runtime.MapAdd, flat(k), ref(sum), ref(grads[s]), ref(b), Ref{}); err != nil {
			return err
		}
		grads[s] = sum
		return nil
	}
	for i := len(p.Steps) - 1; i >= 0; i-- {
		s := p.Steps[i]
		dy := grads[s.Out]
		if dy == nil || !dep[s.Out] || !dep[s.In[0]] && s.Node.Op != "add" {
			continue
		}
		nd, sh := s.Node, s.InShape[0]
		size := n * p.Sizes[s.In[0]]
		if nd.Op == "reshape" {
			if err := acc(s.In[0], dy); err != nil {
				return err
			}
			continue
		}
		dx, err := bp.scratch(size, nil)
		if err != nil {
			return err
		}
		switch nd.Op {
		case "linear":
			err = bp.MatMul(dx, dy, g.ps[i][0], n, sh[0], nd.Out, false, false)
		case "conv2d":
			err = bp.Conv2DData(dx, dy, g.ps[i][0], n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad)
		case "silu":
			err = bp.Map(runtime.MapSiLUGrad, flat(size), ref(dx), Ref{B: slots[s.In[0]], V: runtime.Contiguous(flat(size))}, ref(dy), Ref{})
		case "add":
			if dep[s.In[1]] {
				return fmt.Errorf("gpu: classifier node %q: the gradient of an add's second operand is not on the GPU yet", nd.Name)
			}
			if !dep[s.In[0]] {
				continue
			}
			err = bp.Copy(dx, 0, dy, size)
		default:
			return fmt.Errorf("gpu: classifier node %q: op %q has no backward pass on the GPU yet (the CPU path has it)", nd.Name, nd.Op)
		}
		if err != nil {
			return err
		}
		if err := acc(s.In[0], dx); err != nil {
			return err
		}
	}
	if grads[ws] == nil {
		return errors.New("gpu: the classifier's logits do not depend on its latent input")
	}
	g.grad = grads[ws]
	return nil
}

// LogProbGrad is runtime.Classifier.LogProbGrad on the device, for up to
// the batch it was compiled for.
func (g *Classifier) LogProbGrad(dst, z []float32, t float64, class int) (float64, error) {
	dim := weights.Numel(g.c.File.LatentShape)
	k := g.c.File.Classes
	if len(z)%dim != 0 || len(dst) != len(z) || len(z)/dim > g.n {
		return 0, fmt.Errorf("gpu: classifier input of %d values for batches of %d latents of %d", len(z), g.n, dim)
	}
	if class < 0 || class >= k {
		return 0, fmt.Errorf("gpu: class %d out of range [0, %d)", class, k)
	}
	m := len(z) / dim
	zs := make([]float32, g.n*dim)
	copy(zs, z)
	ts := make([]float32, g.n)
	for i := range ts {
		ts[i] = float32(t)
	}
	if err := g.d.Write(g.z, zs); err != nil {
		return 0, err
	}
	if err := g.d.Write(g.t, ts); err != nil {
		return 0, err
	}
	got, err := g.fwd.RunRead(g.logits)
	if err != nil {
		return 0, err
	}
	seed, logp := runtime.SoftmaxSeed(got[0][:m*k], m, k, class)
	seed = append(seed, make([]float32, (g.n-m)*k)...) // rows past m add nothing
	if err := g.d.Write(g.seed, seed); err != nil {
		return 0, err
	}
	out, err := g.back.RunRead(g.grad)
	if err != nil {
		return 0, err
	}
	copy(dst, out[0][:len(z)])
	return logp, nil
}

// Release frees the device buffers and programs.
func (g *Classifier) Release() {
	g.fwd.Release()
	g.back.Release()
	g.ps.release()
}
