package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/weights"
)

// run is one batch's sampling on the device: the recorder all work goes
// into, the compiled networks and the state buffers.
type run struct {
	g        *Model
	r        *recorder
	s        sde.SDE
	score    *net
	dec      *net // nil without a VAE
	n, d, nd int
	noise    noise
	st       sampler.Stats
	cb       func(Progress)
	previews bool
	every    time.Duration   // Options.PreviewEvery
	last     time.Time       // when the last preview was read back
	stop     <-chan struct{} // Request.Stop
	bufs     []*Buffer
	guide    *runtime.Guide // classifier-free guidance: the score net runs 2n, class then no class
	clf      *Classifier    // classifier guidance: its gradient joins eps each NFE
	cguide   *runtime.Guide
	preview  *Buffer // the denoised latents of a step, for a live view
	img      *Buffer // packed RGBA8 of the decoded images
	toRGBA   *launch
}

func (u *run) buf() (*Buffer, error) {
	b, err := u.g.D.NewBuffer(u.nd, nil)
	if err == nil {
		u.bufs = append(u.bufs, b)
	}
	return b, err
}

// state allocates k batch-sized state buffers (freed with the run).
func (u *run) state(k int) ([]*Buffer, error) {
	out := make([]*Buffer, k)
	for i := range out {
		var err error
		if out[i], err = u.buf(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (u *run) release() {
	for _, b := range u.bufs {
		b.Release()
	}
	if u.toRGBA != nil {
		u.toRGBA.release()
	}
	u.img.Release()
	u.r.release()
}

// batch samples one batch of r.Count <= MaxBatch images.
func (g *Model) batch(r runtime.Request, c sampler.Config, ts []float64, o Options, cb func(Progress)) (*Result, error) {
	n, d := r.Count, g.CPU.LatentDim()
	u := &run{g: g, s: g.CPU.SDE, n: n, d: d, nd: n * d, noise: noise{r.Seed, r.First, d}, cb: cb, previews: o.Preview, every: o.PreviewEvery, stop: r.Stop}
	var err error
	r.Guide = g.CPU.SampleGuide(r) // a class-conditional model's images each follow a class of their own
	rows, halves := g.CPU.GuideInput(r.Guide, n)
	nb := n // the score network's batch: both halves when guided
	if halves {
		nb, u.guide = 2*n, r.Guide
	}
	if u.score, err = g.netFor(g.score, g.pScore, nb); err != nil {
		return nil, err
	}
	if r.Guide != nil && r.Guide.Classifier != nil {
		if u.clf, err = g.classifierFor(r.Guide.Classifier, n); err != nil {
			return nil, err
		}
		u.cguide = r.Guide
	}
	if y := u.score.in["y"]; y != nil { // a class-conditional network
		if err := g.D.Write(y, rows); err != nil {
			return nil, err
		}
	}
	if g.dec != nil {
		if u.dec, err = g.netFor(g.dec, g.pDec, n); err != nil {
			return nil, err
		}
	}
	// Dynamic parameter blocks: per NFE a fill and a mix, per step at most a
	// noise draw and three updates, plus the preview and the start.
	// Classifier guidance adds a fill and an update per NFE.
	if u.r, err = g.D.newRecorder(4*len(ts) + 6*len(ts) + 8 + 8*len(ts)); err != nil {
		return nil, err
	}
	shape := g.CPU.DataShape()
	hw := weights.Numel(shape[1:])
	if u.img, err = g.D.NewBuffer(n*hw, nil); err != nil {
		u.r.release()
		return nil, err
	}
	defer u.release()
	if u.preview, err = u.buf(); err != nil {
		return nil, err
	}
	src, mode := u.preview, uint32(rgbaSigned)
	if u.dec != nil {
		src = u.dec.out["mean"]
		if g.CPU.File.Arch.Likelihood == "bernoulli" {
			src, mode = u.dec.out["logits"], rgbaSigmoid
		}
	}
	if src == nil {
		return nil, fmt.Errorf("gpu: the decoder has no output for likelihood %q", g.CPU.File.Arch.Likelihood)
	}
	if u.toRGBA, err = g.D.prepRGBA(u.img, src, n, shape[0], hw, mode); err != nil {
		return nil, err
	}

	z, err := u.buf()
	if err != nil {
		return nil, err
	}
	switch {
	case r.Start != nil: // the state at the start time as it is (SDEdit)
		if err := g.D.Write(z, r.Start); err != nil {
			return nil, err
		}
	case r.Noise != nil:
		if err := g.D.Write(z, r.Noise); err != nil {
			return nil, err
		}
	default:
		if err := u.r.normals(z, u.noise, n, 0, uint32(rng.StreamInit)); err != nil {
			return nil, err
		}
	}
	if r.Start == nil {
		if err := u.r.lincomb(z, u.nd, sde.PriorStd(u.s)*r.Temperature); err != nil {
			return nil, err
		}
	}
	switch c.Name {
	case "euler":
		err = u.euler(z, ts)
	case "heun":
		err = u.heun(z, ts)
	case "ddim", "ddpm":
		err = u.ddim(z, ts, c.Eta)
	case "dpmpp2m":
		err = u.dpmpp2m(z, ts)
	case "euler_maruyama":
		err = u.eulerMaruyama(z, ts)
	default:
		err = fmt.Errorf("%w: sampler %s", ErrUnsupported, c.Name)
	}
	if err != nil {
		return nil, err
	}
	u.decode(z)
	reads, counts := []*Buffer{u.img}, []int{n * hw}
	if o.Latent {
		reads, counts = append(reads, z), append(counts, u.nd)
	}
	data, err := u.r.read(reads, counts)
	if err != nil {
		return nil, err
	}
	res := &Result{RGBA: data[0], Stats: u.st, Submits: u.r.submits, Readbacks: u.r.reads}
	if o.Latent {
		res.Latent = floats(data[1])
		if err := finite(res.Latent); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func finite(z []float32) error {
	for i, v := range z {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: element %d", sampler.ErrNonFinite, i)
		}
	}
	return nil
}

// decode records the decoder on latents z and the RGBA8 conversion into u.img.
func (u *run) decode(z *Buffer) {
	if u.dec == nil {
		if z != u.preview {
			u.r.copy(u.preview, z, u.nd)
		}
	} else {
		u.r.copy(u.dec.in["z"], z, u.nd)
		u.dec.record(u.r)
	}
	u.toRGBA.record(u.r)
}

// eps records one evaluation of the prior's noise prediction at (z, t) into
// dst: the network, then LSGM's mixed score when the model has one.
func (u *run) eps(dst, z *Buffer, t float64) error {
	if runtime.Stopped(u.stop) {
		return runtime.ErrCancelled
	}
	u.st.NFE++
	u.r.copy(u.score.in["z"], z, u.nd)
	if u.guide != nil { // the same latents again, for the no-class half
		u.r.copyAt(u.score.in["z"], u.nd, z, u.nd)
	}
	if err := u.r.fill(u.score.in["t"], u.score.n, t); err != nil {
		return err
	}
	u.score.record(u.r)
	if u.guide != nil {
		if err := u.r.cfg(dst, u.score.out["eps"], u.nd, u.guide.Scale); err != nil {
			return err
		}
	} else {
		u.r.copy(dst, u.score.out["eps"], u.nd)
	}
	if u.g.mix != nil {
		if err := u.r.mixed(dst, z, u.g.mix, u.nd, u.d, sde.Sigma(u.s, t)/sde.NormalVar(u.s, t)); err != nil {
			return err
		}
	}
	if u.clf != nil {
		return u.classifierGuide(dst, z, t)
	}
	return nil
}

// classifierGuide records eps -= scale sigma_t d log p(class | z_t, t) / dz
// (sampler.ClassifierGuided): the classifier's forward pass, a read of its
// logits for the softmax seed (one more submission and readback an NFE),
// its backward pass and the update.
func (u *run) classifierGuide(dst, z *Buffer, t float64) error {
	c, g := u.clf, u.cguide
	if g.Scale == 0 {
		return nil
	}
	u.r.copy(c.z, z, u.nd)
	if err := u.r.fill(c.t, c.n, t); err != nil {
		return err
	}
	c.fwd.recordInto(u.r)
	got, err := u.r.read([]*Buffer{c.logits}, []int{c.n * c.c.File.Classes})
	if err != nil {
		return err
	}
	seed, _ := runtime.SoftmaxSeed(floats(got[0]), c.n, c.c.File.Classes, g.Class)
	if err := u.g.D.Write(c.seed, seed); err != nil {
		return err
	}
	c.back.recordInto(u.r)
	return u.r.lincomb(dst, u.nd, 1, term{-g.Scale * sde.Sigma(u.s, t), c.grad})
}

// report, when someone watches, submits the step and waits for it; with
// previews it also decodes the prediction of z_0 made from eps at time te,
// (z - sigma eps) / m, and reads it back.
func (u *run) report(i, n int, t float64, z, eps *Buffer, te float64) error {
	if u.cb == nil {
		return nil
	}
	if !u.previews || !u.last.IsZero() && time.Since(u.last) < u.every {
		if err := u.r.submit(); err != nil {
			return err
		}
		u.r.d.wait()
		u.cb(Progress{I: i, N: n, T: t})
		return nil
	}
	if z != nil {
		m, sg := u.s.Mean(te), sde.Sigma(u.s, te)
		if err := u.r.lincomb(u.preview, u.nd, 0, term{1 / m, z}, term{-sg / m, eps}); err != nil {
			return err
		}
	}
	u.decode(u.preview)
	data, err := u.r.read([]*Buffer{u.img}, []int{u.img.len})
	if err != nil {
		return err
	}
	u.last = time.Now()
	u.cb(Progress{I: i, N: n, T: t, Preview: data[0]})
	return nil
}

// The samplers below are the CPU ones of runtime/sampler, step for step, with
// each vector update one lincomb dispatch; see there for the papers.

// euler: z += h (a z + b eps), the preview from this step's eps.
func (u *run) euler(z *Buffer, ts []float64) error {
	eps, err := u.buf()
	if err != nil {
		return err
	}
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, h := ts[i], ts[i+1]-ts[i]
		if err := u.eps(eps, z, t); err != nil {
			return err
		}
		if err := u.report(i+1, n, ts[i+1], z, eps, t); err != nil {
			return err
		}
		a, b := sampler.Velocity(u.s, t)
		if err := u.r.lincomb(z, u.nd, 1+h*a, term{h * b, eps}); err != nil {
			return err
		}
		u.st.Steps++
	}
	return nil
}

// heun: the trapezoidal predictor-corrector, two NFEs a step.
func (u *run) heun(z *Buffer, ts []float64) error {
	b, err := u.state(3)
	if err != nil {
		return err
	}
	e1, e2, zp := b[0], b[1], b[2]
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		h := tn - t
		if err := u.eps(e1, z, t); err != nil {
			return err
		}
		a1, b1 := sampler.Velocity(u.s, t)
		if err := u.r.lincomb(zp, u.nd, 0, term{1 + h*a1, z}, term{h * b1, e1}); err != nil {
			return err
		}
		if err := u.eps(e2, zp, tn); err != nil {
			return err
		}
		a2, b2 := sampler.Velocity(u.s, tn)
		if err := u.r.lincomb(z, u.nd, 1+0.5*h*a1, term{0.5 * h * b1, e1}, term{0.5 * h * a2, zp}, term{0.5 * h * b2, e2}); err != nil {
			return err
		}
		u.st.Steps++
		if err := u.report(i+1, n, tn, z, e2, tn); err != nil {
			return err
		}
	}
	return nil
}

// ddim: z = m_s x0 + sqrt(sigma_s^2 - c^2) eps + c noise with x0 folded in.
func (u *run) ddim(z *Buffer, ts []float64, eta float64) error {
	b, err := u.state(2) // eps, and the noise when eta > 0
	if err != nil {
		return err
	}
	eps, xi := b[0], b[1]
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		if err := u.eps(eps, z, t); err != nil {
			return err
		}
		if err := u.report(i+1, n, tn, z, eps, t); err != nil {
			return err
		}
		// x0 = (z - sigma_t eps) / m_t folded in: one update of z and eps.
		mt, sgt := u.s.Mean(t), sde.Sigma(u.s, t)
		ms, dd, c := sampler.DDIMCoeffs(u.s, t, tn, eta)
		terms := []term{{dd - ms*sgt/mt, eps}}
		if eta > 0 {
			if err := u.r.normals(xi, u.noise, u.n, i+1, uint32(rng.StreamStep)); err != nil {
				return err
			}
			terms = append(terms, term{c, xi})
		}
		if err := u.r.lincomb(z, u.nd, ms/mt, terms...); err != nil {
			return err
		}
		u.st.Steps++
	}
	return nil
}

// dpmpp2m: multistep DPM-Solver++(2M) in log-SNR time on the data prediction.
func (u *run) dpmpp2m(z *Buffer, ts []float64) error {
	b, err := u.state(3)
	if err != nil {
		return err
	}
	eps, x0, prev := b[0], b[1], b[2]
	n := len(ts) - 1
	hPrev := 0.0
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		if err := u.eps(eps, z, t); err != nil {
			return err
		}
		mt, sgt := u.s.Mean(t), sde.Sigma(u.s, t)
		if err := u.r.lincomb(x0, u.nd, 0, term{1 / mt, z}, term{-sgt / mt, eps}); err != nil {
			return err
		}
		ratio, k, c0, c1, h := sampler.DPMSolverPP2MCoeffs(u.s, t, tn, hPrev)
		if err := u.r.lincomb(z, u.nd, ratio, term{k * c0, x0}, term{k * c1, prev}); err != nil {
			return err
		}
		x0, prev = prev, x0
		hPrev = h
		u.st.Steps++
		if u.cb != nil && u.previews {
			u.r.copy(u.preview, prev, u.nd) // this step's x0 is the preview
		}
		if err := u.report(i+1, n, tn, nil, nil, tn); err != nil {
			return err
		}
	}
	return nil
}

