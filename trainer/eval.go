package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// evalResult is the test-set NELBO and its parts, in nats per image.
type evalResult struct {
	Images                       int
	NELBO, SE                    float64 // mean over images and its standard error (NaN for one image)
	Recon, NegEntropy, CrossEnt  float64
	BitsPerDim                   float64
	MeanNFE                      float64
	Seconds                      float64
	ODEEps, RTol, ATol           float64
	Probe                        string
	perImage                     []float64 // each image's NELBO estimate
	Likelihood, Dataset, Weights string
}

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (required)")
	dir := fs.String("data", data.DefaultDir, "folder with the t10k IDX files, an IDX images file, mnist (MNIST from the Go module cache), or toy:NAME")
	n := fs.Int("n", 10000, "test images to evaluate (the first n)")
	batch := fs.Int("batch", 50, "images per batch")
	odeEps := fs.Float64("ode-eps", 1e-5, "start time of the likelihood ODE")
	rtol := fs.Float64("rtol", 1e-5, "RK45 relative tolerance")
	atol := fs.Float64("atol", 1e-5, "RK45 absolute tolerance")
	probe := fs.String("probe", "rademacher", "Hutchinson probe: rademacher or gaussian")
	seed := fs.Uint64("seed", 0, "seed of the posterior samples and probes")
	blas := fs.String("blas", "auto", "matrix multiply backend: auto, gonum, openblas")
	device := fs.String("device", "auto", "where the networks run: gpu (any WebGPU adapter), cpu, or auto (a hardware GPU when there is one, else the CPU)")
	quiet := fs.Bool("q", false, "no progress output")
	binarize := fs.String("binarize", "auto", "score a bernoulli model on binarized test images: yes, no, or auto (as it was trained: its provenance command has --binarize)")
	record := fs.Bool("record", false, "write the results into the weights file's provenance (metrics test_nelbo_nats, test_nelbo_se, ...)")
	logPath := fs.String("log", "", "append each finished batch to this file (JSON lines) and, when it exists, resume from it: a long evaluation (the whole test set takes hours on a CPU) survives being killed and gives the uninterrupted run's numbers")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nn.UseBLAS(*blas); err != nil {
		return fmt.Errorf("trainer eval: %v", err)
	}
	if *path == "" {
		return fmt.Errorf("trainer eval: --weights is required")
	}
	if *probe != "rademacher" && *probe != "gaussian" {
		return fmt.Errorf("trainer eval: --probe %q: want rademacher or gaussian", *probe)
	}
	if *n < 1 || *batch < 1 || !(*rtol > 0) || !(*atol > 0) || !(*odeEps >= 0 && *odeEps < 0.5) {
		return fmt.Errorf("trainer eval: --n, --batch must be >= 1, tolerances > 0 and --ode-eps in [0, 0.5)")
	}
	b, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("trainer eval: %v", err)
	}
	f, err := weights.Decode(b)
	if err != nil {
		return fmt.Errorf("trainer eval: %s: %v", *path, err)
	}
	var bin bool
	switch *binarize {
	case "yes":
		bin = true
	case "no":
	case "auto":
		bin = slices.Contains(strings.Fields(f.Provenance.Command), "--binarize")
	default:
		return fmt.Errorf("trainer eval: --binarize %q: want yes, no or auto", *binarize)
	}
	if bin && f.Arch.Likelihood != "bernoulli" {
		return fmt.Errorf("trainer eval: --binarize yes needs a bernoulli model; %s is %s", *path, f.Arch.Likelihood)
	}
	set, err := loadSet(*dir, "test")
	if err != nil {
		return fmt.Errorf("trainer eval: %v", err)
	}
	if !weights.EqualShape(set.Shape, f.Arch.DataShape) {
		return fmt.Errorf("trainer eval: test images are %v, the model's are %v", set.Shape, f.Arch.DataShape)
	}
	dev, err := trainDevice("trainer eval", *device)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	sum := sha256.Sum256(b)
	res, err := evaluate(f, set, evalOptions{N: *n, Batch: *batch, ODEEps: *odeEps, RTol: *rtol, ATol: *atol, Probe: *probe, Seed: *seed, Quiet: *quiet, Binarize: bin, Device: dev,
		Log: *logPath, WeightsSHA: hex.EncodeToString(sum[:]), Dataset: set.Source})
	if err != nil {
		return err
	}
	res.Weights, res.Dataset = *path, set.Source
	printEval(res)
	if *record {
		cmd := fmt.Sprintf("trainer eval --n %d --batch %d --ode-eps %g --rtol %g --atol %g --probe %s --seed %d", res.Images, *batch, *odeEps, *rtol, *atol, *probe, *seed)
		if f.Arch.Likelihood == "bernoulli" {
			cmd += map[bool]string{true: " --binarize yes", false: " --binarize no"}[bin]
		}
		if err := recordEval(*path, f, res, cmd); err != nil {
			return err
		}
		fmt.Printf("recorded in %s's provenance\n", *path)
	}
	return nil
}

