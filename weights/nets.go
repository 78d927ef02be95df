package weights

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// NetConfig sizes the default LSGM networks, written in the Arch vocabulary.
type NetConfig struct {
	Name           string
	DataShape      []int   // [C, H, W]; H and W divisible by 2^Down; [C, 1, 1] gets MLPs
	Likelihood     string  // "bernoulli", "logistic" or "none"
	LatentChannels int     // channels of z0 (ignored for "none")
	Down           int     // encoder downsamplings by 2 (latent is H/2^Down)
	Width          int     // VAE base channels (doubled once downsampled)
	ScoreWidth     int     // score network base channels
	ScoreMult      []int   // channel multiplier per score U-Net level (levels-1 downsamplings)
	ScoreBlocks    int     // residual blocks per level
	TimeDim        int     // sinusoidal embedding size
	Groups         int     // group norm groups (reduced where it does not divide)
	SDE            SDESpec // forward SDE
	Mix            bool    // mixed score parameterization
	Sampling       SamplingDefaults
	// Classes, when set, makes the score network class-conditional: a
	// one-hot of len(Classes) + 1 slots (the last: no class) goes through a
	// linear layer and is added to the time embedding.
	Classes []string
}

// builder appends nodes to a graph and tracks each value's channel count.
type builder struct {
	g      *Graph
	groups int
	ch     map[string]int
	n      int
}

func newBuilder(groups int, inputs ...Input) *builder {
	b := &builder{g: &Graph{Inputs: inputs}, groups: groups, ch: map[string]int{}}
	for _, in := range inputs {
		b.ch[in.Name] = in.Shape[0]
	}
	return b
}

func (b *builder) node(n Node, ch int) string {
	b.n++
	if n.Name == "" {
		n.Name = fmt.Sprintf("%s%d", n.Op, b.n)
	}
	b.g.Nodes = append(b.g.Nodes, n)
	b.ch[n.Name] = ch
	return n.Name
}

func (b *builder) conv(x string, out, k, stride int) string {
	return b.node(Node{Op: "conv2d", In: []string{x}, Out: out, Kernel: k, Stride: stride, Pad: k / 2}, out)
}

func (b *builder) normAct(x string) string {
	c := b.ch[x]
	g := b.groups
	for c%g != 0 {
		g--
	}
	n := b.node(Node{Op: "groupnorm", In: []string{x}, Groups: g, Eps: 1e-5}, c)
	return b.node(Node{Op: "silu", In: []string{n}}, c)
}

func (b *builder) add(x, y string) string {
	return b.node(Node{Op: "add", In: []string{x, y}}, b.ch[x])
}

// res is a pre-activation residual block; temb (if any) is projected and added
// per channel between the two convolutions. A 1x1 conv matches channels.
func (b *builder) res(x string, out int, temb string) string {
	h := b.conv(b.normAct(x), out, 3, 1)
	if temb != "" {
		t := b.node(Node{Op: "silu", In: []string{temb}}, b.ch[temb])
		h = b.add(h, b.node(Node{Op: "linear", In: []string{t}, Out: out}, out))
	}
	h = b.conv(b.normAct(h), out, 3, 1)
	skip := x
	if b.ch[x] != out {
		skip = b.conv(x, out, 1, 1)
	}
	return b.add(skip, h)
}

func (b *builder) output(role, node string) { b.g.Outputs = append(b.g.Outputs, Port{role, node}) }

