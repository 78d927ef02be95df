package lsgm

import (
	"errors"
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/trainer/gpugraph"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// Stage selects the loss graph.
type Stage int

const (
	// StageVAE is LSGM's stage 1: the VAE with a N(0, I) prior and a KL
	// coefficient Beta (warm-up).
	StageVAE Stage = iota
	// StageJoint is stage 2: VAE and latent SGM end to end, the cross entropy
	// estimated by denoising score matching on ll-weighted draws of t. The
	// prior gets its gradient here too when its scheme is ll-weighted.
	StageJoint
	// StageEval is StageVAE's forward pass without the KL or gradients:
	// reconstruction, entropy and a posterior sample, for evaluation.
	StageEval
	// StagePrior trains the SGM alone on given latents z0 with the scheme's
	// weighting: stage 2's second graph when the prior's weighting differs
	// from the VAE's, and the whole model without a VAE.
	StagePrior
)

// Graph is one loss for a fixed batch: its inputs are host slices written
// before each Run, its parameters are the model's master slices (shared, so
// an optimizer step is seen by every graph).
type Graph struct {
	Stage Stage
	Batch int
	Wrt   []string // parameters it differentiates

	g      *G.ExprGraph
	vm     G.VM
	params *nn.Params
	times  []nn.TimeInput

	// Inputs (nil where the stage has none).
	X, N0, N1, Mt, St, Ct, W []float32
	T                        []float32 // [Batch] diffusion times, for the embeddings
	// Z0 is StagePrior's latent input; in StageJoint it is the sampled latent
	// after Run (for a following StagePrior graph).
	Z0 []float32
	// Y is a class-conditional score network's class input, [Batch,
	// classes + 1] one-hot rows (the last slot: no class); nil otherwise.
	// It starts as "no class".
	Y []float32

	// Scalars after Run (batch means, nats per image).
	recon, negH, kl, ce, cost *G.Node
	z0, mu, logSigma          *G.Node
	beta                      *G.Node
	nll                       *G.Node   // StageEval: -log p(x|z0) per pixel, for per-image values
	grads                     []*G.Node // the gradient nodes of Wrt

	latent []int   // one latent's shape
	dev    *onGPU  // set by UseGPU: Run executes the graph there
	device *Device // set by UseDevice: Device.Step runs the graph
	xin    *G.Node // the images
	z0in   *G.Node // StagePrior's latent input
	n0in   *G.Node // the posterior sample's noise
	n1in   *G.Node // the diffusion noise
	yin    *G.Node // the class input
	// the time inputs: m_t, sigma_t, c_t (nil without a mixed score), weights
	mtin, stin, ctin, win *G.Node
}

// onGPU is a Graph compiled for a GPU, with the host copies of what its
// last Run read back.
type onGPU struct {
	e     *gpugraph.Exec
	outs  []*G.Node
	host  map[*G.Node][]float32
	grads map[string][]float32
}

// UseGPU compiles the graph for d: from then on Run executes the forward
// pass, the loss and the gradients there as one submission (uploading the
// parameters and inputs first, reading the values and gradients back after).
func (gr *Graph) UseGPU(d *gpu.Device) error { return gr.useGPU(d, nil) }

func (gr *Graph) useGPU(d *gpu.Device, place map[*G.Node]*gpu.Buffer) error {
	var outs []*G.Node
	for _, n := range []*G.Node{gr.recon, gr.negH, gr.kl, gr.ce, gr.cost, gr.z0, gr.mu, gr.logSigma, gr.nll} {
		if n != nil {
			outs = append(outs, n)
		}
	}
	outs = append(outs, gr.grads...)
	e, err := gpugraph.Compile(d, gr.g, outs, place)
	var se *gpu.SizeError
	if errors.As(err, &se) {
		// Every large buffer grows with the batch: this one alone bounds it.
		return fmt.Errorf("lsgm: at batch %d the stage %d graph needs a buffer of %d MB, over the adapter's %d MB binding limit: the largest batch that fits is at most %d",
			gr.Batch, gr.Stage, se.Bytes>>20, se.Limit>>20, LargestBatch(gr.Batch, se.Bytes, se.Limit))
	}
	if err != nil {
		return fmt.Errorf("lsgm: compiling the stage %d graph for the GPU: %w", gr.Stage, err)
	}
	if gr.dev != nil {
		gr.dev.e.Release()
	}
	gr.dev = &onGPU{e: e, outs: outs, host: map[*G.Node][]float32{}, grads: map[string][]float32{}}
	return nil
}

// LargestBatch bounds the batch whose buffers fit a binding limit, given
// that a buffer of bytes at batch b (growing in proportion) did not.
func LargestBatch(b int, bytes, limit uint64) int {
	return int(uint64(b) * limit / bytes)
}

// GPUStats reports the compiled graph's kernel launches per Run and the
// device memory it holds (0, 0 on the CPU).
func (gr *Graph) GPUStats() (launches int, bytes int64) {
	if gr.dev == nil {
		return 0, 0
	}
	return gr.dev.e.Launches(), gr.dev.e.Bytes()
}

// value is node n's value after Run, on either executor.
func (gr *Graph) value(n *G.Node) []float32 {
	if gr.dev != nil {
		return gr.dev.host[n]
	}
	switch d := n.Value().Data().(type) {
	case []float32:
		return d
	case float32:
		return []float32{d}
	}
	return nil
}

func (gr *Graph) runGPU() error {
	gr.FillInputs()
	g := gr.dev
	if err := g.e.Sync(); err != nil {
		return err
	}
	data, err := g.e.Run(g.outs...)
	if err != nil {
		return err
	}
	for i, n := range g.outs {
		g.host[n] = data[i]
	}
	for i, name := range gr.Wrt {
		g.grads[name] = g.host[gr.grads[i]]
	}
	return nil
}

// SetBeta sets StageVAE's KL coefficient.
func (gr *Graph) SetBeta(b float64) error {
	if gr.beta == nil {
		return fmt.Errorf("lsgm: stage %d has no KL coefficient", gr.Stage)
	}
	return G.Let(gr.beta, float32(b))
}

// Values of the scalars after Run. CE excludes the constants (see Model.CEConst).
type Values struct {
	Recon, NegEntropy, KL, CE, Cost float64
}

// ClassInput makes a score network's class input for a batch of B and k
// classes, set to "no class" (the last of k + 1 slots) in every row.
func ClassInput(g *G.ExprGraph, B, k int) (*G.Node, []float32) {
	n, y := newInput(g, "y", B, k+1)
	for i := 0; i < B; i++ {
		y[i*(k+1)+k] = 1
	}
	return n, y
}

func newInput(g *G.ExprGraph, name string, shape ...int) (*G.Node, []float32) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v)), data
}

