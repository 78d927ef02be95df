package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"

	"gonum.org/v1/gonum/mat"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/backend"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/gpugraph"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// The Fréchet distance of sample quality (Heusel et al. 2017, "GANs trained
// by a two time-scale update rule", the FID), here on the features of a small
// classifier trained on the same dataset, as Inception features would be
// meaningless on 28x28 grey images.

// classifier is a classifier file (weights.Classifier) with its training
// and evaluation here.
type classifier struct{ weights.Classifier }

// classifierGraph: three 3x3 convolutions (the last two with stride 2),
// then 128 features and the class logits.
func classifierGraph(shape []int, classes int) weights.Graph {
	g := weights.Graph{Inputs: []weights.Input{{Name: "x", Shape: shape}}}
	add := func(n weights.Node) { g.Nodes = append(g.Nodes, n) }
	add(weights.Node{Name: "c1", Op: "conv2d", In: []string{"x"}, Out: 16, Kernel: 3, Stride: 1, Pad: 1})
	add(weights.Node{Name: "a1", Op: "silu", In: []string{"c1"}})
	add(weights.Node{Name: "c2", Op: "conv2d", In: []string{"a1"}, Out: 32, Kernel: 3, Stride: 2, Pad: 1})
	add(weights.Node{Name: "a2", Op: "silu", In: []string{"c2"}})
	add(weights.Node{Name: "c3", Op: "conv2d", In: []string{"a2"}, Out: 32, Kernel: 3, Stride: 2, Pad: 1})
	add(weights.Node{Name: "a3", Op: "silu", In: []string{"c3"}})
	ho := runtime.ConvOut(runtime.ConvOut(shape[1], 3, 2, 1), 3, 2, 1)
	wo := runtime.ConvOut(runtime.ConvOut(shape[2], 3, 2, 1), 3, 2, 1)
	add(weights.Node{Name: "flat", Op: "reshape", In: []string{"a3"}, Shape: []int{32 * ho * wo}})
	add(weights.Node{Name: "f1", Op: "linear", In: []string{"flat"}, Out: 128})
	add(weights.Node{Name: "feat", Op: "silu", In: []string{"f1"}})
	add(weights.Node{Name: "out", Op: "linear", In: []string{"feat"}, Out: classes})
	g.Outputs = []weights.Port{{Name: "features", Node: "feat"}, {Name: "logits", Node: "out"}}
	return g
}

func (c *classifier) encode() ([]byte, error) { return weights.EncodeClassifier(&c.Classifier) }

func loadClassifier(path string) (*classifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer: %v (train one with: trainer classifier --out %s)", err, path)
	}
	wc, err := weights.DecodeClassifier(b)
	if err != nil {
		return nil, fmt.Errorf("trainer: %s: %v", path, strings.TrimPrefix(err.Error(), "weights: "))
	}
	return &classifier{*wc}, nil
}

// classNet is the classifier built for one batch size.
type classNet struct {
	vm               G.VM
	x, y             *G.Node
	features, logits *G.Node
	cost             *G.Node
	params           *nn.Params
	batch            int
}

// build makes the graph; with train, the loss against one-hot y and its gradients.
func (c *classifier) build(batch int, train bool) (*classNet, error) {
	g := G.NewGraph()
	p, err := nn.NewGraphParams(g, &c.Graph, "classifier", c.Tensors)
	if err != nil {
		return nil, err
	}
	shape := append([]int{batch}, c.Graph.Inputs[0].Shape...)
	x := G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName("x"), G.WithInit(G.Zeroes()))
	net, err := nn.Build(g, &c.Graph, "classifier", batch, map[string]*G.Node{"x": x}, p)
	if err != nil {
		return nil, err
	}
	cn := &classNet{x: x, params: p, batch: batch}
	if cn.features, err = nn.Tap(net.Outputs["features"]); err != nil {
		return nil, err
	}
	if cn.logits, err = nn.Tap(net.Outputs["logits"]); err != nil {
		return nil, err
	}
	if train {
		if cn.y, cn.cost, err = classLoss(net.Outputs["logits"], p, batch, c.Classes); err != nil {
			return nil, err
		}
	}
	cn.vm = G.NewTapeMachine(g)
	return cn, nil
}

