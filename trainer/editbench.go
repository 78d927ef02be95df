package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// runEditBench is `trainer editbench`: the editing figures of the README.
// SDEdit's faithfulness against realism: test images corrupted by noise or
// blur are the guides; for each strength, the results' distance to their
// guides and to the clean images, and their Fréchet distance to test images
// the guides do not come from. Inpainting: test images with the left half,
// the centre square or random strokes masked, filled by each model given
// (LSGM's latent projection; a data-space model's RePaint), with the decoded
// error on the known pixels and the Fréchet distance of the filled images.
func runEditBench(args []string) error {
	fs := flag.NewFlagSet("editbench", flag.ContinueOnError)
	models := fs.String("weights", "", "weights files, comma separated (default: the shipped model)")
	clf := fs.String("classifier", "weights/fmnist-classifier.lsgmc", "feature classifier")
	dir := fs.String("data", data.DefaultDir, "folder with the Fashion-MNIST IDX files")
	n := fs.Int("n", 500, "guides (the first test images) per SDEdit setting")
	ni := fs.Int("n-inpaint", 200, "images per inpainting setting")
	strengths := fs.String("strengths", "0.2,0.4,0.6,0.8,0.9,0.95", "SDEdit strengths, comma separated")
	guides := fs.String("guides", "noise,blur", "guide corruptions: noise (Gaussian, sd --noise), blur (Gaussian, sd --blur pixels); empty: no SDEdit")
	noiseSD := fs.Float64("noise", 0.3, "the noisy guides' noise sd, in [0, 1] pixel units")
	blurSD := fs.Float64("blur", 1.5, "the blurred guides' blur sd, in pixels")
	masks := fs.String("masks", "left,centre,strokes", "inpainting masks: left (the left half), centre (the centre square of half the side), strokes (4 random strokes 3 pixels wide); empty: no inpainting")
	sdeditCfg := fs.String("sampler", "dpmpp2m:10", "SDEdit's sampler:NFE")
	inpaintCfg := fs.String("inpaint", "ddpm:20:5", "inpainting's sampler:steps:jumps (NFE = steps x jumps)")
	seed := fs.Uint64("seed", 1, "seed")
	blas := fs.String("blas", "auto", "matrix multiply backend for the classifier")
	quiet := fs.Bool("q", false, "no progress output")
	pictures := fs.String("pictures", "", "a folder to write example grids to: sdedit-GUIDE.png (rows: examples; columns: clean, guide, each strength) and inpaint-MASK.png (clean, masked, each model's fill)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nn.UseBLAS(*blas); err != nil {
		return fmt.Errorf("trainer editbench: %v", err)
	}
	var test *data.Set
	const examples = 6
	// picture writes rows of examples, each row the i-th image of every column.
	picture := func(name string, cols [][]float32) error {
		if *pictures == "" {
			return nil
		}
		d := weights.Numel(test.Shape)
		var all []float32
		k := min(examples, len(cols[0])/d)
		for i := 0; i < k; i++ {
			for _, c := range cols {
				all = append(all, c[i*d:(i+1)*d]...)
			}
		}
		g, err := runtime.Grid(all, k*len(cols), test.Shape, len(cols), 2)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*pictures, 0o755); err != nil {
			return err
		}
		return writePNG(filepath.Join(*pictures, name), runtime.Scale(g, 3))
	}
	if *n < 2 || *ni < 2 {
		return errors.New("trainer editbench: --n and --n-inpaint must be at least 2")
	}
	c, err := loadClassifier(*clf)
	if err != nil {
		return err
	}
	if test, err = data.FashionMNIST(*dir, "test"); err != nil {
		return fmt.Errorf("trainer editbench: %v", err)
	}
	train, err := data.FashionMNIST(*dir, "train")
	if err != nil {
		return fmt.Errorf("trainer editbench: %v", err)
	}
	d := weights.Numel(test.Shape)
	nmax := max(*n, *ni)
	if 2*nmax > test.N {
		return fmt.Errorf("trainer editbench: %d guides and as many reference images exceed the %d test images", nmax, test.N)
	}
	// The reference: the test images after the guides'.
	nref := test.N - nmax
	fr, err := c.features(test.Images[nmax*d:], nref, nil)
	if err != nil {
		return err
	}
	ref := featureStats(fr, nref, 128)
	fdOf := func(imgs []float32, k int) (float64, error) {
		f, err := c.features(imgs, k, nil)
		if err != nil {
			return 0, err
		}
		return frechet(featureStats(f, k, 128), ref)
	}
	var paths []string
	if *models == "" {
		paths = []string{""}
	} else {
		paths = strings.Split(*models, ",")
	}
	type model struct {
		m    *runtime.Model
		name string
	}
	var ms []model
	for _, p := range paths {
		m, name, _, err := loadModel("trainer editbench", p)
		if err != nil {
			return err
		}
		if !weights.EqualShape(m.DataShape(), test.Shape) {
			return fmt.Errorf("trainer editbench: %s takes %v images, the test set has %v", name, m.DataShape(), test.Shape)
		}
		ms = append(ms, model{m, fmt.Sprintf("%s (%s)", m.File.Arch.Name, name)})
	}
	progress := func(what string) sampler.Callback {
		if *quiet {
			return nil
		}
		return func(s sampler.Step) { fmt.Fprintf(os.Stderr, "\rtrainer editbench: %s: step %d/%d   ", what, s.I, s.N) }
	}
	clearLine := func() {
		if !*quiet {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
	}
	floor := func(k int) (float64, error) { return fdOf(train.Images[:k*d], k) }

	// SDEdit.
	sc, err := parseRun(*sdeditCfg, 2)
	if err != nil {
		return fmt.Errorf("trainer editbench: --sampler: %v", err)
	}
	clean := test.Images[:*n*d]
	fl, err := floor(*n)
	if err != nil {
		return err
	}
	fmt.Printf("## SDEdit: %d test images as guides, %s at %d NFE, seed %d\n\n", *n, sc.name, sc.a, *seed)
	fmt.Printf("Fréchet distance against the other %d test images (features of %s); the floor at n = %d (training images): %.2f.\n", nref, *clf, *n, fl)
	fmt.Printf("Distances are root mean squared per pixel, in grey levels (of 255), mean ± standard error over the %d images.\n\n", *n)
	fmt.Printf("| model | guide | strength | to guide | to clean image | FD | wall time |\n|---|---|---|---|---|---|---|\n")
	for _, g := range list(*guides) {
		guide, err := corrupt(clean, *n, test.Shape, strings.TrimSpace(g), *noiseSD, *blurSD, *seed)
		if err != nil {
			return fmt.Errorf("trainer editbench: %v", err)
		}
		fg, err := fdOf(guide, *n)
		if err != nil {
			return err
		}
		fmt.Printf("| (the guides) | %s | - | 0 | %s | %.2f | - |\n", g, rms(guide, clean, *n, d), fg)
		cols := [][]float32{clean[:min(examples, *n)*d], guide[:min(examples, *n)*d]}
		for mi, m := range ms {
			for _, st := range strings.Split(*strengths, ",") {
				t0, err := strconv.ParseFloat(strings.TrimSpace(st), 64)
				if err != nil {
					return fmt.Errorf("trainer editbench: --strengths %q: %v", st, err)
				}
				start := time.Now()
				var out []float32
				for lo := 0; lo < *n; lo += 250 {
					k := min(250, *n-lo)
					res, err := m.m.Edit(runtime.EditRequest{Sampler: sampler.Config{Name: sc.name, NFE: sc.a}, Guides: guide[lo*d : (lo+k)*d], Count: k, Strength: t0, Seed: *seed + uint64(lo)}, progress(fmt.Sprintf("SDEdit %s %s %g", m.m.File.Arch.Name, g, t0)))
					if err != nil {
						return fmt.Errorf("trainer editbench: %v", err)
					}
					out = append(out, through8(res.Images, k, test.Shape)...)
				}
				secs := time.Since(start).Seconds()
				clearLine()
				fd, err := fdOf(out, *n)
				if err != nil {
					return err
				}
				fmt.Printf("| %s | %s | %g | %s | %s | %.2f | %.1f s |\n", m.m.File.Arch.Name, g, t0, rms(out, guide, *n, d), rms(out, clean, *n, d), fd, secs)
				if mi == 0 {
					cols = append(cols, out[:min(examples, *n)*d])
				}
			}
		}
		if err := picture("sdedit-"+strings.TrimSpace(g)+".png", cols); err != nil {
			return fmt.Errorf("trainer editbench: %v", err)
		}
	}

	// Inpainting.
	ic, err := parseRun(*inpaintCfg, 3)
	if err != nil {
		return fmt.Errorf("trainer editbench: --inpaint: %v", err)
	}
	clean = test.Images[:*ni*d]
	if fl, err = floor(*ni); err != nil {
		return err
	}
	fmt.Printf("\n## Inpainting: %d test images, %s with %d steps of %d jumps (%d NFE), seed %d\n\n", *ni, ic.name, ic.a, ic.b, ic.a*ic.b, *seed)
	fmt.Printf("Known pixels: the decoded result's error there before they are put back (root mean squared, grey levels). Filled: the error against the clean image on the filled pixels. FD of the filled images (known pixels put back) against the other %d test images; the floor at n = %d: %.2f.\n\n", nref, *ni, fl)
	fmt.Printf("| mask | model | method | known pixels | filled pixels | FD | NFE | wall time |\n|---|---|---|---|---|---|---|---|\n")
	px := test.Shape[1] * test.Shape[2]
	for _, mk := range list(*masks) {
		mask, err := makeMask(strings.TrimSpace(mk), *ni, test.Shape, *seed)
		if err != nil {
			return fmt.Errorf("trainer editbench: %v", err)
		}
		k := min(examples, *ni)
		shown := append([]float32(nil), clean[:k*d]...)
		for j := range shown {
			if mask[(j/d)*px+j%px] == 1 {
				shown[j] = 0.5
			}
		}
		cols := [][]float32{clean[:k*d], shown}
		for _, m := range ms {
			method := "latent projection"
			if m.m.File.Arch.Likelihood == "none" {
				method = "RePaint"
			}
			start := time.Now()
			var out []float32
			var known []float64
			nfe := 0
			for lo := 0; lo < *ni; lo += 100 {
				k := min(100, *ni-lo)
				res, err := m.m.Edit(runtime.EditRequest{Sampler: sampler.Config{Name: ic.name, NFE: ic.a}, Guides: clean[lo*d : (lo+k)*d], Count: k, Mask: mask[lo*px : (lo+k)*px], Jumps: ic.b, Seed: *seed + uint64(lo)},
					progress(fmt.Sprintf("inpainting %s %s", m.m.File.Arch.Name, mk)))
				if err != nil {
					return fmt.Errorf("trainer editbench: %v", err)
				}
				known = append(known, knownRMS(res, clean[lo*d:(lo+k)*d], mask[lo*px:(lo+k)*px], k, test.Shape)...)
				out = append(out, through8(res.Images, k, test.Shape)...)
				nfe = res.Stats.NFE
			}
			secs := time.Since(start).Seconds()
			clearLine()
			fd, err := fdOf(out, *ni)
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %.2f | %d | %.1f s |\n", mk, m.m.File.Arch.Name, method, seText(known), maskedRMS(out, clean, mask, *ni, test.Shape), fd, nfe, secs)
			cols = append(cols, out[:k*d])
		}
		if err := picture("inpaint-"+strings.TrimSpace(mk)+".png", cols); err != nil {
			return fmt.Errorf("trainer editbench: %v", err)
		}
	}
	return nil
}

