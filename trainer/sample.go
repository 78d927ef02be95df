package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/backend"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/weights"
)

func runSample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (default: the shipped Fashion-MNIST model)")
	out := fs.String("out", "samples.png", "PNG grid to write")
	name := fs.String("sampler", "", "sampler: "+strings.Join(sampler.Names, ", ")+" (default: the model's)")
	nfe := fs.Int("nfe", 0, "network evaluations (default: the model's; rk45 is adaptive)")
	count := fs.Int("count", 64, "images")
	cols := fs.Int("cols", 0, "grid columns (default: square; at most --count)")
	scale := fs.Int("scale", 2, "pixels a model pixel in the PNG grid, 1 to 16")
	seed := fs.Uint64("seed", 0, "random seed")
	temp := fs.Float64("temp", 1, "temperature of the initial noise, in (0, 10]")
	schedule := fs.String("schedule", "", "time steps: uniform, logsnr or edm (default logsnr)")
	eta := fs.Float64("eta", 0, "ddim noise, 0 to 1")
	snr := fs.Float64("snr", 0, "pc corrector signal-to-noise ratio (default 0.16)")
	corr := fs.Int("corrector-steps", 0, "pc Langevin steps per step (default 1)")
	rtol := fs.Float64("rtol", 0, "rk45 relative tolerance (default 1e-5)")
	atol := fs.Float64("atol", 0, "rk45 absolute tolerance (default 1e-5)")
	end := fs.Float64("end-time", 0, "integrate to this t (default 1e-3; rk45 1e-5)")
	quiet := fs.Bool("q", false, "no progress output")
	kind := fs.String("backend", "auto", "where to sample: gpu (WebGPU), cpu, or auto (the GPU when there is one and it runs the sampler)")
	class := fs.String("class", "", "a class-conditional model's class, by name or index (default: unconditional)")
	gscale := fs.Float64("guidance-scale", 1, "with --class: the guidance scale, 0 to 20 (0: unconditional, 1: the conditional model, above 1: closer to the class)")
	clfPath := fs.String("classifier", "", "with --class: classifier guidance with this noisy classifier of the model's latents (trainer classifier --noisy) instead of classifier-free guidance; any model (a shipped model's own is the default for it)")
	kindFlag := fs.String("guidance", "", "with --class: cfg (classifier-free: a class-conditional model) or classifier (classifier guidance: --classifier, or a shipped model's own); default: cfg where the model has classes, else classifier")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !slices.Contains(backend.Kinds, *kind) {
		return fmt.Errorf("trainer sample: --backend %q: want gpu, cpu or auto", *kind)
	}
	switch {
	case *count < 1 || *count > runtime.MaxCount:
		return fmt.Errorf("trainer sample: --count %d out of range [1, %d]", *count, runtime.MaxCount)
	case *cols < 0 || *cols > *count:
		return fmt.Errorf("trainer sample: --cols %d out of range [0, --count %d] (0: square)", *cols, *count)
	case *scale < 1 || *scale > 16:
		return fmt.Errorf("trainer sample: --scale %d out of range [1, 16]", *scale)
	case !(*temp > 0 && *temp <= 10):
		return fmt.Errorf("trainer sample: --temp %v out of range (0, 10]", *temp)
	}
	data := weights.Default()
	if *path != "" {
		var err error
		if data, err = os.ReadFile(*path); err != nil {
			return fmt.Errorf("trainer sample: %v", err)
		}
	} else {
		*path = "default weights"
	}
	m, err := runtime.Load(data)
	if err != nil {
		return fmt.Errorf("trainer sample: %s: %v", *path, err)
	}
	d := m.File.Arch.Sampling
	cfg := sampler.Config{Name: *name, NFE: *nfe, Schedule: sampler.Schedule(*schedule), Eta: *eta, SNR: *snr,
		CorrectorSteps: *corr, RTol: *rtol, ATol: *atol, EndTime: *end}
	if cfg.Name == "" {
		cfg.Name = d.Sampler
		if cfg.EndTime == 0 {
			cfg.EndTime = d.EndTime
		}
	}
	if cfg.NFE == 0 {
		cfg.NFE = d.NFE
	}
	start := time.Now()
	req := runtime.Request{Sampler: cfg, Count: *count, Seed: *seed, Temperature: *temp}
	if *clfPath != "" && *class == "" {
		return fmt.Errorf("trainer sample: --classifier guides towards a class: name one with --class")
	}
	gkind := *kindFlag
	switch {
	case gkind != "" && gkind != "cfg" && gkind != "classifier":
		return fmt.Errorf("trainer sample: --guidance %q: want cfg or classifier", gkind)
	case gkind == "cfg" && *clfPath != "":
		return fmt.Errorf("trainer sample: --guidance cfg does not use --classifier")
	case gkind == "" && (*clfPath != "" || len(m.Classes()) == 0):
		gkind = "classifier"
	case gkind == "":
		gkind = "cfg"
	}
	if *class != "" {
		if !(*gscale >= 0 && *gscale <= runtime.MaxGuidance) {
			return fmt.Errorf("trainer sample: --guidance-scale %v out of range [0, %d]", *gscale, runtime.MaxGuidance)
		}
		var clf *runtime.Classifier
		index := m.ClassIndex
		if gkind == "classifier" {
			shipped, _ := weights.ShippedFor(data)
			b := shipped.ClassifierFile()
			switch {
			case *clfPath != "":
				if b, err = os.ReadFile(*clfPath); err != nil {
					return fmt.Errorf("trainer sample: --classifier: %v", err)
				}
			case b == nil:
				train := "trainer classifier --noisy" // the shipped default's, without --weights
				if !bytes.Equal(data, weights.Default()) {
					train += " --weights " + *path
				}
				if len(m.Classes()) == 0 {
					return fmt.Errorf("trainer sample: %s is not class-conditional (trainer fit --classes makes one for classifier-free guidance), and classifier guidance needs a classifier of its latents: --classifier FILE (%s)", *path, train)
				}
				return fmt.Errorf("trainer sample: classifier guidance of %s needs a classifier of its latents: --classifier FILE (%s)", *path, train)
			default:
				*clfPath = "the shipped classifier " + shipped.Classifier
			}
			if clf, err = runtime.LoadClassifier(b); err != nil {
				return fmt.Errorf("trainer sample: --classifier %s: %v", *clfPath, err)
			}
			index = clf.ClassIndex
		}
		c, err := index(*class)
		if err != nil {
			return fmt.Errorf("trainer sample: --class: %v", err)
		}
		req.Guide = &runtime.Guide{Class: c, Scale: *gscale, Classifier: clf}
		if err := m.CheckGuide(req.Guide); err != nil {
			return fmt.Errorf("trainer sample: %v", err)
		}
	}
	show := func(i, n int, t float64) {
		if *quiet {
			return
		}
		total := fmt.Sprint(n)
		if n == 0 {
			total = "?"
		}
		fmt.Fprintf(os.Stderr, "\rtrainer sample: step %d/%s  t=%.4f  %.1fs", i, total, t, time.Since(start).Seconds())
	}
	images, used, where, err := sampleOn(*kind, m, req, show)
	if !*quiet {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return fmt.Errorf("trainer sample: %v", err)
	}
	if isPoints(m.DataShape()) {
		err = writeScatter(*out, images, fmt.Sprintf("%s, %s %d NFE", m.File.Arch.Name, cfg.Name, used))
	} else {
		var img image.Image
		var grid *image.NRGBA
		if grid, err = runtime.Grid(images, *count, m.DataShape(), *cols, 2); err == nil {
			img = runtime.Scale(grid, *scale)
			err = writePNG(*out, img)
		}
	}
	if err != nil {
		return err
	}
	guide := ""
	if g := req.Guide; g != nil && g.Classifier != nil {
		guide = fmt.Sprintf(", class %s by classifier guidance at scale %g", g.Classifier.Names()[g.Class], g.Scale)
	} else if g != nil {
		guide = fmt.Sprintf(", class %s at guidance scale %g", m.Classes()[g.Class], g.Scale)
	}
	fmt.Printf("wrote %s: %d images, sampler %s, %d NFE, seed %d%s, %.2fs on %s\n",
		*out, *count, cfg.Name, used, *seed, guide, time.Since(start).Seconds(), where)
	return nil
}