// classLoss adds a classifier's training loss to its graph: the mean
// softmax cross entropy of logits against one-hot targets y (an input,
// [batch, classes]) and its gradients by every parameter of p.
func classLoss(logits *G.Node, p *nn.Params, batch, classes int) (y, cost *G.Node, err error) {
	y = G.NewMatrix(logits.Graph(), G.Float32, G.WithShape(batch, classes), G.WithName("y"), G.WithInit(G.Zeroes()))
	nll, err := nn.SoftmaxNLL(logits, y)
	if err != nil {
		return nil, nil, err
	}
	c := G.Must(G.Div(G.Must(G.Sum(nll)), G.NewConstant(float32(batch))))
	wrt := make([]*G.Node, len(p.Names))
	for i, n := range p.Names {
		wrt[i] = p.Nodes[n]
	}
	if _, err := G.Grad(c, wrt...); err != nil {
		return nil, nil, err
	}
	cost, err = nn.Tap(c)
	return y, cost, err
}

func (cn *classNet) run() error {
	cn.vm.Reset()
	return cn.vm.RunAll()
}

// features returns the 128 features of n images in the data scale [0, 1],
// computed on dev when not nil (the classifier's graph through gpugraph).
func (c *classifier) features(imgs []float32, n int, dev *gpu.Device) ([]float64, error) {
	batch := min(n, 200)
	cn, err := c.build(batch, false)
	if err != nil {
		return nil, err
	}
	defer cn.vm.Close()
	var e *gpugraph.Exec
	if dev != nil {
		if e, err = gpugraph.Compile(dev, cn.x.Graph(), []*G.Node{cn.features}, nil); err != nil {
			return nil, fmt.Errorf("trainer: the classifier on the GPU: %v", err)
		}
		defer e.Release()
	}
	d := len(imgs) / n
	const k = 128
	out := make([]float64, n*k)
	xs := cn.x.Value().Data().([]float32)
	for lo := 0; lo < n; lo += batch {
		m := min(batch, n-lo)
		copy(xs, imgs[lo*d:(lo+m)*d])
		clear(xs[m*d:])
		var f []float32
		if e != nil {
			if err := e.Sync(); err != nil {
				return nil, err
			}
			got, err := e.Run(cn.features)
			if err != nil {
				return nil, err
			}
			f = got[0]
		} else {
			if err := cn.run(); err != nil {
				return nil, err
			}
			f = cn.features.Value().Data().([]float32)
		}
		for i := 0; i < m*k; i++ {
			out[lo*k+i] = float64(f[i])
		}
	}
	return out, nil
}

// accuracy of the classifier on a labelled set.
func (c *classifier) accuracy(set *data.Set) (float64, error) {
	batch := 200
	cn, err := c.build(batch, false)
	if err != nil {
		return 0, err
	}
	defer cn.vm.Close()
	d := weights.Numel(set.Shape)
	xs := cn.x.Value().Data().([]float32)
	right, total := 0, 0
	for lo := 0; lo+batch <= set.N; lo += batch {
		copy(xs, set.Images[lo*d:(lo+batch)*d])
		if err := cn.run(); err != nil {
			return 0, err
		}
		l := cn.logits.Value().Data().([]float32)
		for i := 0; i < batch; i++ {
			best := 0
			for j := 1; j < c.Classes; j++ {
				if l[i*c.Classes+j] > l[i*c.Classes+best] {
					best = j
				}
			}
			if best == int(set.Labels[lo+i]) {
				right++
			}
			total++
		}
	}
	return float64(right) / float64(total), nil
}

