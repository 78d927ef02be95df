package lsgm

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/weights"
)

// Device keeps a model's training state on a GPU: the parameters, their
// gradients, both optimizers' moments and the EMA, each one flat buffer
// with every tensor at a gpu.SliceAlign-aligned offset, the VAE's tensors
// first (optimizer group 0) and the prior's after (group 1). A training step
// (Step) is then one submission: the graph's forward and backward passes,
// the gradient norms with the non-finite guard, both Adam updates and the
// EMA, with one small readback (the loss parts, the norms, the flag). The
// host's copies are brought up to date by Download, for checkpoints.
type Device struct {
	D *gpu.Device

	names      []string
	off, size  map[string]int
	split, len int // the prior group's first offset; the layout's length

	p, g, m, v, e       *gpu.Buffer
	parts, state, rates *gpu.Buffer
	counters, vals      *gpu.Buffer              // runtime.Count*; a step's StepValues
	opt                 map[[2]bool]*gpu.Program // by (VAE steps, prior steps)
	hyperv              Hyperparams

	data, idx *gpu.Buffer // the dataset's bytes and a batch's indices (SetData)
	dataD     int         // bytes an image
	poison    bool        // PoisonNext

	times  map[*Graph]*gpu.Buffer               // a graph's drawn times (Program.Times)
	tables map[*runtime.TimeSampler]*gpu.Buffer // a sampler's table
}

// PoisonNext makes the next Step's first image value NaN on the device, so
// tests can see the device's non-finite guard skip a step.
func (dv *Device) PoisonNext() { dv.poison = true }

// SetData uploads a dataset's pixels (d bytes an image) once, for Step to
// gather each batch from on the device.
func (dv *Device) SetData(pixels []byte, d, batch int) error {
	data, err := dv.D.NewBytes(pixels)
	if err != nil {
		return fmt.Errorf("lsgm: the dataset on the GPU: %w", err)
	}
	idx, err := dv.D.NewBuffer(batch, nil)
	if err != nil {
		data.Release()
		return err
	}
	dv.data, dv.idx, dv.dataD = data, idx, d
	return nil
}

// StepIn keys a device step's random inputs: the run's seed and the step
// (the noise), and, when SetData was called, the batch's image indices and
// their scale (else the graphs' image inputs are uploaded from the host).
type StepIn struct {
	Seed  uint64
	Step  int
	Batch []int
	Mode  runtime.ImageMode
	Read  bool // read the step's values back (Step's result); else Stats reads them
	// The time samplers of the step's graph and of the prior's own graph
	// (where a graph has diffusion times).
	Times, PriorTimes *runtime.TimeSampler
}

// Hyperparams are the optimizers' settings the device programs bake in:
// both optimizers' shared constants, their learning rates, and the warm-up.
type Hyperparams struct {
	Beta1, Beta2, Eps, Clip float64
	Max                     bool
	LRVAE, LRPrior          float64
	Warmup                  int
}

// NewDevice lays out f's tensors on d.
func NewDevice(d *gpu.Device, f *weights.File, h Hyperparams) (*Device, error) {
	dv := &Device{D: d, off: map[string]int{}, size: map[string]int{}, opt: map[[2]bool]*gpu.Program{}, hyperv: h}
	at := 0
	for _, vae := range []bool{true, false} {
		if !vae {
			dv.split = at
		}
		for _, t := range f.Tensors {
			if IsVAEParam(t.Name) != vae {
				continue
			}
			dv.names = append(dv.names, t.Name)
			dv.off[t.Name], dv.size[t.Name] = at, len(t.Data)
			at += (len(t.Data) + gpu.SliceAlign - 1) / gpu.SliceAlign * gpu.SliceAlign
		}
	}
	dv.len = max(at, gpu.SliceAlign)
	var err error
	for _, b := range []**gpu.Buffer{&dv.p, &dv.g, &dv.m, &dv.v, &dv.e} {
		if *b, err = d.NewBuffer(dv.len, make([]float32, dv.len)); err != nil {
			dv.Release()
			return nil, err
		}
	}
	for _, b := range []struct {
		p *(*gpu.Buffer)
		n int
	}{{&dv.parts, 2 * gpu.NormParts}, {&dv.state, gpu.StateLen(2)}, {&dv.rates, 2}, {&dv.counters, runtime.CountersLen}, {&dv.vals, runtime.StepValues}} {
		if *b.p, err = d.NewBuffer(b.n, make([]float32, b.n)); err != nil {
			dv.Release()
			return nil, err
		}
	}
	return dv, nil
}