// recordEval writes r into the provenance of the weights file at path (f, as
// decoded from it), atomically: the eval numbers travel with the weights.
func recordEval(path string, f *weights.File, r *evalResult, cmd string) error {
	p := &f.Provenance
	if p.Metrics == nil {
		p.Metrics = map[string]float64{}
	}
	delete(p.Metrics, "test_nelbo_se") // an earlier record's; none for one image
	if !math.IsNaN(r.SE) {
		p.Metrics["test_nelbo_se"] = r.SE
	}
	for k, v := range map[string]float64{
		"test_nelbo_nats": r.NELBO, "test_bits_per_dim": r.BitsPerDim,
		"test_recon_nats": r.Recon, "test_neg_entropy_nats": r.NegEntropy, "test_cross_entropy_nats": r.CrossEnt,
		"test_images": float64(r.Images), "test_nfe_per_batch": r.MeanNFE,
	} {
		p.Metrics[k] = v
	}
	// Replace an earlier record's line; every other note stays.
	p.Notes = withNote(p.Notes, "test metrics: ", fmt.Sprintf("%s on %s", cmd, r.Dataset), false)
	_, err := writeWeights("trainer eval", path, f)
	return err
}

// withNote returns notes with the line prefix+text added after the others,
// dropping earlier lines that start with prefix unless keepEarlier.
func withNote(notes, prefix, text string, keepEarlier bool) string {
	var keep []string
	for _, line := range strings.Split(notes, "\n") {
		if keepEarlier || !strings.HasPrefix(line, prefix) {
			keep = append(keep, line)
		}
	}
	return strings.TrimSpace(strings.Join(append(keep, prefix+text), "\n"))
}

// writeWeights encodes f and writes it to path atomically, returning its
// size; errors start with cmd.
func writeWeights(cmd, path string, f *weights.File) (int, error) {
	b, err := weights.Encode(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", cmd, err)
	}
	if err := lsgm.WriteFileAtomic(path, b); err != nil {
		return 0, fmt.Errorf("%s: writing %s: %v", cmd, path, err)
	}
	return len(b), nil
}

type evalOptions struct {
	N, Batch           int
	ODEEps, RTol, ATol float64
	Probe              string
	Seed               uint64
	Quiet              bool
	Binarize           bool        // a bernoulli model's test images are binarized (as trained)
	Device             *gpu.Device // nil: the CPU
	// Log, when set, is the batch log to resume from and append to; the
	// weights' SHA-256 and the dataset name go into its header.
	Log, WeightsSHA, Dataset string
}

// evalHeader is a batch log's first line: every setting that changes a
// batch's numbers. A log resumes only an evaluation with the same header.
type evalHeader struct {
	Weights  string  `json:"weights_sha256"`
	Dataset  string  `json:"dataset"`
	N        int     `json:"n"`
	Batch    int     `json:"batch"`
	ODEEps   float64 `json:"ode_eps"`
	RTol     float64 `json:"rtol"`
	ATol     float64 `json:"atol"`
	Probe    string  `json:"probe"`
	Seed     uint64  `json:"seed"`
	Binarize bool    `json:"binarize"`
}

// evalBatch is one finished batch in the log.
type evalBatch struct {
	Lo       int       `json:"lo"`
	Recon    float64   `json:"recon"`
	NegH     float64   `json:"neg_entropy"`
	CE       float64   `json:"cross_entropy"`
	NFE      int       `json:"nfe"`
	PerImage []float64 `json:"per_image"`
}