// runClassifier trains the feature classifier: trainer classifier --out F.
func runClassifier(args []string) error {
	fs := flag.NewFlagSet("classifier", flag.ContinueOnError)
	out := fs.String("out", "classifier.lsgmc", "classifier file to write")
	dir := fs.String("data", data.DefaultDir, "folder with the labelled train and t10k IDX files")
	epochs := fs.Int("epochs", 3, "passes over the training set")
	batch := fs.Int("batch", 128, "images per step")
	lr := fs.Float64("lr", 2e-3, "Adam learning rate")
	seed := fs.Uint64("seed", 1, "initialisation and shuffling seed")
	blas := fs.String("blas", "auto", "matrix multiply backend: auto, gonum, openblas")
	quiet := fs.Bool("q", false, "no progress output")
	noisy := fs.Bool("noisy", false, "train classifier guidance's classifier instead: p(class | z_t, t) on the diffused latents of the model --weights")
	model := fs.String("weights", "", "with --noisy or --rebind: the model whose latents it classifies (default: the shipped model)")
	images := fs.Int("images", 0, "with --noisy or --rebind: train and test on the first this many images of each set (0: all)")
	rebind := fs.String("rebind", "", "bind this noisy classifier `file` to the model --weights (after checking its test accuracy on that model's latents) and write it to --out: upgrades a classifier that recorded its model's whole-file checksum")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nn.UseBLAS(*blas); err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	if *epochs < 1 || *batch < 1 || !(*lr > 0) {
		return errors.New("trainer classifier: --epochs and --batch must be >= 1 and --lr > 0")
	}
	if *rebind != "" {
		return rebindNoisy(*rebind, *model, *out, *dir, *batch, *seed, *images, *quiet)
	}
	if *noisy {
		return trainNoisy(*model, *out, *dir, *epochs, *batch, *lr, *seed, *images, *quiet)
	}
	if *model != "" {
		return errors.New("trainer classifier: --weights is for --noisy (the feature classifier reads images, not a model)")
	}
	train, err := data.FashionMNIST(*dir, "train")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	test, err := data.FashionMNIST(*dir, "test")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	if train.Labels == nil || test.Labels == nil {
		return errors.New("trainer classifier: the data has no label files")
	}
	classes := 0
	for _, l := range train.Labels {
		classes = max(classes, int(l)+1)
	}
	c := &classifier{weights.Classifier{Graph: classifierGraph(train.Shape, classes), Tensors: map[string][]float32{}, Classes: classes,
		Dataset: train.Source, DatasetSHA256: train.SHA256, Epochs: *epochs}}
	_, specs, err := c.Graph.Shapes("classifier")
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(*seed, 7))
	for _, s := range specs {
		t := make([]float32, weights.Numel(s.Shape))
		if strings.HasSuffix(s.Name, ".weight") { // He initialisation
			fan := weights.Numel(s.Shape[1:])
			for i := range t {
				t[i] = float32(r.NormFloat64() * math.Sqrt(2/float64(fan)))
			}
		}
		c.Tensors[s.Name] = t
	}
	cn, err := c.build(*batch, true)
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	defer cn.vm.Close()
	opt := lsgm.NewAdam(*lr, false, 0)
	d := weights.Numel(train.Shape)
	xs, ys := cn.x.Value().Data().([]float32), cn.y.Value().Data().([]float32)
	steps := train.N / *batch
	start := time.Now()
	grads := map[string][]float32{}
	for ep := 0; ep < *epochs; ep++ {
		perm := r.Perm(train.N)
		var loss float64
		for s := 0; s < steps; s++ {
			clear(ys)
			for k := 0; k < *batch; k++ {
				i := perm[s**batch+k]
				copy(xs[k*d:(k+1)*d], train.Image(i))
				ys[k*classes+int(train.Labels[i])] = 1
			}
			if err := cn.run(); err != nil {
				return fmt.Errorf("trainer classifier: %v", err)
			}
			for _, n := range cn.params.Names {
				gv, err := cn.params.Nodes[n].Grad()
				if err != nil {
					return err
				}
				grads[n] = gv.Data().([]float32)
			}
			// Cosine decay over the whole run.
			frac := float64(ep*steps+s) / float64(*epochs*steps)
			if err := opt.Step(c.Tensors, grads, lsgm.GradNorm(grads), 0.5*(1+math.Cos(math.Pi*frac))); err != nil {
				return fmt.Errorf("trainer classifier: step %d: %v", ep*steps+s, err)
			}
			loss += float64(cn.cost.Value().Data().(float32))
			if !*quiet && (s%50 == 0 || s == steps-1) {
				fmt.Fprintf(os.Stderr, "\rtrainer classifier: epoch %d/%d step %d/%d  loss %.4f  %.0f img/s ", ep+1, *epochs, s+1, steps,
					loss/float64(s+1), float64((ep*steps+s+1)**batch)/time.Since(start).Seconds())
			}
		}
		if !*quiet {
			fmt.Fprintln(os.Stderr)
		}
	}
	if c.Accuracy, err = c.accuracy(test); err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	b, err := c.encode()
	if err != nil {
		return err
	}
	if err := lsgm.WriteFileAtomic(*out, b); err != nil {
		return fmt.Errorf("trainer classifier: writing %s: %v", *out, err)
	}
	fmt.Printf("wrote %s: test accuracy %.2f%% on %d images, %d epochs, %.0fs\n", *out, 100*c.Accuracy, test.N, *epochs, time.Since(start).Seconds())
	return nil
}