// Release frees the device buffers and programs.
func (dv *Device) Release() {
	for _, p := range dv.opt {
		p.Release()
	}
	for _, b := range []*gpu.Buffer{dv.p, dv.g, dv.m, dv.v, dv.e, dv.parts, dv.state, dv.rates, dv.counters, dv.vals, dv.data, dv.idx} {
		b.Release()
	}
	for _, b := range dv.times {
		b.Release()
	}
	for _, b := range dv.tables {
		b.Release()
	}
}

// Bytes is the device memory of the training state.
func (dv *Device) Bytes() int64 { return int64(4 * (5*dv.len + 2*gpu.NormParts)) }

func (dv *Device) slice(b *gpu.Buffer, name string) *gpu.Buffer {
	s, _ := b.Slice(dv.off[name], dv.size[name])
	return s
}

// scatter writes the flat layout's values into a map of tensors.
func (dv *Device) scatter(flat []float32, into map[string][]float32, keep func(string) bool) {
	for _, n := range dv.names {
		if keep != nil && !keep(n) {
			continue
		}
		if into[n] == nil {
			into[n] = make([]float32, dv.size[n])
		}
		copy(into[n], flat[dv.off[n]:dv.off[n]+dv.size[n]])
	}
}

// gather lays a map of tensors out flat (absent tensors as zeros).
func (dv *Device) gather(from map[string][]float32) []float32 {
	flat := make([]float32, dv.len)
	for _, n := range dv.names {
		copy(flat[dv.off[n]:], from[n])
	}
	return flat
}

// Upload copies the host's training state to the device: parameters, the
// optimizers' moments (zero where an optimizer has not stepped) and step
// counts, the skipped steps so far, and the EMA.
func (dv *Device) Upload(params map[string][]float32, vae, prior *Adam, ema *EMA, skipped int) error {
	c := make([]float32, runtime.CountersLen)
	c[runtime.CountT], c[runtime.CountT+1], c[runtime.CountSkipped] = float32(vae.T), float32(prior.T), float32(skipped)
	if err := dv.D.Write(dv.counters, c); err != nil {
		return err
	}
	m, v := map[string][]float32{}, map[string][]float32{}
	for _, o := range []*Adam{vae, prior} {
		for n, x := range o.M {
			m[n] = x
		}
		for n, x := range o.V {
			v[n] = x
		}
	}
	for _, w := range []struct {
		b *gpu.Buffer
		x map[string][]float32
	}{{dv.p, params}, {dv.m, m}, {dv.v, v}, {dv.e, ema.Shadow}} {
		if err := dv.D.Write(w.b, dv.gather(w.x)); err != nil {
			return err
		}
	}
	return nil
}

// Download copies the device's training state into the host's: parameters,
// the step counts and moments of each optimizer that has stepped, and the
// EMA; it returns the skipped steps so far.
func (dv *Device) Download(params map[string][]float32, vae, prior *Adam, ema *EMA) (skipped int, err error) {
	got, err := gpu.RunRead(dv.D, nil, dv.p, dv.m, dv.v, dv.e, dv.counters)
	if err != nil {
		return 0, err
	}
	c := got[4]
	vae.T, prior.T = int(c[runtime.CountT]), int(c[runtime.CountT+1])
	dv.scatter(got[0], params, nil)
	for _, o := range []struct {
		a   *Adam
		vae bool
	}{{vae, true}, {prior, false}} {
		if o.a.T == 0 {
			continue
		}
		if o.a.M == nil {
			o.a.M, o.a.V = map[string][]float32{}, map[string][]float32{}
		}
		in := func(n string) bool { return IsVAEParam(n) == o.vae }
		dv.scatter(got[1], o.a.M, in)
		dv.scatter(got[2], o.a.V, in)
	}
	dv.scatter(got[3], ema.Shadow, nil)
	return int(c[runtime.CountSkipped]), nil
}

// Latents is how many values gr's posterior statistic sums (StepResult).
func (dv *Device) Latents(gr *Graph) int {
	if gr.mu != nil {
		return gr.mu.Shape().TotalSize()
	}
	return gr.z0in.Shape().TotalSize()
}