// eulerMaruyama: the reverse SDE's Euler-Maruyama step; no noise on the last.
func (u *run) eulerMaruyama(z *Buffer, ts []float64) error {
	b, err := u.state(2)
	if err != nil {
		return err
	}
	eps, xi := b[0], b[1]
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, tn := ts[i], ts[i+1]
		if err := u.eps(eps, z, t); err != nil {
			return err
		}
		if err := u.report(i+1, n, tn, z, eps, t); err != nil {
			return err
		}
		h := tn - t
		a, b, c := sampler.ReverseDiffusionCoeffs(u.s, t, tn)
		terms := []term{{h * b, eps}}
		if i < n-1 { // no noise on the last step
			if err := u.r.normals(xi, u.noise, u.n, i+1, uint32(rng.StreamStep)); err != nil {
				return err
			}
			terms = append(terms, term{c, xi})
		}
		if err := u.r.lincomb(z, u.nd, 1+h*a, terms...); err != nil {
			return err
		}
		u.st.Steps++
	}
	return nil
}

// Images unpacks RGBA8 into [n, c, h, w] floats in [0, 1] (c = 1 takes red).
func Images(rgba []byte, n int, shape []int) []float32 {
	c, hw := shape[0], weights.Numel(shape[1:])
	out := make([]float32, n*c*hw)
	for i := 0; i < n; i++ {
		for q := 0; q < hw; q++ {
			px := binary.LittleEndian.Uint32(rgba[4*(i*hw+q):])
			for ch := 0; ch < c; ch++ {
				out[(i*c+ch)*hw+q] = float32((px>>(8*ch))&0xff) / 255
			}
		}
	}
	return out
}