// stats are the mean and covariance of feature rows (n x k).
type stats struct {
	mu  []float64
	cov *mat.SymDense
}

func featureStats(f []float64, n, k int) stats {
	mu := make([]float64, k)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			mu[j] += f[i*k+j]
		}
	}
	for j := range mu {
		mu[j] /= float64(n)
	}
	cov := mat.NewSymDense(k, nil)
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			var s float64
			for i := 0; i < n; i++ {
				s += (f[i*k+a] - mu[a]) * (f[i*k+b] - mu[b])
			}
			cov.SetSym(a, b, s/float64(n-1))
		}
	}
	return stats{mu, cov}
}

// frechet is |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with the trace of
// the square root taken as the sum of the square roots of the eigenvalues of
// the symmetric S1^(1/2) S2 S1^(1/2).
func frechet(a, b stats) (float64, error) {
	k := len(a.mu)
	var d2 float64
	for i := range a.mu {
		d2 += (a.mu[i] - b.mu[i]) * (a.mu[i] - b.mu[i])
	}
	sqrtA, err := symSqrt(a.cov)
	if err != nil {
		return 0, err
	}
	var m mat.Dense
	m.Mul(sqrtA, b.cov)
	m.Mul(&m, sqrtA)
	ms := mat.NewSymDense(k, nil)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			ms.SetSym(i, j, 0.5*(m.At(i, j)+m.At(j, i)))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(ms, false) {
		return 0, errors.New("trainer: eigendecomposition failed")
	}
	var trSqrt float64
	for _, v := range eig.Values(nil) {
		trSqrt += math.Sqrt(math.Max(v, 0))
	}
	return d2 + mat.Trace(a.cov) + mat.Trace(b.cov) - 2*trSqrt, nil
}