// Stats are the means over the finite steps since the last read.
type Stats struct {
	Steps              int     // finite steps they average over
	Values             Values  // the graph's loss parts
	PriorCE            float64 // the prior graph's cross entropy (when there is one)
	PosteriorSum       float64 // see StepResult
	NormVAE, NormPrior float64
	Skipped, MaxRun    int // skipped steps in all; the longest run of them since the last read
	TVAE, TPrior       int // the optimizers' step counts
}

// Stats reads the counters (one small readback, after the steps so far)
// and starts the next averaging interval.
func (dv *Device) Stats() (Stats, error) {
	got, err := gpu.RunRead(dv.D, nil, dv.counters)
	if err != nil {
		return Stats{}, err
	}
	c := got[0]
	st := Stats{Steps: int(c[runtime.CountFinite]), Skipped: int(c[runtime.CountSkipped]), MaxRun: int(c[runtime.CountMaxStreak]),
		TVAE: int(c[runtime.CountT]), TPrior: int(c[runtime.CountT+1])}
	if st.Steps > 0 {
		k := 1 / float64(st.Steps)
		sum := func(i int) float64 { return float64(c[runtime.CountSums+i]) * k }
		st.Values = Values{Recon: sum(0), NegEntropy: sum(1), KL: sum(2), CE: sum(3), Cost: sum(4)}
		st.PriorCE, st.PosteriorSum = sum(5), sum(6)
		st.NormVAE, st.NormPrior = sum(runtime.StepValues), sum(runtime.StepValues+1)
	}
	// Clear the interval (the step counts, skips and the current run stay).
	c[runtime.CountMaxStreak], c[runtime.CountFinite] = c[runtime.CountStreak], 0
	clear(c[runtime.CountSums:])
	return st, dv.D.Write(dv.counters, c)
}

// UseDevice compiles gr to read its parameters from dv and leave its
// gradients in dv's gradient buffer, for Step.
func (gr *Graph) UseDevice(dv *Device) error {
	place := map[*G.Node]*gpu.Buffer{}
	for _, n := range gr.params.Names {
		if _, ok := dv.off[n]; !ok {
			return fmt.Errorf("lsgm: parameter %q is not on the device", n)
		}
		place[gr.params.Nodes[n]] = dv.slice(dv.p, n)
	}
	if err := gr.useGPU(dv.D, place); err != nil {
		return err
	}
	e := gr.dev.e
	// Step draws the noise and the diffusion times on the device.
	for _, n := range []*G.Node{gr.n0in, gr.n1in, gr.mtin, gr.stin, gr.ctin, gr.win} {
		if n != nil {
			e.SkipSync(n)
		}
	}
	for _, ti := range gr.times {
		e.SkipSync(ti.Node)
	}
	if dv.data != nil && gr.Stage != StageEval { // and gathers the images there
		if x, _ := gr.images(); x != nil && e.Buffer(x) != nil {
			e.SkipSync(x)
		}
	}
	for i, name := range gr.Wrt {
		if err := e.Program().Copy(dv.slice(dv.g, name), 0, e.Buffer(gr.grads[i]), dv.size[name]); err != nil {
			return err
		}
	}
	gr.device = dv
	return nil
}

// program is the optimizer part of a step that updates the given groups,
// with the step's bookkeeping.
func (dv *Device) program(vae, prior bool) (*gpu.Program, error) {
	key := [2]bool{vae, prior}
	if p := dv.opt[key]; p != nil {
		return p, nil
	}
	p := dv.D.NewProgram()
	type group struct {
		lo, hi, gid int
		lr          float64
	}
	var groups []group
	h := dv.hyperv
	if vae {
		groups = append(groups, group{0, dv.split, 0, h.LRVAE})
	}
	if prior {
		groups = append(groups, group{dv.split, dv.len, 1, h.LRPrior})
	}
	gids := [2]int{}
	for i, g := range groups {
		gids[i] = g.gid
	}
	err := func() error {
		for i, r := range groups {
			if r.hi == r.lo {
				return fmt.Errorf("lsgm: optimizer group %d has no parameters", i)
			}
			g, err := dv.g.Slice(r.lo, r.hi-r.lo)
			if err != nil {
				return err
			}
			if err := p.GradPartial(dv.parts, g, r.hi-r.lo, i); err != nil {
				return err
			}
		}
		if err := p.GradNorm(dv.state, dv.parts, dv.counters, len(groups), gids, h.Clip); err != nil {
			return err
		}
		for i, r := range groups {
			var bs [4]*gpu.Buffer
			for j, b := range []*gpu.Buffer{dv.p, dv.m, dv.v, dv.g} {
				var err error
				if bs[j], err = b.Slice(r.lo, r.hi-r.lo); err != nil {
					return err
				}
			}
			c := gpu.AdamConfig{LR: r.lr, Beta1: h.Beta1, Beta2: h.Beta2, Eps: h.Eps, Warmup: h.Warmup, Max: h.Max}
			if err := p.Adam(bs[0], bs[1], bs[2], bs[3], dv.state, dv.counters, r.hi-r.lo, i, len(groups), r.gid, c); err != nil {
				return err
			}
		}
		if err := p.EMA(dv.e, dv.p, dv.state, dv.rates, dv.len); err != nil {
			return err
		}
		return p.StepStats(dv.counters, dv.vals, dv.state, len(groups), gids)
	}()
	if err != nil {
		p.Release()
		return nil, err
	}
	dv.opt[key] = p
	return p, nil
}