// openEvalLog reads the batches already in the log at path (creating it
// with hdr when missing) and returns it open for appending. A torn last
// line (a run killed while writing) is dropped; a header that differs is
// refused, naming the log.
func openEvalLog(path string, hdr evalHeader) (*os.File, map[int]evalBatch, error) {
	done := map[int]evalBatch{}
	want, _ := json.Marshal(hdr)
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("trainer eval: --log: %v", err)
		}
		if _, err := f.Write(append(want, '\n')); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("trainer eval: --log: %v", err)
		}
		return f, done, nil
	case err != nil:
		return nil, nil, fmt.Errorf("trainer eval: --log: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	if lines[0] != string(want) {
		return nil, nil, fmt.Errorf("trainer eval: --log %s was written by another evaluation (its settings: %s; these: %s): name another file or remove it", path, lines[0], want)
	}
	good := len(lines[0]) + 1
	for i, line := range lines[1:] {
		if line == "" {
			continue
		}
		var bt evalBatch
		if err := json.Unmarshal([]byte(line), &bt); err != nil || len(bt.PerImage) != hdr.Batch {
			if i == len(lines)-2 { // the last line, torn
				break
			}
			return nil, nil, fmt.Errorf("trainer eval: --log %s: line %d is not a finished batch", path, i+2)
		}
		done[bt.Lo] = bt
		good += len(line) + 1
	}
	if err := os.Truncate(path, int64(good)); err != nil { // drop a torn tail before appending
		return nil, nil, fmt.Errorf("trainer eval: --log: %v", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("trainer eval: --log: %v", err)
	}
	return f, done, nil
}

