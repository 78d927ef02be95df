package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

// EditRequest is one editing job: SDEdit of guide images, or, with a
// Mask, inpainting of their unknown pixels.
type EditRequest struct {
	// Sampler solves the reverse process: any sampler for SDEdit (its
	// StartTime is Strength), ddim or ddpm for inpainting.
	Sampler sampler.Config
	// Guides are Count images [Count, C, H, W] with values in [0, 1].
	Guides []float32
	Count  int
	// Strength is SDEdit's start time t0 in (0, 1]: near 0 the result is
	// the guide (through the VAE, its reconstruction); at 1 the guide is
	// all but forgotten.
	Strength float64
	// Mask, when set, asks for inpainting: one value a pixel [Count, H, W],
	// 1 where the guide's pixel is to be filled and 0 where it is kept.
	Mask []float32
	// Jumps is inpainting's resampling: each step is taken this many times
	// (default 5; RePaint's jumps of length 1).
	Jumps int
	Seed  uint64
	Stop  <-chan struct{}
	Guide *Guide // class guidance, for a class-conditional model
}

// EditResult holds the edited images ([Count, C, H, W] in [0, 1]).
type EditResult struct {
	Images []float32
	Stats  sampler.Stats
	// KnownError is inpainting's mean absolute difference between the
	// decoded result and the guide on the known pixels, before they are
	// put back in Images (in [0, 1] units: 1/255 is one grey level).
	KnownError float64
	// Decoded is inpainting's decoded result before the known pixels are
	// put back.
	Decoded []float32
}

// check validates r against the model, naming what is wrong.
func (m *Model) checkEdit(r *EditRequest) error {
	if r.Count < 1 || r.Count > MaxCount {
		return fmt.Errorf("runtime: edit count %d out of range [1, %d]", r.Count, MaxCount)
	}
	shape := m.DataShape()
	d := weights.Numel(shape)
	if len(r.Guides) != r.Count*d {
		return fmt.Errorf("runtime: %d guide values for %d images of %v (%d each)", len(r.Guides), r.Count, shape, d)
	}
	for i, v := range r.Guides {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("runtime: guide value %d is %v, outside [0, 1]", i, v)
		}
	}
	if r.Mask == nil {
		if !(r.Strength > 0 && r.Strength <= 1) {
			return fmt.Errorf("runtime: edit strength %v out of range (0, 1]", r.Strength)
		}
		return nil
	}
	if r.Strength != 0 {
		return fmt.Errorf("runtime: inpainting starts from noise: strength %v applies to SDEdit only", r.Strength)
	}
	px := d / shape[0]
	if len(r.Mask) != r.Count*px {
		return fmt.Errorf("runtime: mask of %d values for %d images of %dx%d pixels", len(r.Mask), r.Count, shape[1], shape[2])
	}
	for i := 0; i < r.Count; i++ {
		fill := 0
		for _, v := range r.Mask[i*px : (i+1)*px] {
			if v != 0 && v != 1 {
				return fmt.Errorf("runtime: mask value %v: want 0 (keep) or 1 (fill)", v)
			}
			fill += int(v)
		}
		switch fill {
		case 0:
			return fmt.Errorf("runtime: the mask of image %d is empty: nothing to fill", i)
		case px:
			return fmt.Errorf("runtime: the mask of image %d is full: nothing is known (sample instead)", i)
		}
	}
	if r.Jumps == 0 {
		r.Jumps = 5
	}
	return nil
}

// dataScale maps images in [0, 1] to the scale the encoder (or a
// data-space model) takes: [0, 1] for bernoulli, else [-1, 1].
func (m *Model) dataScale(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		if m.File.Arch.Likelihood == "bernoulli" {
			out[i] = v
		} else {
			out[i] = 2*v - 1
		}
	}
	return out
}

// Latents are the latents of n images in [0, 1]: the posterior means, or a
// data-space model's pixels in [-1, 1] (Decode maps them back).
func (m *Model) Latents(x []float32, n int) ([]float32, error) {
	if m.enc == nil {
		return m.dataScale(x), nil
	}
	mu, _, err := m.Encode(m.dataScale(x), n)
	return mu, err
}