// list splits a comma-separated flag; an empty one is no items (a section
// the run skips).
func list(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(s, ",")
}

type runSpec struct {
	name string
	a, b int
}

// parseRun reads "name:a" or "name:a:b".
func parseRun(s string, parts int) (runSpec, error) {
	f := strings.Split(s, ":")
	if len(f) != parts {
		return runSpec{}, fmt.Errorf("%q: want %d fields separated by colons", s, parts)
	}
	r := runSpec{name: f[0]}
	var err error
	if r.a, err = strconv.Atoi(f[1]); err != nil {
		return r, fmt.Errorf("%q: %v", s, err)
	}
	if parts == 3 {
		if r.b, err = strconv.Atoi(f[2]); err != nil {
			return r, fmt.Errorf("%q: %v", s, err)
		}
	}
	return r, nil
}

// through8 rounds images through 8 bits, as every sample reaches a user.
func through8(imgs []float32, n int, shape []int) []float32 {
	return gpu.Images(runtime.RGBA8(imgs, n, shape), n, shape)
}

// corrupt returns the guides: the images with Gaussian noise (clipped) or
// a Gaussian blur, through 8 bits.
func corrupt(x []float32, n int, shape []int, kind string, noiseSD, blurSD float64, seed uint64) ([]float32, error) {
	out := make([]float32, len(x))
	h, w := shape[1], shape[2]
	switch kind {
	case "noise":
		r := rand.New(rand.NewPCG(seed, 77))
		for i, v := range x {
			out[i] = float32(math.Min(1, math.Max(0, float64(v)+noiseSD*r.NormFloat64())))
		}
	case "blur":
		rad := int(math.Ceil(3 * blurSD))
		k := make([]float64, 2*rad+1)
		var sum float64
		for i := range k {
			k[i] = math.Exp(-float64((i-rad)*(i-rad)) / (2 * blurSD * blurSD))
			sum += k[i]
		}
		tmp := make([]float64, len(x))
		for p := 0; p < len(x)/(h*w); p++ {
			img, t := x[p*h*w:(p+1)*h*w], tmp[p*h*w:(p+1)*h*w]
			for y := 0; y < h; y++ { // rows, edges clamped
				for xx := 0; xx < w; xx++ {
					var s float64
					for j, kv := range k {
						s += kv * float64(img[y*w+min(w-1, max(0, xx+j-rad))])
					}
					t[y*w+xx] = s / sum
				}
			}
			o := out[p*h*w : (p+1)*h*w]
			for y := 0; y < h; y++ { // then columns
				for xx := 0; xx < w; xx++ {
					var s float64
					for j, kv := range k {
						s += kv * t[min(h-1, max(0, y+j-rad))*w+xx]
					}
					o[y*w+xx] = float32(s / sum)
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown guide corruption %q (want noise or blur)", kind)
	}
	return through8(out, n, shape), nil
}

// makeMask returns n masks (1: to fill) of one kind.
func makeMask(kind string, n int, shape []int, seed uint64) ([]float32, error) {
	h, w := shape[1], shape[2]
	px := h * w
	m := make([]float32, n*px)
	r := rand.New(rand.NewPCG(seed, 78))
	for i := 0; i < n; i++ {
		mi := m[i*px : (i+1)*px]
		switch kind {
		case "left":
			for k := range mi {
				if k%w < w/2 {
					mi[k] = 1
				}
			}
		case "centre", "center":
			for k := range mi {
				if y, x := k/w, k%w; y >= h/4 && y < h/4+h/2 && x >= w/4 && x < w/4+w/2 {
					mi[k] = 1
				}
			}
		case "strokes":
			for s := 0; s < 4; s++ {
				x0, y0 := r.Float64()*float64(w), r.Float64()*float64(h)
				x1, y1 := r.Float64()*float64(w), r.Float64()*float64(h)
				for k := range mi {
					if segDist(float64(k%w)+0.5, float64(k/w)+0.5, x0, y0, x1, y1) <= 1.5 {
						mi[k] = 1
					}
				}
			}
		default:
			return nil, fmt.Errorf("unknown mask %q (want left, centre or strokes)", kind)
		}
	}
	return m, nil
}

// segDist is the distance from (x, y) to the segment (x0, y0)-(x1, y1).
func segDist(x, y, x0, y0, x1, y1 float64) float64 {
	dx, dy := x1-x0, y1-y0
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = math.Max(0, math.Min(1, ((x-x0)*dx+(y-y0)*dy)/l))
	}
	return math.Hypot(x-x0-t*dx, y-y0-t*dy)
}

// rms is the per-image root mean squared difference in grey levels, as
// mean ± SE over the n images.
func rms(a, b []float32, n, d int) string {
	v := make([]float64, n)
	for i := range v {
		var s float64
		for j := i * d; j < (i+1)*d; j++ {
			e := float64(a[j] - b[j])
			s += e * e
		}
		v[i] = 255 * math.Sqrt(s/float64(d))
	}
	return seText(v)
}

// maskedRMS is rms over each image's pixels where mask is 1 (every channel).
func maskedRMS(a, b, mask []float32, n int, shape []int) string {
	return seText(maskRMS(a, b, mask, 1, n, shape))
}

// knownRMS is each image's decoded error on its known pixels (mask 0,
// before they were put back), root mean squared in grey levels.
func knownRMS(res *runtime.EditResult, clean, mask []float32, n int, shape []int) []float64 {
	return maskRMS(res.Decoded, clean, mask, 0, n, shape)
}

// maskRMS is each image's root mean squared difference of a and b, in grey
// levels, over the pixels (every channel) where mask equals which.
func maskRMS(a, b, mask []float32, which float32, n int, shape []int) []float64 {
	d, px := weights.Numel(shape), shape[1]*shape[2]
	v := make([]float64, n)
	for i := range v {
		var s float64
		var c int
		for j := 0; j < d; j++ {
			if mask[i*px+j%px] == which {
				e := float64(a[i*d+j] - b[i*d+j])
				s, c = s+e*e, c+1
			}
		}
		v[i] = 255 * math.Sqrt(s/float64(max(c, 1)))
	}
	return v
}

// seText is mean ± standard error of v (meanSE).
func seText(v []float64) string {
	m, se := meanSE(v)
	return fmt.Sprintf("%.2f ± %.2f", m, se)
}