// StepResult is what a device step reports.
type StepResult struct {
	Values, PriorValues Values // the graph's, and the separate prior graph's
	NormVAE, NormPrior  float64
	Finite              bool // false: the step changed nothing
	// PosteriorSum is the sum over gr's latents of mu^2 + sigma^2 (of z0^2
	// for a data-space model, whose "posterior" is its images), all
	// CEConstSum needs: the posterior itself stays on the device.
	PosteriorSum float64
	Latents      int // how many values it sums
}

// Step runs one training step on the device as one submission: gr (and pg,
// the prior's own graph on gr's latents, when not nil), then the updates of
// the optimizers whose parameters have gradients (their step counts,
// warm-up and bias corrections kept on the device), the EMA at decay
// ema.Rate(in.Step), and the step's bookkeeping for Stats. Both graphs must
// UseDevice(dv), their host inputs filled: the device draws the noise as
// DrawNoise would with in.Seed (streams NoiseMain for gr, NoisePrior for
// pg), gathers the images when SetData was called, and copies pg's Z0 and Y
// from gr. Nothing is read back unless in.Read, which returns the step's
// values and brings vae's and prior's step counts up to date (tests).
func (dv *Device) Step(gr, pg *Graph, vae, prior *Adam, ema *EMA, in StepIn) (StepResult, error) {
	seed, step := in.Seed, in.Step
	if gr.device != dv || pg != nil && pg.device != dv {
		return StepResult{}, fmt.Errorf("lsgm: Step needs graphs compiled for this device (UseDevice)")
	}
	doVAE, doPrior := false, false
	for _, g := range []*Graph{gr, pg} {
		if g == nil {
			continue
		}
		for _, n := range g.Wrt {
			if IsVAEParam(n) {
				doVAE = true
			} else {
				doPrior = true
			}
		}
	}
	opt, err := dv.program(doVAE, doPrior)
	if err != nil {
		return StepResult{}, err
	}
	if err := dv.D.Write(dv.rates, gpu.EMARates(ema.Rate(step))); err != nil {
		return StepResult{}, err
	}
	if err := dv.D.Write(dv.vals, make([]float32, runtime.StepValues)); err != nil { // slots a stage lacks read 0
		return StepResult{}, err
	}
	for _, g := range []*Graph{gr, pg} {
		if g == nil {
			continue
		}
		g.FillInputs()
		if err := g.dev.e.Sync(); err != nil {
			return StepResult{}, err
		}
	}
	noise := dv.D.NewProgram()
	defer noise.Release()
	if dv.data != nil {
		if len(in.Batch) != gr.Batch {
			return StepResult{}, fmt.Errorf("lsgm: a device step with the dataset on the GPU needs %d image indices, got %d", gr.Batch, len(in.Batch))
		}
		words := make([]uint32, len(in.Batch))
		for i, v := range in.Batch {
			words[i] = uint32(v)
		}
		if err := dv.D.WriteWords(dv.idx, words); err != nil {
			return StepResult{}, err
		}
		x, _ := gr.images()
		if err := noise.Images(gr.dev.e.Buffer(x), dv.data, dv.idx, dv.dataD, gr.Batch, in.Mode, seed, step, uint32(NoiseImages)); err != nil {
			return StepResult{}, err
		}
	}
	if dv.poison {
		dv.poison = false
		x, _ := gr.images()
		nan, err := dv.D.NewBuffer(1, []float32{float32(math.NaN())})
		if err != nil {
			return StepResult{}, err
		}
		defer nan.Release()
		one := [4]int{1, 1, 1, 1}
		if err := noise.Map(runtime.MapCopy, one, gpu.Ref{B: gr.dev.e.Buffer(x), V: runtime.Contiguous(one)}, gpu.Ref{B: nan, V: runtime.Contiguous(one)}, gpu.Ref{}, gpu.Ref{}); err != nil {
			return StepResult{}, err
		}
	}
	for _, gb := range []struct {
		g    *Graph
		base rng.Stream
	}{{gr, NoiseMain}, {pg, NoisePrior}} {
		if gb.g == nil {
			continue
		}
		d := weights.Numel(gb.g.latent)
		for k, n := range []*G.Node{gb.g.n0in, gb.g.n1in} {
			if n == nil {
				continue
			}
			if err := noise.Normals(gb.g.dev.e.Buffer(n), seed, 0, d, gb.g.Batch, step, uint32(gb.base)+uint32(k)); err != nil {
				return StepResult{}, err
			}
		}
	}
	for _, gt := range []struct {
		g      *Graph
		ts     *runtime.TimeSampler
		stream rng.Stream
	}{{gr, in.Times, TimesMain}, {pg, in.PriorTimes, TimesPrior}} {
		if gt.g == nil || gt.g.win == nil {
			continue
		}
		if gt.ts == nil {
			return StepResult{}, fmt.Errorf("lsgm: a device step of the stage %d graph needs its time sampler", gt.g.Stage)
		}
		if err := dv.drawTimes(noise, gt.g, gt.ts, seed, step, gt.stream); err != nil {
			return StepResult{}, err
		}
	}
	progs := []*gpu.Program{noise, gr.dev.e.Program()}
	if pg != nil {
		link := dv.D.NewProgram()
		defer link.Release()
		for _, c := range [][2]*G.Node{{gr.z0, pg.z0in}, {gr.yin, pg.yin}} {
			if c[0] == nil || c[1] == nil {
				continue
			}
			dst, src := pg.dev.e.Buffer(c[1]), gr.dev.e.Buffer(c[0])
			if err := link.Copy(dst, 0, src, src.Len()); err != nil {
				return StepResult{}, err
			}
		}
		progs = append(progs, link, pg.dev.e.Program())
	}
	// The step's values for the bookkeeping: gr's loss parts, pg's cross
	// entropy, and the posterior's statistic for the cross entropy's constant.
	stat := dv.D.NewProgram()
	defer stat.Release()
	sum, n, err := posteriorSum(dv.D, stat, gr)
	if err != nil {
		return StepResult{}, err
	}
	defer sum.Release()
	slots := append(gr.ValueNodes(), nil)
	if pg != nil {
		slots[5] = pg.ce
	}
	for i, node := range slots {
		if node == nil {
			continue
		}
		g := gr
		if i == 5 {
			g = pg
		}
		if err := stat.Copy(dv.vals, i, g.dev.e.Buffer(node), 1); err != nil {
			return StepResult{}, err
		}
	}
	if err := stat.Copy(dv.vals, 6, sum, 1); err != nil {
		return StepResult{}, err
	}
	progs = append(progs, stat, opt)
	if !in.Read {
		return StepResult{}, gpu.RunAll(dv.D, progs)
	}
	got, err := gpu.RunRead(dv.D, progs, dv.vals, dv.state, dv.counters)
	if err != nil {
		return StepResult{}, fmt.Errorf("lsgm: device step: %w", err)
	}
	v, st, c := got[0], got[1], got[2]
	res := StepResult{Values: Values{Recon: float64(v[0]), NegEntropy: float64(v[1]), KL: float64(v[2]), CE: float64(v[3]), Cost: float64(v[4])},
		Finite: st[0] == 1, PosteriorSum: float64(v[6]), Latents: n}
	if pg != nil {
		res.PriorValues = Values{CE: float64(v[5])}
	}
	i := 1
	if doVAE {
		res.NormVAE = float64(st[i])
		i++
	}
	if doPrior {
		res.NormPrior = float64(st[i])
	}
	vae.T, prior.T = int(c[runtime.CountT]), int(c[runtime.CountT+1])
	return res, nil
}