// IsVAEParam tells the VAE's tensors from the prior's.
func IsVAEParam(name string) bool {
	return strings.HasPrefix(name, "encoder/") || strings.HasPrefix(name, "decoder/")
}

// NewGraph builds the loss of stage for batch B over the tensors of f, whose
// Data slices become the graph's live parameters. priorGrad says whether
// StageJoint also differentiates the prior (ll-weighted scheme).
func NewGraph(f *weights.File, s Stage, B int, priorGrad bool) (*Graph, error) {
	a := &f.Arch
	if s != StagePrior && a.Likelihood == "none" {
		return nil, fmt.Errorf("lsgm: stage %d needs a VAE; this model has likelihood %q", s, a.Likelihood)
	}
	gr := &Graph{Stage: s, Batch: B, g: G.NewGraph()}
	g := gr.g
	var err error
	if gr.params, err = nn.NewParams(g, f, nil); err != nil {
		return nil, err
	}
	for _, name := range gr.params.Names {
		vae := IsVAEParam(name)
		if s == StageVAE && vae || s == StageJoint && (vae || priorGrad) || s == StagePrior && !vae {
			gr.Wrt = append(gr.Wrt, name)
		}
	}
	lat := append([]int{B}, a.LatentShape...)
	gr.latent = a.LatentShape
	col := []int{B, 1, 1, 1}
	invB := G.NewConstant(float32(1 / float64(B)))
	sum := func(n *G.Node) *G.Node { return G.Must(G.Mul(G.Must(G.Sum(n)), invB)) }

	var z0 *G.Node
	var costs []*G.Node
	if s != StagePrior {
		var x *G.Node
		x, gr.X = newInput(g, "x", append([]int{B}, a.DataShape...)...)
		gr.xin = x
		enc, err := nn.Build(g, a.Encoder, "encoder", B, map[string]*G.Node{"x": x}, gr.params)
		if err != nil {
			return nil, err
		}
		gr.mu, gr.logSigma = enc.Outputs["mu"], enc.Outputs["log_sigma"]
		var n0 *G.Node
		n0, gr.N0 = newInput(g, "n0", lat...)
		gr.n0in = n0
		z0 = G.Must(G.Add(gr.mu, G.Must(G.HadamardProd(G.Must(G.Exp(gr.logSigma)), n0))))
		gr.z0 = z0
		gr.Z0 = make([]float32, weights.Numel(lat))
		dec, err := nn.Build(g, a.Decoder, "decoder", B, map[string]*G.Node{"z": z0}, gr.params)
		if err != nil {
			return nil, err
		}
		var nll *G.Node
		if a.Likelihood == "bernoulli" {
			nll, err = nn.BernoulliNLL(dec.Outputs["logits"], x)
		} else {
			nll, err = nn.LogisticNLL(dec.Outputs["mean"], dec.Outputs["log_scale"], x)
		}
		if err != nil {
			return nil, err
		}
		gr.recon = sum(nll)
		gr.negH = G.Must(G.Neg(sum(gr.logSigma))) // plus -D/2 log(2 pi e), added on the host
		costs = append(costs, gr.recon)
		if s == StageEval {
			costs = append(costs, gr.negH)
			gr.nll = nll
		}
		if s == StageVAE {
			// KL(q || N(0, I)) = sum 0.5 (mu^2 + sigma^2 - 1) - log sigma
			sq := G.Must(G.Add(G.Must(G.Square(gr.mu)), G.Must(G.Exp(G.Must(G.Mul(gr.logSigma, G.NewConstant(float32(2))))))))
			kl := G.Must(G.Sub(G.Must(G.Mul(sum(sq), G.NewConstant(float32(0.5)))), sum(gr.logSigma)))
			gr.kl = G.Must(G.Sub(kl, G.NewConstant(float32(0.5*float64(weights.Numel(a.LatentShape))))))
			gr.beta = G.NewScalar(g, G.Float32, G.WithName("beta"), G.WithValue(float32(1)))
			costs = append(costs, G.Must(G.Mul(gr.beta, gr.kl)))
		}
	} else {
		z0, gr.Z0 = newInput(g, "z0", lat...)
		gr.z0in = z0
	}
	if s != StageVAE && s != StageEval {
		var n1, mt, st, w *G.Node
		n1, gr.N1 = newInput(g, "n1", lat...)
		gr.n1in = n1
		mt, gr.Mt = newInput(g, "mt", col...)
		st, gr.St = newInput(g, "st", col...)
		w, gr.W = newInput(g, "w", B)
		gr.mtin, gr.stin, gr.win = mt, st, w
		gr.T = make([]float32, B)
		zt := G.Must(G.Add(G.Must(nn.BroadcastMul(z0, mt)), G.Must(nn.BroadcastMul(n1, st))))
		tn, _ := newInput(g, "t", B, 1)
		ins := map[string]*G.Node{"z": zt, "t": tn}
		if k := len(a.Classes); k > 0 {
			ins["y"], gr.Y = ClassInput(g, B, k)
			gr.yin = ins["y"]
		}
		sc, err := nn.Build(g, &a.Score, "score", B, ins, gr.params)
		if err != nil {
			return nil, err
		}
		gr.times = sc.Times
		eps := sc.Outputs["eps"]
		if a.MixLogit != "" {
			// eps = k zt + c (eps' - k zt), c = sigmoid(a), k = sigma/(m^2 + sigma^2)
			var ct *G.Node
			ct, gr.Ct = newInput(g, "ct", col...)
			gr.ctin = ct
			kz := G.Must(nn.BroadcastMul(zt, ct))
			c := G.Must(G.Sigmoid(gr.params.Nodes[a.MixLogit]))
			c = G.Must(G.Reshape(c, append(tensor.Shape{1}, a.LatentShape...)))
			eps = G.Must(G.Add(kz, G.Must(nn.BroadcastMul(G.Must(G.Sub(eps, kz)), c))))
		}
		res := G.Must(G.Square(G.Must(G.Sub(n1, eps))))
		per := G.Must(G.Sum(G.Must(G.Reshape(res, tensor.Shape{B, weights.Numel(a.LatentShape)})), 1))
		gr.ce = sum(G.Must(G.HadamardProd(per, w)))
		costs = append(costs, gr.ce)
		if s == StageJoint {
			costs = append(costs, gr.negH)
		}
	}
	gr.cost = costs[0]
	for _, c := range costs[1:] {
		gr.cost = G.Must(G.Add(gr.cost, c))
	}
	cost := gr.cost
	// Read every reported value through a tap (see nn.Tap).
	for _, n := range []**G.Node{&gr.recon, &gr.negH, &gr.kl, &gr.ce, &gr.cost, &gr.z0, &gr.mu, &gr.logSigma, &gr.nll} {
		if *n != nil {
			if *n, err = nn.Tap(*n); err != nil {
				return nil, err
			}
		}
	}
	wrt := make([]*G.Node, len(gr.Wrt))
	for i, n := range gr.Wrt {
		wrt[i] = gr.params.Nodes[n]
	}
	if s != StageEval {
		if gr.grads, err = G.Grad(cost, wrt...); err != nil {
			return nil, fmt.Errorf("lsgm: differentiating the stage %d loss: %w", s, err)
		}
	} else {
		gr.Wrt = nil
	}
	gr.vm = G.NewTapeMachine(g)
	return gr, nil
}

