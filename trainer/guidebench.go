package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// runGuideBench is `trainer guidebench`: how well guidance hits the class
// asked for. For each guidance kind (classifier-free, with a
// class-conditional model; classifier, with --classifier) and scale, n
// samples of every class: the share that the Fréchet-distance classifier
// assigns to the class (± its binomial standard error), and the Fréchet
// distance to that class's test images (mean over the classes ± SE over
// classes), with the floor (n training images of the class) beside it.
func runGuideBench(args []string) error {
	fs := flag.NewFlagSet("guidebench", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (default: the shipped model)")
	clfPath := fs.String("classifier", "", "a noisy classifier of the model's latents: adds classifier guidance")
	fdPath := fs.String("fd-classifier", "weights/fmnist-classifier.lsgmc", "the feature classifier that judges the class and the Fréchet distance")
	dir := fs.String("data", data.DefaultDir, "folder with the labelled Fashion-MNIST IDX files")
	scales := fs.String("scales", "0,1,2,4", "guidance scales, comma separated")
	n := fs.Int("n", 200, "samples per class and scale")
	run := fs.String("sampler", "dpmpp2m:10", "sampler:NFE")
	seed := fs.Uint64("seed", 1, "seed")
	blas := fs.String("blas", "auto", "matrix multiply backend for the feature classifier")
	pictures := fs.String("pictures", "", "a folder for grids: guide-KIND-SCALE.png, a row of 8 samples per class")
	quiet := fs.Bool("q", false, "no progress output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nn.UseBLAS(*blas); err != nil {
		return fmt.Errorf("trainer guidebench: %v", err)
	}
	if *n < 2 {
		return errors.New("trainer guidebench: --n must be at least 2")
	}
	rs, err := parseRun(*run, 2)
	if err != nil {
		return fmt.Errorf("trainer guidebench: --sampler: %v", err)
	}
	fdc, err := loadClassifier(*fdPath)
	if err != nil {
		return err
	}
	m, name, _, err := loadModel("trainer guidebench", *path)
	if err != nil {
		return err
	}
	type kind struct {
		name  string
		clf   *runtime.Classifier
		names []string
	}
	var kinds []kind
	if cs := m.Classes(); len(cs) > 0 {
		kinds = append(kinds, kind{"classifier-free", nil, cs})
	}
	if *clfPath != "" {
		cb, err := os.ReadFile(*clfPath)
		if err != nil {
			return fmt.Errorf("trainer guidebench: %v", err)
		}
		c, err := runtime.LoadClassifier(cb)
		if err != nil {
			return fmt.Errorf("trainer guidebench: %s: %v", *clfPath, err)
		}
		kinds = append(kinds, kind{"classifier", c, c.Names()})
	}
	if len(kinds) == 0 {
		return fmt.Errorf("trainer guidebench: %s has no classes and no --classifier was given: nothing to guide", name)
	}
	test, err := data.FashionMNIST(*dir, "test")
	if err != nil {
		return fmt.Errorf("trainer guidebench: %v", err)
	}
	train, err := data.FashionMNIST(*dir, "train")
	if err != nil {
		return fmt.Errorf("trainer guidebench: %v", err)
	}
	d := weights.Numel(test.Shape)
	byClass := func(s *data.Set, k, limit int) []float32 {
		var out []float32
		for i := 0; i < s.N && len(out) < limit*d; i++ {
			if int(s.Labels[i]) == k {
				out = append(out, s.Image(i)...)
			}
		}
		return out
	}
	classes := len(kinds[0].names)
	refs := make([]stats, classes)
	floors := make([]float64, classes)
	for k := 0; k < classes; k++ {
		x := byClass(test, k, test.N)
		f, err := fdc.features(x, len(x)/d, nil)
		if err != nil {
			return err
		}
		refs[k] = featureStats(f, len(x)/d, 128)
		tr := byClass(train, k, *n)
		ft, err := fdc.features(tr, len(tr)/d, nil)
		if err != nil {
			return err
		}
		if floors[k], err = frechet(featureStats(ft, len(tr)/d, 128), refs[k]); err != nil {
			return err
		}
	}
	var fl []float64
	fl = append(fl, floors...)
	flm, flse := meanSE(fl)
	fmt.Printf("## Guidance: %s, %s at %d NFE, %d samples a class and scale, seed %d\n\n", m.File.Arch.Name, rs.name, rs.a, *n, *seed)
	fmt.Printf("Judged by %s (test accuracy %.1f%%): the share of samples it assigns to the class asked for (± binomial SE over the %d samples), and the Fréchet distance to that class's test images (mean ± SE over the %d classes). The floor: %d training images of each class, %.2f ± %.2f.\n\n",
		*fdPath, 100*fdc.Accuracy, *n*classes, classes, *n, flm, flse)
	fmt.Printf("| guidance | scale | share of the class | FD to the class | wall time |\n|---|---|---|---|---|\n")
	for _, kd := range kinds {
		for _, sc := range strings.Split(*scales, ",") {
			w, err := strconv.ParseFloat(strings.TrimSpace(sc), 64)
			if err != nil {
				return fmt.Errorf("trainer guidebench: --scales %q: %v", sc, err)
			}
			start := time.Now()
			right := 0
			var fds []float64
			var grid []float32
			for k := 0; k < classes; k++ {
				g := &runtime.Guide{Class: k, Scale: w, Classifier: kd.clf}
				var imgs []float32
				for lo := 0; lo < *n; lo += 100 {
					cnt := min(100, *n-lo)
					res, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: rs.name, NFE: rs.a}, Count: cnt, Seed: *seed + uint64(k), First: uint32(lo), Guide: g}, nil)
					if err != nil {
						return fmt.Errorf("trainer guidebench: %v", err)
					}
					imgs = append(imgs, through8(res.Images, cnt, test.Shape)...)
					if !*quiet {
						fmt.Fprintf(os.Stderr, "\rtrainer guidebench: %s %g: class %d/%d, %d/%d   ", kd.name, w, k+1, classes, lo+cnt, *n)
					}
				}
				grid = append(grid, imgs[:min(8, *n)*d]...)
				pred, err := fdc.predict(imgs, *n)
				if err != nil {
					return err
				}
				for _, p := range pred {
					if p == k {
						right++
					}
				}
				f, err := fdc.features(imgs, *n, nil)
				if err != nil {
					return err
				}
				fd, err := frechet(featureStats(f, *n, 128), refs[k])
				if err != nil {
					return err
				}
				fds = append(fds, fd)
			}
			if !*quiet {
				fmt.Fprint(os.Stderr, "\r\033[K")
			}
			total := float64(*n * classes)
			p := float64(right) / total
			fm, fse := meanSE(fds)
			fmt.Printf("| %s | %g | %.1f%% ± %.1f | %.2f ± %.2f | %.0f s |\n", kd.name, w, 100*p, 100*math.Sqrt(p*(1-p)/total), fm, fse, time.Since(start).Seconds())
			if *pictures != "" {
				g, err := runtime.Grid(grid, len(grid)/d, test.Shape, min(8, *n), 2)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(*pictures, 0o755); err != nil {
					return err
				}
				if err := writePNG(fmt.Sprintf("%s/guide-%s-%g.png", *pictures, kd.name, w), runtime.Scale(g, 2)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// predict returns the classifier's class for each of n images.
func (c *classifier) predict(imgs []float32, n int) ([]int, error) {
	batch := min(n, 200)
	cn, err := c.build(batch, false)
	if err != nil {
		return nil, err
	}
	defer cn.vm.Close()
	d := len(imgs) / n
	xs := cn.x.Value().Data().([]float32)
	out := make([]int, 0, n)
	for lo := 0; lo < n; lo += batch {
		m := min(batch, n-lo)
		copy(xs, imgs[lo*d:(lo+m)*d])
		clear(xs[m*d:])
		if err := cn.run(); err != nil {
			return nil, err
		}
		l := cn.logits.Value().Data().([]float32)
		for i := 0; i < m; i++ {
			best := 0
			for j := 1; j < c.Classes; j++ {
				if l[i*c.Classes+j] > l[i*c.Classes+best] {
					best = j
				}
			}
			out = append(out, best)
		}
	}
	return out, nil
}