// drawTimes adds to p the launches that draw g's diffusion times with ts
// (as Graph.DrawTimes does on the host) and fill its time inputs: the
// weights, m_t, sigma_t, c_t and the score network's time embeddings.
func (dv *Device) drawTimes(p *gpu.Program, g *Graph, ts *runtime.TimeSampler, seed uint64, step int, stream rng.Stream) error {
	words, table, err := ts.TimeParams()
	if err != nil {
		return fmt.Errorf("lsgm: %w", err)
	}
	if dv.tables == nil {
		dv.tables, dv.times = map[*runtime.TimeSampler]*gpu.Buffer{}, map[*Graph]*gpu.Buffer{}
	}
	tb := dv.tables[ts]
	if tb == nil {
		if tb, err = dv.D.NewBuffer(len(table), table); err != nil {
			return err
		}
		dv.tables[ts] = tb
	}
	n := g.Batch
	stride := (n + gpu.SliceAlign - 1) / gpu.SliceAlign * gpu.SliceAlign
	out := dv.times[g]
	if out == nil {
		if out, err = dv.D.NewBuffer(runtime.TimeParts*stride, nil); err != nil {
			return err
		}
		dv.times[g] = out
	}
	if err := p.Times(out, tb, words, n, stride, seed, step, uint32(stream)); err != nil {
		return err
	}
	e := g.dev.e
	for k, node := range []*G.Node{nil, g.win, g.mtin, g.stin, g.ctin} {
		if node == nil || e.Buffer(node) == nil {
			continue
		}
		src, err := out.Slice(k*stride, n)
		if err != nil {
			return err
		}
		if err := p.Copy(e.Buffer(node), 0, src, n); err != nil {
			return err
		}
	}
	t, err := out.Slice(0, n)
	if err != nil {
		return err
	}
	for _, ti := range g.times {
		if y := e.Buffer(ti.Node); y != nil {
			if err := p.TimeEmbed(y, t, n, ti.Dim, float32(ti.Scale)); err != nil {
				return err
			}
		}
	}
	return nil
}