// SetTimes writes the per-sample times t and fills Mt, St, Ct from the SDE.
func (gr *Graph) SetTimes(s sde.SDE, ts []float64) {
	for i, t := range ts {
		m, v := s.Mean(t), s.Var(t)
		gr.T[i] = float32(t)
		gr.Mt[i], gr.St[i] = float32(m), float32(math.Sqrt(v))
		if gr.Ct != nil {
			gr.Ct[i] = float32(math.Sqrt(v) / (m*m + v))
		}
	}
}

// DrawTimes draws the graph's diffusion times and weights for step with
// ts from Philox stream stream, as a device step draws them
// (runtime.TimeSampler.Fill).
func (gr *Graph) DrawTimes(ts *runtime.TimeSampler, seed uint64, step int, stream rng.Stream) {
	b := gr.Batch
	out := make([]float32, runtime.TimeParts*b)
	ts.Fill(out, b, seed, step, stream)
	for k, dst := range [][]float32{gr.T, gr.W, gr.Mt, gr.St, gr.Ct} {
		if dst != nil {
			copy(dst, out[k*b:(k+1)*b])
		}
	}
}

// Expr is the differentiated expression graph, for executors other than
// gorgonia's tape machine (the GPU trainer). Its input nodes hold the
// parameters and, after FillInputs, the inputs.
func (gr *Graph) Expr() *G.ExprGraph { return gr.g }

