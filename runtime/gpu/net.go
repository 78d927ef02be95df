package gpu

import (
	"fmt"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/weights"
)

// params are a plan's weights on the device: W and B per step (nil where the
// op has none), uploaded once per model.
type params [][2]*Buffer

func (d *Device) upload(p *runtime.Plan) (params, error) {
	out := make(params, len(p.Steps))
	for i, s := range p.Steps {
		if s.W == nil {
			continue
		}
		w, err := d.NewBuffer(len(s.W), s.W)
		if err != nil {
			return out, err
		}
		b, err := d.NewBuffer(len(s.B), s.B)
		if err != nil {
			w.Release()
			return out, err
		}
		out[i] = [2]*Buffer{w, b}
	}
	return out, nil
}

func (ps params) release() {
	for _, p := range ps {
		p[0].Release()
		p[1].Release()
	}
}

// net is a plan compiled for the device at one batch size: a buffer per
// value (a reshape, or a SiLU fused into the op before it, shares its input's
// buffer) and the launches, their parameters fixed, in order.
type net struct {
	n        int
	in, out  map[string]*Buffer
	launches []*launch
	bufs     []*Buffer // owned
	slots    []*Buffer // every value's buffer, by the plan's slot
}

func (nt *net) record(r *recorder) {
	for _, l := range nt.launches {
		l.record(r)
	}
}

func (nt *net) release() {
	for _, l := range nt.launches {
		l.release()
	}
	for _, b := range nt.bufs {
		b.Release()
	}
}

// compile builds p for batches of n on d with the weights ps.
func (d *Device) compile(p *runtime.Plan, ps params, n int) (nt *net, err error) {
	return d.compileFused(p, ps, n, true)
}

// compileFused is compile, folding SiLUs into the op before them or (fuse
// false, for a backward pass that needs every pre-activation) not.
func (d *Device) compileFused(p *runtime.Plan, ps params, n int, fuse bool) (nt *net, err error) {
	nt = &net{n: n, in: map[string]*Buffer{}, out: map[string]*Buffer{}}
	defer func() {
		if err != nil {
			nt.release()
			nt = nil
		}
	}()
	slot := make([]*Buffer, len(p.Sizes))
	alloc := func(s int) (*Buffer, error) {
		b, err := d.NewBuffer(n*p.Sizes[s], nil)
		if err != nil {
			return nil, err
		}
		nt.bufs = append(nt.bufs, b)
		slot[s] = b
		return b, nil
	}
	for name, s := range p.Inputs {
		if nt.in[name], err = alloc(s); err != nil {
			return nil, err
		}
	}
	fused := p.FusedSiLU()
	if !fuse {
		fused = make([]bool, len(p.Steps))
	}
	add := func(l *launch, err error) error {
		if err != nil {
			return fmt.Errorf("gpu: %s node: %w", p.Name, err)
		}
		nt.launches = append(nt.launches, l)
		return nil
	}
	for i, s := range p.Steps {
		nd, sh := s.Node, s.InShape[0]
		if nd.Op == "reshape" || fused[i] {
			slot[s.Out] = slot[s.In[0]]
			continue
		}
		y, err := alloc(s.Out)
		if err != nil {
			return nil, err
		}
		x := slot[s.In[0]]
		act := i+1 < len(p.Steps) && fused[i+1]
		first := len(nt.launches)
		switch nd.Op {
		case "linear":
			err = add(d.prepLinear(y, x, ps[i][0], ps[i][1], n, sh[0], nd.Out, act))
		case "conv2d":
			err = add(d.prepConv(y, x, ps[i][0], ps[i][1], n, sh[0], sh[1], sh[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad, act))
		case "groupnorm":
			err = add(d.prepGroupNorm(y, x, ps[i][0], ps[i][1], n, sh[0], weights.Numel(sh)/sh[0], nd.Groups, float32(nd.Eps), act))
		case "upsample":
			err = add(d.prepUpsample(y, x, n, sh[0], sh[1], sh[2], nd.Factor))
		case "silu":
			err = add(d.prepUnary(y, x, n*p.Sizes[s.Out], opSiLU))
		case "sigmoid":
			err = add(d.prepUnary(y, x, n*p.Sizes[s.Out], opSigmoid))
		case "add":
			err = add(d.prepAdd(y, x, slot[s.In[1]], n, weights.Numel(sh), weights.Numel(s.InShape[1])))
		case "concat":
			off := 0
			for _, in := range s.In {
				if err = add(d.prepConcatPart(y, slot[in], n, p.Sizes[in], p.Sizes[s.Out], off)); err != nil {
					break
				}
				off += p.Sizes[in]
			}
		case "timeembed":
			err = add(d.prepTimeEmbed(y, x, n, nd.Dim, float32(nd.Scale)))
		default:
			err = fmt.Errorf("gpu: %s node %q: op %q is not implemented", p.Name, nd.Name, nd.Op)
		}
		if err != nil {
			return nil, err
		}
		for _, l := range nt.launches[first:] {
			l.label = nd.Name
			if act {
				l.label += "+silu"
			}
		}
	}
	for role, s := range p.Outputs {
		nt.out[role] = slot[s]
	}
	nt.slots = slot
	return nt, nil
}