// sampleOn runs req on the backend asked for and returns the images, the NFE
// and where they ran; auto says on stderr why it uses the CPU, if it does.
func sampleOn(kind string, m *runtime.Model, req runtime.Request, show func(i, n int, t float64)) ([]float32, int, string, error) {
	if !isPoints(m.DataShape()) {
		return sampleImages(kind, m, req, show)
	}
	// Points need their float coordinates, not the viewers' RGBA bytes, and
	// a toy MLP gains nothing from a GPU.
	if kind == "gpu" {
		return nil, 0, "", fmt.Errorf("%s models 2-D points: it samples on the CPU (--backend cpu or auto)", m.File.Arch.Name)
	}
	res, err := m.Sample(req, func(s sampler.Step) { show(s.I, s.N, s.T) })
	if err != nil {
		return nil, 0, "", err
	}
	return res.Images, res.Stats.NFE, "the CPU", nil
}

func sampleImages(kind string, m *runtime.Model, req runtime.Request, show func(i, n int, t float64)) ([]float32, int, string, error) {
	s, err := backend.Open(m, kind)
	if err != nil {
		return nil, 0, "", err
	}
	defer s.Close()
	if s.Note != "" {
		fmt.Fprintf(os.Stderr, "trainer sample: %s\n", s.Note)
	}
	res, err := s.Sample(req, false, func(p backend.Progress) { show(p.I, p.N, p.T) })
	if err != nil {
		return nil, 0, "", err
	}
	where := "the " + s.Name()
	if !res.OnGPU {
		where = "the CPU"
	}
	if res.Note != "" {
		fmt.Fprintf(os.Stderr, "trainer sample: %s\n", res.Note)
	}
	return gpu.Images(res.RGBA, req.Count, m.DataShape()), res.Stats.NFE, where, nil
}