// posteriorSum adds to p the launches that leave, in the returned
// one-value buffer, the sum of mu^2 + exp(2 log sigma) over gr's posterior
// (of z0^2 for a data-space graph), and says how many values it sums.
func posteriorSum(d *gpu.Device, p *gpu.Program, gr *Graph) (*gpu.Buffer, int, error) {
	sum, err := d.NewBuffer(1, nil)
	if err != nil {
		return nil, 0, err
	}
	e := gr.dev.e
	var terms []*gpu.Buffer
	src := gr.z0in
	if gr.mu != nil {
		src = gr.mu
	}
	n := src.Shape().TotalSize()
	shape := [4]int{1, 1, 1, n}
	v := runtime.Contiguous(shape)
	ref := func(b *gpu.Buffer) gpu.Ref { return gpu.Ref{B: b, V: v} }
	fail := func(err error) (*gpu.Buffer, int, error) {
		sum.Release()
		for _, b := range terms {
			b.Release()
		}
		return nil, 0, err
	}
	tmp := func() (*gpu.Buffer, error) {
		b, err := d.NewBuffer(n, nil)
		if err == nil {
			terms = append(terms, b)
		}
		return b, err
	}
	sq, err := tmp()
	if err != nil {
		return fail(err)
	}
	if err := p.Map(runtime.MapSquare, shape, ref(sq), ref(e.Buffer(src)), gpu.Ref{}, gpu.Ref{}); err != nil {
		return fail(err)
	}
	total := sq
	if gr.mu != nil { // + sigma^2 = exp(log sigma)^2
		sig, err := tmp()
		if err != nil {
			return fail(err)
		}
		sig2, err := tmp()
		if err != nil {
			return fail(err)
		}
		if total, err = tmp(); err != nil {
			return fail(err)
		}
		for _, m := range []struct {
			op      runtime.MapOp
			y, a, b *gpu.Buffer
		}{{runtime.MapExp, sig, e.Buffer(gr.logSigma), nil}, {runtime.MapSquare, sig2, sig, nil}, {runtime.MapAdd, total, sq, sig2}} {
			bref := gpu.Ref{}
			if m.b != nil {
				bref = ref(m.b)
			}
			if err := p.Map(m.op, shape, ref(m.y), ref(m.a), bref, gpu.Ref{}); err != nil {
				return fail(err)
			}
		}
	}
	if err := p.Sum(sum, total, 1, n, 1); err != nil {
		return fail(err)
	}
	// The temporaries live as long as the program: release them with it.
	p.Own(terms...)
	return sum, n, nil
}