// SDEditRequest is the sampling request of r's SDEdit, for any backend:
// the guides' latents diffused to the strength (the noise from r.Seed's
// StreamGuide), and the sampler started there.
func (m *Model) SDEditRequest(r EditRequest) (Request, error) {
	if err := m.checkEdit(&r); err != nil {
		return Request{}, err
	}
	if r.Mask != nil {
		return Request{}, errors.New("runtime: inpainting is not a sampling request")
	}
	z0, err := m.Latents(r.Guides, r.Count)
	if err != nil {
		return Request{}, err
	}
	z := make([]float32, len(z0))
	sampler.Diffuse(z, z0, m.SDE, r.Strength, rng.Source{Seed: r.Seed, Dim: m.LatentDim()})
	cfg := r.Sampler
	cfg.StartTime = r.Strength
	return Request{Sampler: cfg, Count: r.Count, Seed: r.Seed, Start: z, Stop: r.Stop, Guide: r.Guide}, nil
}

// Edit runs SDEdit (Meng et al. 2022) on the guides, or inpaints their
// masked pixels. SDEdit encodes each guide (its posterior mean), diffuses
// the latent to Strength and solves back with any sampler. Inpainting a
// data-space model is RePaint (Lugmayr et al. 2022): the known pixels,
// diffused to each step's time, replace the state's, with resampling. A
// latent model's mask lives in pixel space, so its inpainting projects
// each step's clean prediction instead: decode it, put the known pixels
// back, encode (the posterior mean), and continue the DDIM step from that
// latent; the known pixels are put back in the final images.
func (m *Model) Edit(r EditRequest, progress sampler.Callback) (*EditResult, error) {
	if err := m.checkEdit(&r); err != nil {
		return nil, err
	}
	if err := m.CheckGuide(r.Guide); err != nil {
		return nil, err
	}
	ld := m.LatentDim()
	noise := rng.Source{Seed: r.Seed, Dim: ld}
	prior := m.prior(r.Guide)
	if r.Stop != nil {
		prior = stoppable{prior, r.Stop}
	}
	res := &EditResult{}
	var z []float32
	var err error
	if r.Mask == nil {
		req, err := m.SDEditRequest(r)
		if err != nil {
			return nil, err
		}
		out, err := m.Sample(req, progress)
		if err != nil {
			return nil, err
		}
		res.Images, res.Stats = out.Images, out.Stats
		return res, nil
	}
	shape := m.DataShape()
	d, px := weights.Numel(shape), shape[1]*shape[2]
	keep := make([]float32, r.Count*d) // 1 on known pixels, every channel
	for i := range keep {
		img, k := i/d, i%px
		keep[i] = 1 - r.Mask[img*px+k]
	}
	composite := func(dst, x []float32) {
		for i, k := range keep {
			if k == 1 {
				dst[i] = r.Guides[i]
			} else {
				dst[i] = x[i]
			}
		}
	}
	in := sampler.Inpainting{Jumps: r.Jumps}
	if m.enc == nil {
		in.Known, in.Mask = m.dataScale(r.Guides), keep
	} else {
		in.Project = func(x0 []float32) error {
			img, err := m.Decode(x0, r.Count)
			if err != nil {
				return err
			}
			composite(img, img)
			mu, err := m.Latents(img, r.Count)
			copy(x0, mu)
			return err
		}
	}
	z = make([]float32, r.Count*ld)
	sampler.Prior(z, m.SDE, noise, 1)
	if res.Stats, err = sampler.Inpaint(r.Sampler, prior, m.SDE, z, ld, in, noise, progress); err != nil {
		return nil, err
	}
	if res.Images, err = m.Decode(z, r.Count); err != nil {
		return nil, err
	}
	var sum float64
	var n int
	for i, k := range keep {
		if k == 1 {
			sum += math.Abs(float64(res.Images[i] - r.Guides[i]))
			n++
		}
	}
	res.KnownError = sum / float64(n)
	res.Decoded = append([]float32(nil), res.Images...)
	composite(res.Images, res.Images)
	return res, nil
}
