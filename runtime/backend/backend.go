// Package backend picks where a model samples, the GPU (package gpu) or the
// CPU (package runtime), and gives the callers (the trainer's sample command,
// the browser build, the desktop viewer) one way to sample with progress and
// decoded previews, whichever runs.
package backend

import (
	"fmt"
	"strings"

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
	// Note says why the CPU runs where the GPU was wanted ("" otherwise).
	Note string
	dev  *gpu.Device
}

// Open prepares m on the backend asked for: "gpu" fails without a GPU,
// "auto" falls back to the CPU and says why in Note, "cpu" never tries.
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
		s.Note = fmt.Sprintf("no GPU (%v); sampling on the CPU", err)
	}
	return s, nil
}

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

// Progress is a step of a run: step I of N at time T, and with previews the
// decoded prediction of the final images (RGBA8, like Result.RGBA).
type Progress struct {
	I, N    int
	T       float64
	Preview []byte
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

// Sample runs r. With previews, progress gets each step's decoded prediction
// (on the CPU that costs a decoder pass a step). progress may be nil.
func (s *Sampler) Sample(r runtime.Request, previews bool, progress func(Progress)) (*Result, error) {
	m := s.CPU
	name := r.Sampler.Defaults(m.SDE).Name
	if s.GPU != nil && gpu.Supports(name) {
		var cb func(gpu.Progress)
		if progress != nil {
			cb = func(p gpu.Progress) { progress(Progress{p.I, p.N, p.T, p.Preview}) }
		}
		res, err := s.GPU.Sample(r, gpu.Options{Preview: previews && progress != nil}, cb)
		if err != nil {
			return nil, err
		}
		return &Result{RGBA: res.RGBA, Stats: res.Stats, OnGPU: true}, nil
	}
	var cb sampler.Callback
	if progress != nil {
		cb = func(st sampler.Step) {
			p := Progress{I: st.I, N: st.N, T: st.T}
			if previews && st.Denoised != nil {
				if img, err := m.Decode(st.Denoised, r.Count); err == nil {
					p.Preview = runtime.RGBA8(img, r.Count, m.DataShape())
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
