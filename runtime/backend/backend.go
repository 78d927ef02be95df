// Package backend picks where a model samples, the GPU (package gpu) or the
// CPU (package runtime), and gives the callers (the trainer's sample command,
// the browser build, the desktop viewer) one way to sample with progress and
// decoded previews, whichever runs.
package backend

import (
	"fmt"
	"strings"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sampler"
)

// Kinds are the accepted backend requests.
var Kinds = []string{"auto", "gpu", "cpu"}

// Sampler samples a model on the backend it was opened with.
type Sampler struct {
	CPU *runtime.Model
	GPU *gpu.Model // nil on the CPU
	// Why says why the CPU runs where "auto" or "gpu" could have meant the
	// GPU ("" otherwise): a clause such as "this browser offers no WebGPU
	// adapter". Note is the same as a sentence for a log line.
	Why, Note string
	// PreviewEvery spaces decoded previews at least this far apart (0:
	// every step); on the CPU, when set, also by three times the last
	// decode's own time, so previews never take more than a quarter of a
	// run: each costs a decoder pass (on the GPU also a readback), as much
	// as several steps of the prior on a small latent, and a view needs only
	// a few a second.
	PreviewEvery time.Duration
	dev          *gpu.Device
}

// Open prepares m on the backend asked for: "gpu" takes any WebGPU adapter
// (software renderers too) and fails without one; "auto" takes a hardware
// adapter only, since a software one (lavapipe, SwiftShader) is slower here
// than the CPU path, and otherwise runs on the CPU and says why in Why and
// Note; "cpu" never tries.
func Open(m *runtime.Model, kind string) (*Sampler, error) {
	if sh := m.DataShape(); len(sh) != 3 || sh[0] != 1 && sh[0] != 3 {
		return nil, fmt.Errorf("backend: %s makes %v data, not grey or RGB images; only images are shown here (trainer sample plots 2-D points)", m.File.Arch.Name, sh)
	}
	s := &Sampler{CPU: m}
	switch kind {
	case "cpu":
		return s, nil
	case "auto", "gpu":
	default:
		return nil, fmt.Errorf("backend: %q: want %s", kind, strings.Join(Kinds, ", "))
	}
	d, err := gpu.Open(gpu.OpenOptions{})
	if err == nil && kind == "auto" && d.Software() {
		s.Why = fmt.Sprintf("the only WebGPU adapter, %s, is a software renderer, slower than the CPU path (ask for the GPU backend to use it anyway)", d.Name())
		d.Close()
		s.Note = s.Why + "; sampling on the CPU"
		return s, nil
	}
	if err == nil {
		if s.GPU, err = gpu.NewModel(d, m); err != nil {
			d.Close()
		} else {
			s.dev = d
		}
	}
	if err != nil {
		if kind == "gpu" {
			return nil, err
		}
		s.Why = strings.TrimPrefix(err.Error(), "gpu: ")
		s.Note = s.Why + "; sampling on the CPU"
	}
	return s, nil
}

// Device is the GPU the sampler runs on, nil on the CPU.
func (s *Sampler) Device() *gpu.Device { return s.dev }

// Close frees the GPU side.
func (s *Sampler) Close() {
	if s.GPU != nil {
		s.GPU.Release()
		s.dev.Close()
		s.GPU, s.dev = nil, nil
	}
}

// Name says where sampling runs: the GPU adapter's name, or "CPU".
func (s *Sampler) Name() string {
	if s.GPU != nil {
		return "GPU: " + s.dev.Name()
	}
	return "CPU"
}

// Progress is a step of a run: step I of N at time T (N = 0 for an adaptive
// solver such as rk45, whose step count is not known ahead), Done the share
// of the run behind it (I/N, or for an adaptive solver the share of the time
// from 1 to its end time covered), and with previews the decoded prediction
// of the final images (RGBA8, like Result.RGBA).
type Progress struct {
	I, N    int
	T, Done float64
	Preview []byte
}

// done is Progress.Done for step i of n at time t of a run ending at end.
func done(i, n int, t, end float64) float64 {
	if n > 0 {
		return float64(i) / float64(n)
	}
	return min(max((1-t)/(1-end), 0), 1)
}

// Result holds count RGBA8 images, one after another, row-major.
type Result struct {
	RGBA  []byte
	Stats sampler.Stats
	// OnGPU says whether the GPU ran it; Note why not, when it was there but
	// does not run the sampler.
	OnGPU bool
	Note  string
}

// OnGPU says whether r runs on the GPU: there is one, and it runs r's sampler.
func (s *Sampler) OnGPU(r runtime.Request) bool {
	return s.GPU != nil && gpu.Supports(r.Sampler.Defaults(s.CPU.SDE).Name)
}

// Sample runs r. With previews, progress gets each step's decoded prediction
// (on the CPU that costs a decoder pass a step). progress may be nil.
func (s *Sampler) Sample(r runtime.Request, previews bool, progress func(Progress)) (*Result, error) {
	m := s.CPU
	cfg := r.Sampler.Defaults(m.SDE)
	name, end := cfg.Name, cfg.EndTime
	if s.OnGPU(r) {
		var cb func(gpu.Progress)
		if progress != nil {
			cb = func(p gpu.Progress) { progress(Progress{p.I, p.N, p.T, done(p.I, p.N, p.T, end), p.Preview}) }
		}
		res, err := s.GPU.Sample(r, gpu.Options{Preview: previews && progress != nil, PreviewEvery: s.PreviewEvery}, cb)
		if err != nil {
			return nil, err
		}
		return &Result{RGBA: res.RGBA, Stats: res.Stats, OnGPU: true}, nil
	}
	var cb sampler.Callback
	if progress != nil {
		var last time.Time
		var wait time.Duration
		cb = func(st sampler.Step) {
			p := Progress{I: st.I, N: st.N, T: st.T, Done: done(st.I, st.N, st.T, end)}
			if previews && st.Denoised != nil && (last.IsZero() || time.Since(last) >= wait) {
				t0 := time.Now()
				if img, err := m.Decode(st.Denoised, r.Count); err == nil {
					p.Preview = runtime.RGBA8(img, r.Count, m.DataShape())
				}
				last = time.Now()
				if wait = s.PreviewEvery; wait > 0 {
					wait = max(wait, 3*last.Sub(t0))
				}
			}
			progress(p)
		}
	}
	res, err := m.Sample(r, cb)
	if err != nil {
		return nil, err
	}
	out := &Result{RGBA: runtime.RGBA8(res.Images, r.Count, m.DataShape()), Stats: res.Stats}
	if s.GPU != nil {
		out.Note = fmt.Sprintf("the GPU does not run %s (it runs %s); sampled on the CPU", name, strings.Join(gpu.Samplers, ", "))
	}
	return out, nil
}