// writePNG writes atomically, so an interrupted run never leaves a
// half-written image.
func writePNG(path string, img image.Image) error {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return fmt.Errorf("trainer: encoding %s: %v", path, err)
	}
	if err := lsgm.WriteFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("trainer: writing %s: %v", path, err)
	}
	return nil
}

// loadModel loads the weights file at path, or the shipped model for "",
// with the name messages give it and its bytes; errors start with cmd.
func loadModel(cmd, path string) (m *runtime.Model, name string, b []byte, err error) {
	b, name = weights.Default(), "the shipped model"
	if path != "" {
		if b, err = os.ReadFile(path); err != nil {
			return nil, "", nil, fmt.Errorf("%s: %v", cmd, err)
		}
		name = path
	}
	if m, err = runtime.Load(b); err != nil {
		return nil, "", nil, fmt.Errorf("%s: %s: %v", cmd, name, err)
	}
	return m, name, b, nil
}

func runInfo(args []string) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (or give it as the argument)")
	archJSON := fs.Bool("arch", false, "print the architecture (the three networks' graphs, shapes, SDE) as JSON instead")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: trainer info [--weights] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *path == "" && fs.NArg() == 1:
		*path = fs.Arg(0)
	case *path != "" && fs.NArg() == 0:
	default:
		return errors.New("usage: trainer info [--weights] FILE (one weights file)")
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("trainer info: %v", err)
	}
	if lsgm.IsCheckpoint(data) {
		return fmt.Errorf("trainer info: %s is a training checkpoint, not a weights file; `trainer export --run %s --out model.lsgm` writes its EMA weights as one", *path, filepath.Dir(*path))
	}
	if bytes.HasPrefix(data, []byte(weights.ClassifierMagic)) && !*archJSON {
		return classifierInfo(*path, data)
	}
	f, err := weights.Decode(data)
	if err != nil {
		return fmt.Errorf("trainer info: %s: %v", *path, err)
	}
	a := f.Arch
	if *archJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	n, half := f.NumParams(), 0
	for _, t := range f.Tensors {
		if t.Half {
			half++
		}
	}
	sdeText := a.SDE.Kind
	if len(a.SDE.Params) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(a.SDE.Params)) {
			kv = append(kv, fmt.Sprintf("%s=%g", k, a.SDE.Params[k]))
		}
		sdeText += " (" + strings.Join(kv, ", ") + ")"
	} else {
		sdeText += " (default parameters)"
	}
	kind := "likelihood " + a.Likelihood
	if a.Likelihood == "none" {
		kind = "no VAE (a data-space score model)"
	}
	fmt.Printf("%s: %s, %d bytes\n", filepath.Base(*path), a.Name, len(data))
	fmt.Printf("  data %v, latent %v, %s, sde %s, mixed score %v\n", a.DataShape, a.LatentShape, kind, sdeText, a.MixLogit != "")
	fmt.Printf("  %d tensors (%d in f16), %d parameters\n", len(f.Tensors), half, n)
	if e := f.EncoderSHA256(); e != "" {
		fmt.Printf("  encoder %.12s (a noisy classifier of these latents records it)\n", e)
	}
	fmt.Printf("  default sampler %s, %d NFE, end time %g\n", a.Sampling.Sampler, a.Sampling.NFE, a.Sampling.EndTime)
	if len(a.Classes) > 0 {
		fmt.Printf("  class-conditional (classifier-free guidance: trainer sample --class): %s\n", strings.Join(a.Classes, ", "))
	}
	p := f.Provenance
	code := p.CodeVersion
	if code == "" || code == "unknown" {
		code = "not recorded"
	}
	fmt.Printf("  provenance: dataset %s, steps %d, code %s, created %s\n  command: %s\n", p.Dataset, p.Steps, code, p.Created, p.Command)
	for _, k := range slices.Sorted(maps.Keys(p.Metrics)) {
		if !isFDKey(k) {
			fmt.Printf("  %s = %g\n", k, p.Metrics[k])
		}
	}
	printFDTable(p.Metrics)
	if p.Notes != "" {
		fmt.Printf("  notes: %s\n", strings.ReplaceAll(p.Notes, "\n", "\n         "))
	}
	return nil
}

