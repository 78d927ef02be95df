package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // the guides and masks
	"os"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/weights"
)

// runEdit is `trainer edit`: SDEdit of a guide image, or inpainting of its
// masked pixels, written as a grid: the guide (masked pixels grey), then
// the edits.
func runEdit(args []string) error {
	fs := flag.NewFlagSet("edit", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (default: the shipped Fashion-MNIST model)")
	initPath := fs.String("init", "", "guide image: a PNG at the model's size (grey for a grey model)")
	strength := fs.Float64("strength", 0.8, "SDEdit: the time the guide is diffused to, in (0, 1]: near 0 keeps it, 1 forgets it (the noise grows with t as the model's SDE says: the geometric VP's is 0.07 at 0.5, 0.35 at 0.8, 0.59 at 0.9)")
	maskPath := fs.String("mask", "", "inpainting: a PNG at the model's size, white where the guide is to be filled, black where it is kept")
	name := fs.String("sampler", "", "sampler (default: the model's for SDEdit, ddpm for inpainting, which runs ddim or ddpm)")
	nfe := fs.Int("nfe", 0, "network evaluations a pass (default: the model's for SDEdit, 20 steps for inpainting)")
	eta := fs.Float64("eta", 0, "ddim noise, 0 to 1")
	jumps := fs.Int("jumps", 5, "inpainting: times each step is taken (RePaint's resampling), 1 to 50")
	count := fs.Int("count", 8, "edits of the guide, each with its own noise")
	seed := fs.Uint64("seed", 0, "random seed")
	out := fs.String("out", "edit.png", "PNG grid to write: the guide, then the edits")
	scale := fs.Int("scale", 4, "pixels a model pixel in the PNG grid, 1 to 16")
	class := fs.String("class", "", "a class-conditional model's class, by name or index")
	gscale := fs.Float64("guidance-scale", 1, "with --class: the classifier-free guidance scale, 0 to 20")
	quiet := fs.Bool("q", false, "no progress output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *initPath == "":
		return fmt.Errorf("trainer edit: --init is required: the guide image")
	case *count < 1 || *count > runtime.MaxCount:
		return fmt.Errorf("trainer edit: --count %d out of range [1, %d]", *count, runtime.MaxCount)
	case *scale < 1 || *scale > 16:
		return fmt.Errorf("trainer edit: --scale %d out of range [1, 16]", *scale)
	case *maskPath == "" && !(*strength > 0 && *strength <= 1):
		return fmt.Errorf("trainer edit: --strength %v out of range (0, 1]", *strength)
	case *jumps < 1 || *jumps > sampler.MaxJumps:
		return fmt.Errorf("trainer edit: --jumps %d out of range [1, %d]", *jumps, sampler.MaxJumps)
	}
	data := weights.Default()
	if *path != "" {
		var err error
		if data, err = os.ReadFile(*path); err != nil {
			return fmt.Errorf("trainer edit: %v", err)
		}
	} else {
		*path = "default weights"
	}
	m, err := runtime.Load(data)
	if err != nil {
		return fmt.Errorf("trainer edit: %s: %v", *path, err)
	}
	shape := m.DataShape()
	if isPoints(shape) {
		return fmt.Errorf("trainer edit: %s models points, not images", m.File.Arch.Name)
	}
	guide, err := readImage(*initPath, shape)
	if err != nil {
		return fmt.Errorf("trainer edit: --init: %v", err)
	}
	d := m.File.Arch.Sampling
	cfg := sampler.Config{Name: *name, NFE: *nfe, Eta: *eta}
	req := runtime.EditRequest{Count: *count, Seed: *seed}
	var mask []float32
	if *maskPath != "" {
		if mask, err = readImage(*maskPath, []int{1, shape[1], shape[2]}); err != nil {
			return fmt.Errorf("trainer edit: --mask: %v", err)
		}
		for i, v := range mask { // white fills
			mask[i] = 0
			if v >= 0.5 {
				mask[i] = 1
			}
		}
		if cfg.Name == "" {
			cfg.Name = "ddpm"
		}
		if cfg.NFE == 0 {
			cfg.NFE = 20
		}
		req.Jumps = *jumps
		for range *count {
			req.Mask = append(req.Mask, mask...)
		}
	} else {
		if cfg.Name == "" {
			cfg.Name, cfg.EndTime = d.Sampler, d.EndTime
		}
		if cfg.NFE == 0 {
			cfg.NFE = d.NFE
		}
		req.Strength = *strength
	}
	req.Sampler = cfg
	for range *count {
		req.Guides = append(req.Guides, guide...)
	}
	if *class != "" {
		c, err := m.ClassIndex(*class)
		if err != nil {
			return fmt.Errorf("trainer edit: --class: %v", err)
		}
		req.Guide = &runtime.Guide{Class: c, Scale: *gscale}
	}
	start := time.Now()
	var progress sampler.Callback
	if !*quiet {
		progress = func(s sampler.Step) {
			fmt.Fprintf(os.Stderr, "\rtrainer edit: step %d/%d  t=%.4f  %.1fs", s.I, s.N, s.T, time.Since(start).Seconds())
		}
	}
	res, err := m.Edit(req, progress)
	if !*quiet {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return fmt.Errorf("trainer edit: %v", err)
	}
	// The guide first, its pixels to fill shown mid-grey.
	shown := append([]float32(nil), guide...)
	px := shape[1] * shape[2]
	for i := range shown {
		if mask != nil && mask[i%px] == 1 {
			shown[i] = 0.5
		}
	}
	grid, err := runtime.Grid(append(shown, res.Images...), *count+1, shape, min(*count+1, 10), 2)
	if err != nil {
		return err
	}
	if err := writePNG(*out, runtime.Scale(grid, *scale)); err != nil {
		return err
	}
	what := fmt.Sprintf("SDEdit at strength %g (the latent's noise there: m_t %.3g, sigma_t %.3g)", *strength, m.SDE.Mean(*strength), sde.Sigma(m.SDE, *strength))
	if mask != nil {
		what = fmt.Sprintf("inpainting with %d jumps a step (known pixels decoded within %.2f grey levels on average, then put back)", req.Jumps, 255*res.KnownError)
	}
	fmt.Printf("wrote %s: the guide and %d edits, %s, sampler %s, %d NFE, seed %d, %.2fs on the CPU\n",
		*out, *count, what, cfg.Name, res.Stats.NFE, *seed, time.Since(start).Seconds())
	return nil
}

// readImage reads a PNG of shape [c, h, w] as values in [0, 1], refusing
// another size, or colour for a grey model.
func readImage(path string, shape []int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	b := img.Bounds()
	c, h, w := shape[0], shape[1], shape[2]
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("%s is %dx%d pixels; the model takes %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	out := make([]float32, c*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			rgb := [3]float32{float32(p.R) / 65535, float32(p.G) / 65535, float32(p.B) / 65535}
			if c == 1 {
				if rgb[0] != rgb[1] || rgb[1] != rgb[2] {
					return nil, fmt.Errorf("%s has colour at (%d, %d); the model takes grey images (1 channel)", path, x, y)
				}
				out[y*w+x] = rgb[0]
				continue
			}
			if c != 3 {
				return nil, fmt.Errorf("the model takes %d channels; PNG guides hold 1 or 3", c)
			}
			for k := range 3 {
				out[k*h*w+y*w+x] = rgb[k]
			}
		}
	}
	return out, nil
}