// ValueNodes are the nodes of Values' fields in order (Recon, NegEntropy,
// KL, CE, Cost), nil where the stage has none.
func (gr *Graph) ValueNodes() []*G.Node { return []*G.Node{gr.recon, gr.negH, gr.kl, gr.ce, gr.cost} }

// GradNodes are the gradient nodes of Wrt, in order.
func (gr *Graph) GradNodes() []*G.Node { return gr.grads }

// The Philox streams of a training step's noise (runtime/rng): each
// graph's two noise inputs draw from base and base + 1, keyed by the run's
// seed, the step and the sample's place in the batch, so the CPU and the
// GPU (Device.Step draws them there) see the same noise.
const (
	NoiseMain   rng.Stream = 100 // the step's graph
	NoisePrior  rng.Stream = 102 // the prior's own graph on its latents
	NoiseImages rng.Stream = 104 // binarization or dequantization of the images
	TimesMain   rng.Stream = 106 // the step's graph's diffusion times
	TimesPrior  rng.Stream = 107 // the prior's own graph's
)

// images is the graph's image input: X, or a data-space model's Z0.
func (gr *Graph) images() (*G.Node, []float32) {
	if gr.xin != nil {
		return gr.xin, gr.X
	}
	return gr.z0in, gr.Z0
}

// FillImages writes the batch idx of a dataset's bytes (d an image) into
// the graph's image input, as the device does (runtime.TrainImages).
func (gr *Graph) FillImages(data []byte, d int, idx []int, mode runtime.ImageMode, seed uint64, step int) {
	_, x := gr.images()
	runtime.TrainImages(x, data, idx, d, mode, seed, step, NoiseImages)
}

// DrawNoise fills the noise inputs N0 and N1 for step from streams base
// and base + 1.
func (gr *Graph) DrawNoise(seed uint64, step int, base rng.Stream) {
	d := weights.Numel(gr.latent)
	src := rng.Source{Seed: seed, Dim: d}
	if gr.N0 != nil {
		src.Fill(gr.N0, step, base)
	}
	if gr.N1 != nil {
		src.Fill(gr.N1, step, base+1)
	}
}

// FillInputs computes the inputs derived on the host (the time embeddings
// of T) into their nodes; Run does it itself.
func (gr *Graph) FillInputs() { nn.FillTimes(gr.times, gr.T) }