// classifierInfo is trainer info on a classifier file: what it classifies,
// how well, and (a noisy one) which model's latents.
func classifierInfo(path string, b []byte) error {
	c, err := weights.DecodeClassifier(b)
	if err != nil {
		return fmt.Errorf("trainer info: %s: %v", path, err)
	}
	n := 0
	for _, t := range c.Tensors {
		n += len(t)
	}
	if !c.Noisy {
		fmt.Printf("%s: Fréchet-distance feature classifier of images, %d classes, %d parameters\n", path, c.Classes, n)
		fmt.Printf("  test accuracy %.2f%%, %d epochs on %s (sha256 %.12s)\n", 100*c.Accuracy, c.Epochs, c.Dataset, c.DatasetSHA256)
		return nil
	}
	fmt.Printf("%s: noisy classifier of %s's latents %v (classifier guidance), %d classes, %d parameters\n", path, c.Model, c.LatentShape, c.Classes, n)
	fmt.Printf("  classes: %s\n", strings.Join(c.Names, ", "))
	switch {
	case c.EncoderSHA256 != "":
		fmt.Printf("  bound to the encoder %.12s (trainer info on a model shows its own)\n", c.EncoderSHA256)
	default:
		fmt.Println("  not bound to an encoder (an older file): any model of its name and latent shape loads it; trainer classifier --rebind binds it")
	}
	times := make([]string, 0, len(c.AccuracyAt))
	for k := range c.AccuracyAt {
		times = append(times, k)
	}
	sort.Slice(times, func(i, j int) bool { return must64(times[i]) < must64(times[j]) })
	var acc []string
	for _, k := range times {
		acc = append(acc, fmt.Sprintf("%.1f%% at t=%s", 100*c.AccuracyAt[k], k))
	}
	fmt.Printf("  test accuracy: %s\n", strings.Join(acc, ", "))
	fmt.Printf("  %d epochs on %s (sha256 %.12s)\n", c.Epochs, c.Dataset, c.DatasetSHA256)
	return nil
}

// must64 parses a recorded time key; a foreign key sorts first.
func must64(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.Inf(-1)
	}
	return v
}