// NewArch composes the default encoder, decoder and score U-Net.
func NewArch(c NetConfig) (*Arch, error) {
	if len(c.DataShape) != 3 || c.Width < 1 || c.ScoreWidth < 1 || c.ScoreBlocks < 1 || c.TimeDim < 2 || c.Groups < 1 || len(c.ScoreMult) < 1 {
		return nil, fmt.Errorf("weights: incomplete network config %+v", c)
	}
	C, H, W := c.DataShape[0], c.DataShape[1], c.DataShape[2]
	a := &Arch{Name: c.Name, DataShape: c.DataShape, Likelihood: c.Likelihood, SDE: c.SDE, Sampling: c.Sampling, Classes: c.Classes}
	if H == 1 && W == 1 {
		return mlpArch(a, c)
	}
	if c.Likelihood == "none" {
		a.LatentShape = c.DataShape
	} else {
		f := 1 << c.Down
		if H%f != 0 || W%f != 0 || c.LatentChannels < 1 {
			return nil, fmt.Errorf("weights: data %v does not divide by 2^%d, or no latent channels", c.DataShape, c.Down)
		}
		a.LatentShape = []int{c.LatentChannels, H / f, W / f}
		// Encoder: conv, then per level a strided conv and a residual block.
		// Nothing but the first conv runs at full resolution: on a CPU the
		// 28x28 layers would cost more than all the others.
		e := newBuilder(c.Groups, Input{"x", c.DataShape})
		h, w := e.conv("x", c.Width, 3, 1), c.Width
		for i := 0; i < c.Down; i++ {
			w = c.Width * 2
			h = e.res(e.conv(h, w, 3, 2), w, "")
		}
		h = e.normAct(h)
		e.output("mu", e.conv(h, c.LatentChannels, 1, 1))
		e.output("log_sigma", e.conv(h, c.LatentChannels, 1, 1))
		a.Encoder = e.g
		// Decoder: the mirror image with nearest upsampling.
		d := newBuilder(c.Groups, Input{"z", a.LatentShape})
		w = c.Width
		if c.Down > 0 {
			w = c.Width * 2
		}
		h = d.res(d.conv("z", w, 3, 1), w, "")
		for i := 0; i < c.Down; i++ {
			h = d.node(Node{Op: "upsample", In: []string{h}, Factor: 2}, w)
			if i < c.Down-1 {
				h = d.res(d.conv(h, w, 3, 1), w, "")
			} else { // full resolution: one conv, as in the encoder
				w = c.Width
				h = d.conv(h, w, 3, 1)
			}
		}
		h = d.normAct(h)
		switch c.Likelihood {
		case "bernoulli":
			d.output("logits", d.conv(h, C, 3, 1))
		case "logistic":
			d.output("mean", d.conv(h, C, 3, 1))
			d.output("log_scale", d.conv(h, C, 3, 1))
		default:
			return nil, fmt.Errorf("weights: unknown likelihood %q", c.Likelihood)
		}
		a.Decoder = d.g
	}
	// Score U-Net over the latent, conditioned on t (and the class).
	s := newBuilder(c.Groups, scoreInputs(a)...)
	te := s.node(Node{Op: "timeembed", In: []string{"t"}, Dim: c.TimeDim, Scale: 1000}, c.TimeDim)
	te = s.node(Node{Op: "linear", In: []string{te}, Out: 4 * c.ScoreWidth}, 4*c.ScoreWidth)
	te = s.node(Node{Op: "silu", In: []string{te}}, 4*c.ScoreWidth)
	te = s.node(Node{Op: "linear", In: []string{te}, Out: 4 * c.ScoreWidth}, 4*c.ScoreWidth)
	te = s.classEmbed(a, te)
	h := s.conv("z", c.ScoreWidth, 3, 1)
	lh, lw := a.LatentShape[1], a.LatentShape[2]
	var skips []string
	for l, m := range c.ScoreMult {
		for k := 0; k < c.ScoreBlocks; k++ {
			h = s.res(h, c.ScoreWidth*m, te)
		}
		skips = append(skips, h)
		if l < len(c.ScoreMult)-1 {
			if lh%2 != 0 || lw%2 != 0 {
				return nil, fmt.Errorf("weights: score U-Net level %d has odd size %dx%d; use fewer levels", l, lh, lw)
			}
			lh, lw = lh/2, lw/2
			h = s.conv(h, s.ch[h], 3, 2)
		}
	}
	h = s.res(h, s.ch[h], te)
	for l := len(c.ScoreMult) - 1; l >= 0; l-- {
		if l < len(c.ScoreMult)-1 {
			h = s.node(Node{Op: "upsample", In: []string{h}, Factor: 2}, s.ch[h])
		}
		h = s.node(Node{Op: "concat", In: []string{h, skips[l]}}, s.ch[h]+s.ch[skips[l]])
		h = s.res(h, c.ScoreWidth*c.ScoreMult[l], te)
	}
	s.output("eps", s.conv(s.normAct(h), a.LatentShape[0], 3, 1))
	return a.finish(s.g, c.Mix)
}