func symSqrt(s *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, errors.New("trainer: eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var v mat.Dense
	eig.VectorsTo(&v)
	k := len(vals)
	d := mat.NewDiagDense(k, nil)
	for i, x := range vals {
		d.SetDiag(i, math.Sqrt(math.Max(x, 0)))
	}
	var out mat.Dense
	out.Mul(&v, d)
	out.Mul(&out, v.T())
	return &out, nil
}

// runFD measures sample quality: trainer fd --classifier C [--weights W].
func runFD(args []string) error {
	fs := flag.NewFlagSet("fd", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (default: the shipped model)")
	clf := fs.String("classifier", "weights/fmnist-classifier.lsgmc", "feature classifier (the shipped Fashion-MNIST one; trainer classifier trains another)")
	dir := fs.String("data", data.DefaultDir, "folder with the t10k IDX files")
	n := fs.Int("n", 10000, "samples per setting (and test images)")
	runs := fs.String("runs", "dpmpp2m:5,dpmpp2m:10,dpmpp2m:20,dpmpp2m:50,rk45", "settings: sampler:NFE, comma separated (rk45 is adaptive); recon: the VAE's reconstructions of the test images (posterior means decoded); vae: latents from N(0, I) decoded, the VAE without its score prior")
	kind := fs.String("backend", "auto", "where to sample: auto, gpu or cpu")
	seed := fs.Uint64("seed", 1, "sampling seed")
	blas := fs.String("blas", "auto", "matrix multiply backend for the classifier: auto, gonum, openblas")
	quiet := fs.Bool("q", false, "no progress output")
	record := fs.Bool("record", false, "write the table, its n and floor into the weights file's provenance (trainer info shows it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nn.UseBLAS(*blas); err != nil {
		return fmt.Errorf("trainer fd: %v", err)
	}
	if *n < 2 {
		return errors.New("trainer fd: --n must be at least 2")
	}
	if *record && *path == "" {
		return errors.New("trainer fd: --record writes into a weights file: name it with --weights (for the shipped model, weights/default.lsgm)")
	}
	c, err := loadClassifier(*clf)
	if err != nil {
		return err
	}
	m, name, _, err := loadModel("trainer fd", *path)
	if err != nil {
		return err
	}
	test, err := data.FashionMNIST(*dir, "test")
	if err != nil {
		return fmt.Errorf("trainer fd: %v", err)
	}
	if !weights.EqualShape(test.Shape, m.DataShape()) {
		return fmt.Errorf("trainer fd: test images are %v, the model's %v", test.Shape, m.DataShape())
	}
	s, err := backend.Open(m, *kind)
	if err != nil {
		return fmt.Errorf("trainer fd: %v", err)
	}
	defer s.Close()
	// The classifier runs where the sampler does.
	dev := s.Device()
	nt := min(*n, test.N)
	ft, err := c.features(test.Images[:nt*weights.Numel(test.Shape)], nt, dev)
	if err != nil {
		return err
	}
	ref := featureStats(ft, nt, 128)
	// The floor: training images against the test set, at the same n.
	train, err := data.FashionMNIST(*dir, "train")
	if err != nil {
		return fmt.Errorf("trainer fd: %v", err)
	}
	fr, err := c.features(train.Images[:*n*weights.Numel(train.Shape)], *n, dev)
	if err != nil {
		return err
	}
	floor, err := frechet(featureStats(fr, *n, 128), ref)
	if err != nil {
		return err
	}
	fmt.Printf("Fréchet distance on %s features (test accuracy %.2f%%), %d samples of %s against %d test images\n", *clf, 100*c.Accuracy, *n, name, nt)
	fmt.Printf("(%d training images against the same test images: %.2f, the floor at this n)\n\n", *n, floor)
	fmt.Printf("| sampler | NFE | FD | wall time | images/s | on |\n|---|---|---|---|---|---|\n")
	table := map[string]float64{"fd_n": float64(*n), "fd_floor": floor}
	for _, r := range strings.Split(*runs, ",") {
		parts := strings.SplitN(strings.TrimSpace(r), ":", 2)
		cfg := sampler.Config{Name: parts[0]}
		if len(parts) == 2 {
			if cfg.NFE, err = strconv.Atoi(parts[1]); err != nil {
				return fmt.Errorf("trainer fd: --runs %q: %v", r, err)
			}
		}
		start := time.Now()
		var imgs []float32
		nfe := 0
		onGPU := false
		vae := cfg.Name == "recon" || cfg.Name == "vae"
		if vae {
			if imgs, err = vaeImages(m, cfg.Name, test, *n, *seed); err != nil {
				return fmt.Errorf("trainer fd: %s: %v", r, err)
			}
		}
		for lo := 0; !vae && lo < *n; lo += 500 {
			cnt := min(500, *n-lo)
			show := func(p backend.Progress) {
				if !*quiet {
					fmt.Fprintf(os.Stderr, "\rtrainer fd: %s: images %d-%d of %d, step %d/%d, %.0fs   ", r, lo+1, lo+cnt, *n, p.I, p.N, time.Since(start).Seconds())
				}
			}
			res, err := s.Sample(runtime.Request{Sampler: cfg, Count: cnt, Seed: *seed, First: uint32(lo)}, false, show)
			if err != nil {
				return fmt.Errorf("trainer fd: %s: %v", r, err)
			}
			imgs = append(imgs, gpu.Images(res.RGBA, cnt, m.DataShape())...)
			nfe, onGPU = max(nfe, res.Stats.NFE), res.OnGPU
		}
		secs := time.Since(start).Seconds()
		if !*quiet {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		if len(imgs) != *n*weights.Numel(m.DataShape()) {
			return fmt.Errorf("trainer fd: %s: internal: %d values for %d images", r, len(imgs), *n)
		}
		fs, err := c.features(imgs, *n, dev)
		if err != nil {
			return err
		}
		fd, err := frechet(featureStats(fs, *n, 128), ref)
		if err != nil {
			return err
		}
		where := "CPU"
		if onGPU {
			where = s.Name()
		}
		fmt.Printf("| %s | %d | %.2f | %.1f s | %.1f | %s |\n", cfg.Name, nfe, fd, secs, float64(*n)/secs, where)
		key := cfg.Name
		if cfg.NFE > 0 {
			key += ":" + strconv.Itoa(cfg.NFE)
		}
		table["fd:"+key] = fd
		if !vae {
			table["nfe:"+key] = float64(nfe)
		}
	}
	if *record {
		cmd := fmt.Sprintf("trainer fd --n %d --runs %s --seed %d --classifier %s", *n, *runs, *seed, *clf)
		if err := recordFD(*path, table, cmd); err != nil {
			return err
		}
		fmt.Printf("recorded in %s's provenance\n", *path)
	}
	return nil
}

// recordFD writes a Fréchet-distance table into the provenance of the
// weights file at path, added to an earlier one at the same n and replacing
// one at another n: metrics fd_n, fd_floor,
// fd:SAMPLER[:NFE] and nfe:SAMPLER[:NFE], and a notes line with the command.
func recordFD(path string, table map[string]float64, cmd string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("trainer fd: %v", err)
	}
	f, err := weights.Decode(b)
	if err != nil {
		return fmt.Errorf("trainer fd: %s: %v", path, err)
	}
	p := &f.Provenance
	if p.Metrics == nil {
		p.Metrics = map[string]float64{}
	}
	// A table at the same n grows by the new settings (rk45 can be
	// recorded apart from the fixed-step samplers); at another n it starts
	// over, since distances at different n do not compare.
	merge := p.Metrics["fd_n"] == table["fd_n"]
	for k := range p.Metrics {
		if isFDKey(k) && !merge {
			delete(p.Metrics, k)
		}
	}
	for k, v := range table {
		p.Metrics[k] = v
	}
	p.Notes = withNote(p.Notes, "fd table: ", cmd, merge)
	_, err = writeWeights("trainer fd", path, f)
	return err
}

// isFDKey says whether a provenance metric belongs to the recorded FD table.
func isFDKey(k string) bool {
	return k == "fd_n" || k == "fd_floor" || strings.HasPrefix(k, "fd:") || strings.HasPrefix(k, "nfe:")
}

// fdRow is one setting of a recorded FD table; nfe is -1 for the settings
// without one (recon, vae).
type fdRow struct {
	name string
	nfe  int
	fd   float64
}

// fdRows reads a recorded table's settings from provenance metrics, sorted
// by sampler and NFE.
func fdRows(m map[string]float64) []fdRow {
	var rows []fdRow
	for k, v := range m {
		key, ok := strings.CutPrefix(k, "fd:")
		if !ok {
			continue
		}
		r := fdRow{name: strings.SplitN(key, ":", 2)[0], nfe: -1, fd: v}
		if e, ok := m["nfe:"+key]; ok {
			r.nfe = int(e)
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b fdRow) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return a.nfe - b.nfe
	})
	return rows
}

// printFDTable prints a recorded FD table, if the metrics hold one.
func printFDTable(m map[string]float64) {
	n, ok := m["fd_n"]
	if !ok {
		return
	}
	fmt.Printf("  Fréchet distance at n = %g (floor %.2f):\n    | sampler | NFE | FD |\n", n, m["fd_floor"])
	for _, r := range fdRows(m) {
		nfe := "-"
		if r.nfe >= 0 {
			nfe = strconv.Itoa(r.nfe)
		}
		fmt.Printf("    | %s | %s | %.2f |\n", r.name, nfe, r.fd)
	}
}

// vaeImages splits a model's error between its parts: "recon" decodes the
// posterior means of the first n test images (cycling when n exceeds the
// set), what the VAE alone can reproduce; "vae" decodes latents drawn from
// N(0, I), the VAE's own prior, which the score model replaces. Images come
// back through 8 bits, as samples do.
func vaeImages(m *runtime.Model, kind string, test *data.Set, n int, seed uint64) ([]float32, error) {
	dd, shape := weights.Numel(m.DataShape()), m.DataShape()
	if m.File.Arch.Likelihood == "none" {
		return nil, errors.New("the model has no VAE (--vae none)")
	}
	var out []float32
	for lo := 0; lo < n; lo += 500 {
		cnt := min(500, n-lo)
		var z []float32
		if kind == "recon" {
			x := make([]float32, cnt*dd)
			for i := 0; i < cnt; i++ {
				copy(x[i*dd:(i+1)*dd], test.Image((lo+i)%test.N))
			}
			if m.File.Arch.Likelihood == "logistic" {
				for i, v := range x {
					x[i] = 2*v - 1
				}
			}
			mu, _, err := m.Encode(x, cnt)
			if err != nil {
				return nil, err
			}
			z = mu
		} else {
			z = m.InitialNoise(seed, uint32(lo), cnt)
		}
		img, err := m.Decode(z, cnt)
		if err != nil {
			return nil, err
		}
		out = append(out, gpu.Images(runtime.RGBA8(img, cnt, shape), cnt, shape)...)
	}
	return out, nil
}