// Run evaluates the loss and the gradients of Wrt.
func (gr *Graph) Run() (Values, error) {
	if gr.device != nil {
		return Values{}, fmt.Errorf("lsgm: the stage %d graph keeps its parameters on the GPU: run it with Device.Step", gr.Stage)
	}
	if gr.dev != nil {
		if err := gr.runGPU(); err != nil {
			return Values{}, fmt.Errorf("lsgm: running the stage %d graph on the GPU: %w", gr.Stage, err)
		}
	} else {
		gr.FillInputs()
		gr.vm.Reset()
		if err := gr.vm.RunAll(); err != nil {
			return Values{}, fmt.Errorf("lsgm: running the stage %d graph: %w", gr.Stage, err)
		}
	}
	scalar := func(n *G.Node) float64 {
		if n == nil {
			return 0
		}
		return float64(gr.value(n)[0])
	}
	if (gr.Stage == StageJoint || gr.Stage == StageEval) && gr.Z0 != nil {
		copy(gr.Z0, gr.value(gr.z0))
	}
	return Values{Recon: scalar(gr.recon), NegEntropy: scalar(gr.negH), KL: scalar(gr.kl), CE: scalar(gr.ce), Cost: scalar(gr.cost)}, nil
}

// Grad returns the live gradient of parameter name after Run.
func (gr *Graph) Grad(name string) ([]float32, error) {
	if gr.dev != nil {
		g, ok := gr.dev.grads[name]
		if !ok {
			return nil, fmt.Errorf("lsgm: no gradient of %q after the GPU run", name)
		}
		return g, nil
	}
	v, err := gr.params.Nodes[name].Grad()
	if err != nil {
		return nil, err
	}
	return v.Data().([]float32), nil
}

// Posterior returns the encoder's mu and log sigma after Run (StageJoint, StageVAE).
func (gr *Graph) Posterior() (mu, logSigma []float32) {
	return gr.value(gr.mu), gr.value(gr.logSigma)
}

// PerImage returns StageEval's terms per image after Run: the
// reconstruction -log p(x|z0) and -sum log sigma (the negative entropy
// without its -D/2 log(2 pi e)), whose batch means are Values' Recon and
// NegEntropy. Standard errors need them: batch means hide the spread.
func (gr *Graph) PerImage() (recon, negH []float64, err error) {
	if gr.nll == nil {
		return nil, nil, fmt.Errorf("lsgm: per-image terms exist in the eval stage only, not stage %d", gr.Stage)
	}
	B := gr.Batch
	nll := gr.value(gr.nll)
	ls := gr.value(gr.logSigma)
	recon, negH = make([]float64, B), make([]float64, B)
	for i := 0; i < B; i++ {
		for _, v := range nll[i*len(nll)/B : (i+1)*len(nll)/B] {
			recon[i] += float64(v)
		}
		for _, v := range ls[i*len(ls)/B : (i+1)*len(ls)/B] {
			negH[i] -= float64(v)
		}
	}
	return recon, negH, nil
}

// Close releases the tape machine and any GPU buffers.
func (gr *Graph) Close() {
	gr.vm.Close()
	if gr.dev != nil {
		gr.dev.e.Release()
		gr.dev = nil
	}
}

// CEConst is the cross entropy's part that the denoising loss leaves out,
// per image of a batch with posterior (mu, logSigma) (lsgm-math.md 1): the
// entropy of the diffusion kernel at the smallest time,
// D/2 log(2 pi e var(eps)), plus the t = 1 boundary term
// CE(q(z1|x) || N(0, P^2)) - H(q(z1|z0)), with P^2 = m1^2 + var(1) the
// samplers' prior. LSGM drops the boundary term; it is about 1e-3 nats a
// dimension here, and keeping it makes the estimate exact (tested).
func CEConst(s sde.SDE, timeEps float64, mu, logSigma []float32, batch int) float64 {
	var sum float64
	for i := range mu {
		sum += float64(mu[i])*float64(mu[i]) + math.Exp(2*float64(logSigma[i]))
	}
	return CEConstSum(s, timeEps, sum, len(mu), batch)
}

// CEConstSum is CEConst from the posterior's one statistic it depends on,
// sum = the sum over the batch's n latent elements of mu^2 + sigma^2 (which
// a device step computes where the posterior is).
func CEConstSum(s sde.SDE, timeEps, sum float64, n, batch int) float64 {
	d := float64(n / batch)
	c := d / 2 * math.Log(2*math.Pi*math.E*s.Var(timeEps))
	m1, v1 := s.Mean(1), s.Var(1)
	p2 := m1*m1 + v1
	b := float64(n)*(0.5*math.Log(2*math.Pi*p2)+v1/(2*p2)) + m1*m1*sum/(2*p2)
	return c + b/float64(batch) - d/2*math.Log(2*math.Pi*math.E*v1)
}