// evaluate estimates the NELBO of the first N images: one posterior sample
// per image, the reconstruction and entropy from the VAE, the prior's
// -log p(z) from the probability-flow ODE.
func evaluate(f *weights.File, set *data.Set, o evalOptions) (*evalResult, error) {
	n := min(o.N, set.N)
	B := min(o.Batch, n)
	for n%B != 0 { // the VAE terms are batch means: batches must be whole
		B--
	}
	// The batch log first: a log of another evaluation is refused before
	// the networks are built.
	var done map[int]evalBatch
	var logf *os.File
	if o.Log != "" {
		var err error
		logf, done, err = openEvalLog(o.Log, evalHeader{Weights: o.WeightsSHA, Dataset: o.Dataset, N: n, Batch: B, ODEEps: o.ODEEps, RTol: o.RTol, ATol: o.ATol, Probe: o.Probe, Seed: o.Seed, Binarize: o.Binarize})
		if err != nil {
			return nil, err
		}
		defer logf.Close()
	}
	// Without a VAE the "posterior sample" is the image dequantized within
	// its bin: no reconstruction term, and D log 128 in the entropy's place.
	space := f.Arch.Likelihood == "none"
	var vae *lsgm.Graph
	var z0 []float32
	if space {
		z0 = make([]float32, B*weights.Numel(f.Arch.LatentShape))
	} else {
		var err error
		if vae, err = lsgm.NewGraph(f, lsgm.StageEval, B, false); err != nil {
			return nil, fmt.Errorf("trainer eval: %v", err)
		}
		defer vae.Close()
		if o.Device != nil {
			if err := vae.UseGPU(o.Device); err != nil {
				return nil, fmt.Errorf("trainer eval: %v", err)
			}
		}
		z0 = vae.Z0
	}
	jvp, err := lsgm.NewScoreJVP(f, B)
	if err != nil {
		return nil, fmt.Errorf("trainer eval: %v", err)
	}
	defer jvp.Close()
	if o.Device != nil {
		if err := jvp.UseGPU(o.Device); err != nil {
			return nil, fmt.Errorf("trainer eval: %v", err)
		}
	}
	d := float64(weights.Numel(f.Arch.LatentShape))
	gaussH := d / 2 * math.Log(2*math.Pi*math.E) // a unit Normal's entropy in d dimensions
	res := &evalResult{ODEEps: o.ODEEps, RTol: o.RTol, ATol: o.ATol, Probe: o.Probe, Likelihood: f.Arch.Likelihood}
	start := time.Now()
	idx := make([]int, B)
	v := make([]float32, len(z0))
	var nfe int
	// add counts one batch's results in.
	add := func(bt evalBatch) {
		res.perImage = append(res.perImage, bt.PerImage...)
		res.Recon += bt.Recon * float64(B)
		res.NegEntropy += bt.NegH * float64(B)
		res.CrossEnt += bt.CE * float64(B)
		res.Images += B
		nfe += bt.NFE
	}
	resumed := 0
	for lo := 0; lo < n; lo += B {
		if bt, ok := done[lo]; ok {
			add(bt)
			resumed += B
			continue
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(lo)))
		for i := range idx {
			idx[i] = lo + i
		}
		if space {
			fillImages(z0, set, idx, f.Arch.Likelihood, false, rng)
		} else {
			fillImages(vae.X, set, idx, f.Arch.Likelihood, o.Binarize, rng)
			fillNormal(rng, vae.N0)
		}
		for i := range v {
			if o.Probe == "rademacher" {
				v[i] = float32(2*rng.IntN(2) - 1)
			} else {
				v[i] = float32(rng.NormFloat64())
			}
		}
		var recon, negH float64
		var rs, hs []float64 // per image
		if space {
			negH = dequantNats(d)
		} else {
			val, err := vae.Run()
			if err != nil {
				return nil, fmt.Errorf("trainer eval: %v", err)
			}
			recon, negH = val.Recon, val.NegEntropy-gaussH
			if rs, hs, err = vae.PerImage(); err != nil {
				return nil, fmt.Errorf("trainer eval: %v", err)
			}
		}
		logp, k, err := lsgm.LogLikelihood(jvp, z0, v, o.ODEEps, o.RTol, o.ATol)
		if err != nil {
			return nil, fmt.Errorf("trainer eval: batch at image %d: %v", lo, err)
		}
		bt := evalBatch{Lo: lo, Recon: recon, NegH: negH, NFE: k}
		for i, lp := range logp {
			bt.CE -= lp
			img := negH - lp
			if !space {
				img = rs[i] + hs[i] - gaussH - lp
			}
			bt.PerImage = append(bt.PerImage, img)
		}
		bt.CE /= float64(B)
		if logf != nil {
			line, err := json.Marshal(bt)
			if err == nil {
				_, err = logf.Write(append(line, '\n'))
			}
			if err == nil {
				err = logf.Sync()
			}
			if err != nil {
				return nil, fmt.Errorf("trainer eval: --log: %v", err)
			}
		}
		add(bt)
		if !o.Quiet {
			eta := time.Since(start).Seconds() / float64(res.Images-resumed) * float64(n-res.Images)
			fmt.Fprintf(os.Stderr, "\rtrainer eval: %d/%d images, NELBO %.2f nats (this batch %.2f), %d NFE, %.0fs, ETA %.0fs ",
				res.Images, n, (res.Recon+res.NegEntropy+res.CrossEnt)/float64(res.Images), recon+negH+bt.CE, k, time.Since(start).Seconds(), eta)
		}
	}
	if !o.Quiet {
		fmt.Fprintln(os.Stderr)
	}
	k := 1 / float64(res.Images)
	res.Recon, res.NegEntropy, res.CrossEnt = res.Recon*k, res.NegEntropy*k, res.CrossEnt*k
	res.NELBO = res.Recon + res.NegEntropy + res.CrossEnt
	_, res.SE = meanSE(res.perImage)
	res.BitsPerDim = res.NELBO / (float64(weights.Numel(f.Arch.DataShape)) * math.Ln2)
	res.MeanNFE = float64(nfe) / float64(res.Images/B)
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// meanSE returns the mean of xs and its standard error, sd / sqrt(n) with
// the n-1 sample variance; NaN for fewer than two values.
func meanSE(xs []float64) (mean, se float64) {
	n := float64(len(xs))
	for _, x := range xs {
		mean += x / n
	}
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// pm formats a value with its standard error and n: "1730.52 ± 3.41 (SE, n = 500)",
// or "n/a" for the error where one value gives no spread.
func pm(v, se float64, n int) string {
	if math.IsNaN(se) {
		return fmt.Sprintf("%.2f ± n/a (one image: no spread to estimate)", v)
	}
	return fmt.Sprintf("%.2f ± %.2f (SE over images, n = %d)", v, se, n)
}

func printEval(r *evalResult) {
	fmt.Printf("NELBO on %d test images of %s (%s)\n", r.Images, r.Dataset, r.Weights)
	fmt.Printf("  NELBO          %s nats/image   %.4f bits/dim\n", pm(r.NELBO, r.SE, r.Images), r.BitsPerDim)
	if r.Likelihood == "none" {
		fmt.Printf("  dequantization %9.2f   (D log 128: y uniform in x's bin of width 2/256)\n", r.NegEntropy)
		fmt.Printf("  -log p(y)      %9.2f   (probability-flow ODE from t=%g, RK45 rtol %g atol %g, %s probes)\n", r.CrossEnt, r.ODEEps, r.RTol, r.ATol, r.Probe)
	} else {
		fmt.Printf("  reconstruction %9.2f   (-log p(x|z0), %s)\n", r.Recon, r.Likelihood)
		fmt.Printf("  -entropy       %9.2f   (log q(z0|x))\n", r.NegEntropy)
		fmt.Printf("  cross entropy  %9.2f   (-log p(z0), probability-flow ODE from t=%g, RK45 rtol %g atol %g, %s probes)\n", r.CrossEnt, r.ODEEps, r.RTol, r.ATol, r.Probe)
	}
	fmt.Printf("  %.1f NFE per batch (each a forward and backward pass), %.1fs\n", r.MeanNFE, r.Seconds)
}