// scoreInputs are the score network's inputs: z, t, and y for a
// class-conditional model.
func scoreInputs(a *Arch) []Input {
	ins := []Input{{"z", a.LatentShape}, {"t", []int{1}}}
	if len(a.Classes) > 0 {
		ins = append(ins, Input{"y", []int{len(a.Classes) + 1}})
	}
	return ins
}

// classEmbed adds the class embedding (a linear map of y) to the time
// embedding te of a class-conditional model; otherwise it returns te.
func (b *builder) classEmbed(a *Arch, te string) string {
	if len(a.Classes) == 0 {
		return te
	}
	ye := b.node(Node{Op: "linear", In: []string{"y"}, Out: b.ch[te]}, b.ch[te])
	return b.add(te, ye)
}

// finish installs the score network and the mixing logit, and checks the
// whole architecture.
func (a *Arch) finish(score *Graph, mix bool) (*Arch, error) {
	a.Score = *score
	if mix {
		a.MixLogit = "score/mix_logit"
	}
	if _, err := a.Params(); err != nil {
		return nil, err
	}
	return a, nil
}

// Random initializes every tensor of an architecture deterministically from
// seed: weights ~ N(0, 1/fan_in), biases and norm shifts small, norm scales
// near 1, mixing logits near 0. It makes test fixtures, never trained models.
func Random(a *Arch, seed uint64) (*File, error) {
	specs, err := a.Params()
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x6c73676d))
	f := &File{Arch: *a, Provenance: Provenance{Dataset: "none", Command: fmt.Sprintf("weights.Random(seed=%d)", seed), Notes: "randomly initialized: a fixture, not a trained model"}}
	for _, s := range specs {
		t := Tensor{Name: s.Name, Shape: s.Shape, Data: make([]float32, numel(s.Shape))}
		fan := 1
		for _, d := range s.Shape[1:] {
			fan *= d
		}
		for i := range t.Data {
			switch {
			case len(s.Shape) >= 2: // linear or conv weight
				t.Data[i] = float32(r.NormFloat64() / math.Sqrt(float64(fan)))
			case s.Name == a.MixLogit:
				t.Data[i] = float32(0.5 * r.NormFloat64())
			case len(s.Name) > 7 && s.Name[len(s.Name)-7:] == ".weight": // norm scale
				t.Data[i] = float32(1 + 0.1*r.NormFloat64())
			default:
				t.Data[i] = float32(0.1 * r.NormFloat64())
			}
		}
		f.Tensors = append(f.Tensors, t)
	}
	return f, nil
}

// TinyConfig is the fixture model: Fashion-MNIST-shaped data, a 2x7x7 latent
// and narrow networks, so tests run in milliseconds.
func TinyConfig() NetConfig {
	return NetConfig{
		Name: "tiny-fixture", DataShape: []int{1, 28, 28}, Likelihood: "bernoulli",
		LatentChannels: 2, Down: 2, Width: 8, ScoreWidth: 8, ScoreMult: []int{1}, ScoreBlocks: 1,
		TimeDim: 16, Groups: 4, SDE: SDESpec{Kind: "geometric_vpsde"}, Mix: true,
		Sampling: SamplingDefaults{Sampler: "dpmpp2m", NFE: 10, EndTime: 1e-3},
	}
}

// DefaultConfig is the shipped Fashion-MNIST model's network: 0.51M
// parameters, 2.0 MB of f32 weights, small enough for a web page. Its
// Likelihood is trainer fit's --likelihood (the shipped model: logistic).
func DefaultConfig() NetConfig {
	return NetConfig{
		Name: "lsgm-fmnist", DataShape: []int{1, 28, 28}, Likelihood: "bernoulli",
		LatentChannels: 4, Down: 2, Width: 16, ScoreWidth: 64, ScoreMult: []int{1}, ScoreBlocks: 1,
		TimeDim: 64, Groups: 8, SDE: SDESpec{Kind: "geometric_vpsde"}, Mix: true,
		Sampling: SamplingDefaults{Sampler: "dpmpp2m", NFE: 10, EndTime: 1e-3},
	}
}

