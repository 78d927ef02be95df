package gpu

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

// ErrUnsupported is wrapped by errors for settings this backend does not run
// (callers fall back to the CPU path).
var ErrUnsupported = errors.New("gpu: not supported by the GPU backend")

// Samplers lists the samplers the GPU runs. The others need a reduction over
// the whole batch every step (pc's step size, rk45's error norm) or the vesde
// (ald), and run on the CPU.
var Samplers = []string{"euler", "heun", "ddim", "ddpm", "dpmpp2m", "euler_maruyama"}

// Supports reports whether the GPU runs sampler name.
func Supports(name string) bool { return slices.Contains(Samplers, name) }

// MaxBatch is the most samples one submission holds; larger requests run in
// batches (with the same noise as one batch: noise is keyed by sample index).
const MaxBatch = 256

// Model is a runtime model with its weights on the device.
type Model struct {
	D   *Device
	CPU *runtime.Model

	enc, dec, score *runtime.Plan
	pDec, pScore    params
	mix             *Buffer

	mu   sync.Mutex // one sampling run at a time: nets are reused
	nets map[*runtime.Plan]*net
	clf  *Classifier // classifier guidance's, the last one asked for
}

// NewModel uploads m's weights to d.
func NewModel(d *Device, m *runtime.Model) (*Model, error) {
	g := &Model{D: d, CPU: m, nets: map[*runtime.Plan]*net{}}
	g.enc, g.dec, g.score = m.Plans()
	var err error
	if g.pScore, err = d.upload(g.score); err != nil {
		g.Release()
		return nil, err
	}
	if g.dec != nil {
		if g.pDec, err = d.upload(g.dec); err != nil {
			g.Release()
			return nil, err
		}
	}
	if c := m.MixCoeff(); c != nil {
		if g.mix, err = d.NewBuffer(len(c), c); err != nil {
			g.Release()
			return nil, err
		}
	}
	return g, nil
}

// Release frees the model's device memory.
func (g *Model) Release() {
	for _, nt := range g.nets {
		nt.release()
	}
	if g.clf != nil {
		g.clf.Release()
		g.clf = nil
	}
	g.nets = map[*runtime.Plan]*net{}
	g.pScore.release()
	g.pDec.release()
	g.mix.Release()
}

// classifierFor returns c compiled for batches of n, reusing the last one.
func (g *Model) classifierFor(c *runtime.Classifier, n int) (*Classifier, error) {
	if g.clf != nil && g.clf.c == c && g.clf.n == n {
		return g.clf, nil
	}
	if g.clf != nil {
		g.clf.Release()
		g.clf = nil
	}
	gc, err := g.D.NewClassifier(c, n)
	if err != nil {
		return nil, err
	}
	g.clf = gc
	return gc, nil
}

// netFor returns p compiled for batches of exactly n, reusing the last one.
func (g *Model) netFor(p *runtime.Plan, ps params, n int) (*net, error) {
	if nt := g.nets[p]; nt != nil {
		if nt.n == n {
			return nt, nil
		}
		nt.release()
		delete(g.nets, p)
	}
	nt, err := g.D.compile(p, ps, n)
	if err != nil {
		return nil, err
	}
	g.nets[p] = nt
	return nt, nil
}

// Result is a sampling run's output: RGBA8 images, row-major, Count of them
// of DataShape's H x W, and the cost.
type Result struct {
	RGBA   []byte
	Latent []float32 // the final latents, when the request asked for them
	Stats  sampler.Stats
	// Submits and Readbacks count command-buffer submissions and buffer maps.
	Submits, Readbacks int
}

// Progress is what a progress callback sees after each solver step: the step
// (from 1) of N, the time reached, and, for a live view, the decoded
// prediction of the final images at this step (RGBA8 like Result.RGBA).
type Progress struct {
	I, N    int
	T       float64
	Preview []byte
}

// Options of a GPU run beyond the runtime's Request.
type Options struct {
	Latent  bool // also read back the final latents
	Preview bool // give the progress callback a decoded preview each step
	// PreviewEvery spaces previews at least this far apart (0: every step);
	// a step between them is submitted without the decoder and readback,
	// which at batch 36 cost as much as the step itself.
	PreviewEvery time.Duration
}

// Sample runs a request on the GPU. progress may be nil; with it, each step
// is its own submission, and with Options.Preview also a readback of the
// decoded preview. The request and
// sampler settings are checked exactly as on the CPU.
func (g *Model) Sample(r runtime.Request, o Options, progress func(Progress)) (*Result, error) {
	r, err := r.Check()
	if err != nil {
		return nil, err
	}
	cfg, ts, err := sampler.TimeGrid(r.Sampler, g.CPU.SDE)
	if err != nil {
		return nil, err
	}
	if !Supports(cfg.Name) {
		return nil, fmt.Errorf("%w: sampler %s (the GPU runs %v)", ErrUnsupported, cfg.Name, Samplers)
	}
	if err := g.CPU.CheckGuide(r.Guide); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	res := &Result{}
	hw := weights.Numel(g.CPU.DataShape()[1:])
	for lo := 0; lo < r.Count; lo += MaxBatch {
		n := min(MaxBatch, r.Count-lo)
		sub := r
		sub.Count, sub.First = n, r.First+uint32(lo)
		d := g.CPU.LatentDim()
		if r.Noise != nil {
			if len(r.Noise) != r.Count*d {
				return nil, fmt.Errorf("gpu: initial noise of %d values for %d latents of %d", len(r.Noise), r.Count, d)
			}
			sub.Noise = r.Noise[lo*d : (lo+n)*d]
		}
		if r.Start != nil {
			if len(r.Start) != r.Count*d {
				return nil, fmt.Errorf("gpu: start state of %d values for %d latents of %d", len(r.Start), r.Count, d)
			}
			sub.Start = r.Start[lo*d : (lo+n)*d]
		}
		var cb func(Progress)
		if progress != nil {
			cb = func(p Progress) {
				if r.Count > n { // report the whole request's progress
					p.I += lo / MaxBatch * p.N
					p.N *= (r.Count + MaxBatch - 1) / MaxBatch
				}
				progress(p)
			}
		}
		b, err := g.batch(sub, cfg, ts, o, cb)
		if err != nil {
			return nil, err
		}
		res.RGBA = append(res.RGBA, b.RGBA...)
		res.Latent = append(res.Latent, b.Latent...)
		res.Stats.NFE += b.Stats.NFE
		res.Stats.Steps += b.Stats.Steps
		res.Submits += b.Submits
		res.Readbacks += b.Readbacks
	}
	if len(res.RGBA) != 4*r.Count*hw {
		return nil, fmt.Errorf("gpu: internal: %d bytes of images for %d", len(res.RGBA), r.Count)
	}
	return res, nil
}