// BaselineConfig sizes the data-space score model (no VAE) that LSGM is
// compared with: its U-Net downsamples the 28x28 images twice, so it runs
// its widest blocks at the 7x7 of the default model's latent.
func BaselineConfig() NetConfig {
	c := DefaultConfig()
	c.Name, c.Likelihood, c.Mix = "sgm-fmnist", "none", false
	c.ScoreWidth, c.ScoreMult = 16, []int{1, 2, 4}
	return c
}

// mlpArch composes MLPs for points ([C, 1, 1] data such as the 2-D toy sets):
// encoder and decoder with two hidden layers of Width, a latent of
// LatentChannels, and a score network of ScoreBlocks residual blocks of
// ScoreWidth with the time embedding added inside each block.
func mlpArch(a *Arch, c NetConfig) (*Arch, error) {
	C := c.DataShape[0]
	flat := func(b *builder, x string, n int) string {
		return b.node(Node{Op: "reshape", In: []string{x}, Shape: []int{n}}, n)
	}
	point := func(b *builder, x string, n int) string {
		return b.node(Node{Op: "reshape", In: []string{x}, Shape: []int{n, 1, 1}}, n)
	}
	lin := func(b *builder, x string, out int) string {
		return b.node(Node{Op: "linear", In: []string{x}, Out: out}, out)
	}
	silu := func(b *builder, x string) string { return b.node(Node{Op: "silu", In: []string{x}}, b.ch[x]) }
	hidden := func(b *builder, x string) string {
		return silu(b, lin(b, silu(b, lin(b, x, c.Width)), c.Width))
	}
	if c.Likelihood == "none" {
		a.LatentShape = c.DataShape
	} else {
		L := c.LatentChannels
		if L < 1 {
			return nil, fmt.Errorf("weights: no latent channels")
		}
		a.LatentShape = []int{L, 1, 1}
		e := newBuilder(c.Groups, Input{"x", c.DataShape})
		h := hidden(e, flat(e, "x", C))
		e.output("mu", point(e, lin(e, h, L), L))
		e.output("log_sigma", point(e, lin(e, h, L), L))
		a.Encoder = e.g
		d := newBuilder(c.Groups, Input{"z", a.LatentShape})
		h = hidden(d, flat(d, "z", L))
		switch c.Likelihood {
		case "bernoulli":
			d.output("logits", point(d, lin(d, h, C), C))
		case "logistic":
			d.output("mean", point(d, lin(d, h, C), C))
			d.output("log_scale", point(d, lin(d, h, C), C))
		default:
			return nil, fmt.Errorf("weights: unknown likelihood %q", c.Likelihood)
		}
		a.Decoder = d.g
	}
	D := a.LatentShape[0]
	s := newBuilder(c.Groups, scoreInputs(a)...)
	te := s.node(Node{Op: "timeembed", In: []string{"t"}, Dim: c.TimeDim, Scale: 1000}, c.TimeDim)
	te = s.classEmbed(a, silu(s, lin(s, te, c.ScoreWidth)))
	h := lin(s, flat(s, "z", D), c.ScoreWidth)
	for k := 0; k < c.ScoreBlocks; k++ {
		r := s.add(lin(s, silu(s, h), c.ScoreWidth), lin(s, te, c.ScoreWidth))
		h = s.add(h, lin(s, silu(s, r), c.ScoreWidth))
	}
	s.output("eps", point(s, lin(s, silu(s, h), D), D))
	return a.finish(s.g, c.Mix)
}

// ToyConfig sizes the MLPs for the 2-D toy sets (data [2, 1, 1]).
func ToyConfig() NetConfig {
	return NetConfig{
		Name: "lsgm-toy", DataShape: []int{2, 1, 1}, Likelihood: "logistic",
		LatentChannels: 2, Width: 128, ScoreWidth: 128, ScoreMult: []int{1}, ScoreBlocks: 3,
		TimeDim: 32, Groups: 1, SDE: SDESpec{Kind: "geometric_vpsde"}, Mix: true,
		Sampling: SamplingDefaults{Sampler: "dpmpp2m", NFE: 10, EndTime: 1e-3},
	}
}
