package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// noisyGraph is classifier guidance's classifier: p(y | z_t, t) on a
// model's latents [C, H, W]. The time enters as the score network's does
// (a sinusoidal embedding through two linear layers, added to the first
// convolution's channels); then two 3x3 convolutions, the second with
// stride 2, and two linear layers to the logits.
func noisyGraph(latent []int, classes int) weights.Graph {
	g := weights.Graph{Inputs: []weights.Input{{Name: "z", Shape: latent}, {Name: "t", Shape: []int{1}}}}
	add := func(n weights.Node) { g.Nodes = append(g.Nodes, n) }
	add(weights.Node{Name: "te", Op: "timeembed", In: []string{"t"}, Dim: 64, Scale: 1000})
	add(weights.Node{Name: "t1", Op: "linear", In: []string{"te"}, Out: 64})
	add(weights.Node{Name: "ta", Op: "silu", In: []string{"t1"}})
	add(weights.Node{Name: "t2", Op: "linear", In: []string{"ta"}, Out: 64})
	add(weights.Node{Name: "c1", Op: "conv2d", In: []string{"z"}, Out: 64, Kernel: 3, Stride: 1, Pad: 1})
	add(weights.Node{Name: "h1", Op: "add", In: []string{"c1", "t2"}})
	add(weights.Node{Name: "a1", Op: "silu", In: []string{"h1"}})
	add(weights.Node{Name: "c2", Op: "conv2d", In: []string{"a1"}, Out: 64, Kernel: 3, Stride: 1, Pad: 1})
	add(weights.Node{Name: "a2", Op: "silu", In: []string{"c2"}})
	add(weights.Node{Name: "c3", Op: "conv2d", In: []string{"a2"}, Out: 64, Kernel: 3, Stride: 2, Pad: 1})
	add(weights.Node{Name: "a3", Op: "silu", In: []string{"c3"}})
	ho, wo := runtime.ConvOut(latent[1], 3, 2, 1), runtime.ConvOut(latent[2], 3, 2, 1)
	add(weights.Node{Name: "flat", Op: "reshape", In: []string{"a3"}, Shape: []int{64 * ho * wo}})
	add(weights.Node{Name: "f1", Op: "linear", In: []string{"flat"}, Out: 128})
	add(weights.Node{Name: "a4", Op: "silu", In: []string{"f1"}})
	add(weights.Node{Name: "out", Op: "linear", In: []string{"a4"}, Out: classes})
	g.Outputs = []weights.Port{{Name: "logits", Node: "out"}}
	return g
}

// noisyNet is the noisy classifier's graph for one batch, with its loss.
type noisyNet struct {
	vm           G.VM
	z, t, y      *G.Node
	logits, cost *G.Node
	times        []nn.TimeInput
	params       *nn.Params
}

func buildNoisy(c *weights.Classifier, batch int, train bool) (*noisyNet, error) {
	g := G.NewGraph()
	p, err := nn.NewGraphParams(g, &c.Graph, "classifier", c.Tensors)
	if err != nil {
		return nil, err
	}
	zs := append([]int{batch}, c.LatentShape...)
	z := G.NewTensor(g, G.Float32, len(zs), G.WithShape(zs...), G.WithName("z"), G.WithInit(G.Zeroes()))
	t := G.NewMatrix(g, G.Float32, G.WithShape(batch, 1), G.WithName("t"), G.WithInit(G.Zeroes()))
	net, err := nn.Build(g, &c.Graph, "classifier", batch, map[string]*G.Node{"z": z, "t": t}, p)
	if err != nil {
		return nil, err
	}
	nt := &noisyNet{z: z, t: t, times: net.Times, params: p}
	if nt.logits, err = nn.Tap(net.Outputs["logits"]); err != nil {
		return nil, err
	}
	if train {
		if nt.y, nt.cost, err = classLoss(net.Outputs["logits"], p, batch, c.Classes); err != nil {
			return nil, err
		}
	}
	nt.vm = G.NewTapeMachine(g)
	return nt, nil
}

// run evaluates the net for the times ts (one a sample).
func (nt *noisyNet) run(ts []float32) error {
	nn.FillTimes(nt.times, ts)
	nt.vm.Reset()
	return nt.vm.RunAll()
}

// latentsOf encodes a set with the model: posterior means and log sds.
func latentsOf(m *runtime.Model, set *data.Set, quiet bool, what string) (mu, ls []float32, err error) {
	d := weights.Numel(set.Shape)
	for lo := 0; lo < set.N; lo += 1000 {
		k := min(1000, set.N-lo)
		x := append([]float32(nil), set.Images[lo*d:(lo+k)*d]...)
		if m.File.Arch.Likelihood != "bernoulli" {
			for i, v := range x {
				x[i] = 2*v - 1
			}
		}
		a, b, err := m.Encode(x, k)
		if err != nil {
			return nil, nil, err
		}
		mu, ls = append(mu, a...), append(ls, b...)
		if !quiet {
			fmt.Fprintf(os.Stderr, "\rtrainer classifier: encoding the %s set: %d/%d   ", what, lo+k, set.N)
		}
	}
	if !quiet {
		fmt.Fprintln(os.Stderr)
	}
	return mu, ls, nil
}

// diffuse draws z_t = m_t (mu + e^ls e1) + sigma_t e2 for the rows idx of
// the posterior, at the times ts.
func diffuse(dst []float32, s sde.SDE, mu, ls []float32, idx []int, ts []float32, d int, r *rand.Rand) {
	for k, i := range idx {
		t := float64(ts[k])
		m, sg := s.Mean(t), sde.Sigma(s, t)
		for j := 0; j < d; j++ {
			z0 := float64(mu[i*d+j]) + math.Exp(float64(ls[i*d+j]))*r.NormFloat64()
			dst[k*d+j] = float32(m*z0 + sg*r.NormFloat64())
		}
	}
}

// trainNoisy is trainer classifier --noisy: a classifier of the model's
// diffused latents, for classifier guidance.
func trainNoisy(modelPath, out, dir string, epochs, batch int, lr float64, seed uint64, images int, quiet bool) error {
	m, name, _, err := loadModel("trainer classifier", modelPath)
	if err != nil {
		return err
	}
	if m.File.Arch.Likelihood == "none" {
		return fmt.Errorf("trainer classifier: %s has no VAE: classifier guidance of a data-space model would classify noisy pixels, which --noisy does not train", name)
	}
	train, err := data.FashionMNIST(dir, "train")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	test, err := data.FashionMNIST(dir, "test")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	if train.Labels == nil || test.Labels == nil {
		return errors.New("trainer classifier: the data has no label files")
	}
	if !weights.EqualShape(train.Shape, m.DataShape()) {
		return fmt.Errorf("trainer classifier: the data's images are %v, %s's %v", train.Shape, name, m.DataShape())
	}
	if images > 0 { // a quick run on the first images of each set
		train.N, test.N = min(train.N, images), min(test.N, images)
	}
	if train.N < batch || test.N < batch {
		return fmt.Errorf("trainer classifier: %d training and %d test images for batches of %d", train.N, test.N, batch)
	}
	names, err := train.ClassNames()
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	latent := m.File.Arch.LatentShape
	c := &weights.Classifier{Graph: noisyGraph(latent, len(names)), Tensors: map[string][]float32{}, Classes: len(names),
		Dataset: train.Source, DatasetSHA256: train.SHA256, Epochs: epochs, Noisy: true, Names: names,
		Model: m.File.Arch.Name, EncoderSHA256: m.File.EncoderSHA256(), LatentShape: latent, AccuracyAt: map[string]float64{}}
	_, specs, err := c.Graph.Shapes("classifier")
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 8))
	for _, s := range specs {
		t := make([]float32, weights.Numel(s.Shape))
		if strings.HasSuffix(s.Name, ".weight") {
			fan := weights.Numel(s.Shape[1:])
			for i := range t {
				t[i] = float32(r.NormFloat64() * math.Sqrt(2/float64(fan)))
			}
		}
		c.Tensors[s.Name] = t
	}
	mu, ls, err := latentsOf(m, train, quiet, "training")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	nt, err := buildNoisy(c, batch, true)
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	defer nt.vm.Close()
	opt := lsgm.NewAdam(lr, false, 0)
	d := weights.Numel(latent)
	zs, ys := nt.z.Value().Data().([]float32), nt.y.Value().Data().([]float32)
	ts := make([]float32, batch)
	steps := train.N / batch
	start := time.Now()
	grads := map[string][]float32{}
	const eps = 1e-3
	for ep := 0; ep < epochs; ep++ {
		perm := r.Perm(train.N)
		var loss float64
		for s := 0; s < steps; s++ {
			idx := perm[s*batch : (s+1)*batch]
			clear(ys)
			for k, i := range idx {
				ts[k] = float32(eps + (1-eps)*r.Float64())
				ys[k*c.Classes+int(train.Labels[i])] = 1
			}
			diffuse(zs, m.SDE, mu, ls, idx, ts, d, r)
			if err := nt.run(ts); err != nil {
				return fmt.Errorf("trainer classifier: %v", err)
			}
			for _, n := range nt.params.Names {
				gv, err := nt.params.Nodes[n].Grad()
				if err != nil {
					return err
				}
				grads[n] = gv.Data().([]float32)
			}
			frac := float64(ep*steps+s) / float64(epochs*steps)
			if err := opt.Step(c.Tensors, grads, lsgm.GradNorm(grads), 0.5*(1+math.Cos(math.Pi*frac))); err != nil {
				return fmt.Errorf("trainer classifier: step %d: %v", ep*steps+s, err)
			}
			loss += float64(nt.cost.Value().Data().(float32))
			if !quiet && (s%50 == 0 || s == steps-1) {
				fmt.Fprintf(os.Stderr, "\rtrainer classifier: epoch %d/%d step %d/%d  loss %.4f  %.0f latents/s ", ep+1, epochs, s+1, steps,
					loss/float64(s+1), float64((ep*steps+s+1)*batch)/time.Since(start).Seconds())
			}
		}
		if !quiet {
			fmt.Fprintln(os.Stderr)
		}
	}
	// Test accuracy at a few times, on the test set's diffused latents.
	tmu, tls, err := latentsOf(m, test, quiet, "test")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	acc, err := noisyAccuracy(c, m, test, tmu, tls, batch, r)
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	var report []string
	for _, tt := range noisyTimes {
		k := strconv.FormatFloat(tt, 'g', -1, 64)
		c.AccuracyAt[k] = acc[k]
		report = append(report, fmt.Sprintf("%.1f%% at t=%g", 100*acc[k], tt))
	}
	c.Accuracy = acc["0.1"]
	enc, err := weights.EncodeClassifier(c)
	if err != nil {
		return err
	}
	if err := lsgm.WriteFileAtomic(out, enc); err != nil {
		return fmt.Errorf("trainer classifier: writing %s: %v", out, err)
	}
	fmt.Printf("wrote %s: a noisy classifier of %s's latents, test accuracy %s; %d epochs, %.0fs\n", out, m.File.Arch.Name, strings.Join(report, ", "), epochs, time.Since(start).Seconds())
	return nil
}

// noisyTimes are the diffusion times of a noisy classifier's recorded test
// accuracies.
var noisyTimes = []float64{0.1, 0.5, 0.8, 0.9, 0.95}

// noisyAccuracy is c's test accuracy at each of noisyTimes (keyed as
// AccuracyAt is) on the test set's latents (mu, ls) diffused to that time.
func noisyAccuracy(c *weights.Classifier, m *runtime.Model, test *data.Set, mu, ls []float32, batch int, r *rand.Rand) (map[string]float64, error) {
	batch = min(batch, test.N)
	ev, err := buildNoisy(c, batch, false)
	if err != nil {
		return nil, err
	}
	defer ev.vm.Close()
	ez := ev.z.Value().Data().([]float32)
	d := weights.Numel(c.LatentShape)
	ts := make([]float32, batch)
	idx := make([]int, batch)
	acc := map[string]float64{}
	for _, tt := range noisyTimes {
		right, total := 0, 0
		for lo := 0; lo+batch <= test.N; lo += batch {
			for k := range idx {
				idx[k] = lo + k
				ts[k] = float32(tt)
			}
			diffuse(ez, m.SDE, mu, ls, idx, ts, d, r)
			if err := ev.run(ts); err != nil {
				return nil, err
			}
			l := ev.logits.Value().Data().([]float32)
			for k, i := range idx {
				best := 0
				for j := 1; j < c.Classes; j++ {
					if l[k*c.Classes+j] > l[k*c.Classes+best] {
						best = j
					}
				}
				if best == int(test.Labels[i]) {
					right++
				}
				total++
			}
		}
		acc[strconv.FormatFloat(tt, 'g', -1, 64)] = float64(right) / float64(total)
	}
	return acc, nil
}

// rebindNoisy is trainer classifier --rebind: it checks that a noisy
// classifier reads the model's latents (its test accuracy there at every
// recorded time within 4 standard errors of the recorded one) and writes it
// bound to the model's encoder (weights.Classifier.EncoderSHA256). Older
// classifiers recorded the whole file's checksum, which a later fd or eval
// --record changes.
func rebindNoisy(path, modelPath, out, dir string, batch int, seed uint64, images int, quiet bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	c, err := weights.DecodeClassifier(b)
	if err != nil {
		return fmt.Errorf("trainer classifier: %s: %v", path, err)
	}
	if !c.Noisy || len(c.AccuracyAt) == 0 {
		return fmt.Errorf("trainer classifier: %s is not a noisy classifier with recorded accuracies; --rebind has nothing to check it by", path)
	}
	m, name, _, err := loadModel("trainer classifier", modelPath)
	if err != nil {
		return err
	}
	if !weights.EqualShape(c.LatentShape, m.File.Arch.LatentShape) || c.Model != m.File.Arch.Name {
		return fmt.Errorf("trainer classifier: %s reads %s's latents of %v; %s is %s with %v", path, c.Model, c.LatentShape, name, m.File.Arch.Name, m.File.Arch.LatentShape)
	}
	test, err := data.FashionMNIST(dir, "test")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	if test.Labels == nil {
		return errors.New("trainer classifier: the data has no label files")
	}
	if images > 0 {
		test.N = min(test.N, images)
	}
	mu, ls, err := latentsOf(m, test, quiet, "test")
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	acc, err := noisyAccuracy(c, m, test, mu, ls, batch, rand.New(rand.NewPCG(seed, 9)))
	if err != nil {
		return fmt.Errorf("trainer classifier: %v", err)
	}
	var report []string
	for k, want := range c.AccuracyAt {
		got, ok := acc[k]
		if !ok {
			continue // a time this version does not measure
		}
		// Two independent measurements on n images: the difference's SE.
		se := math.Sqrt(2 * want * (1 - want) / float64(test.N))
		if math.Abs(got-want) > 4*se+1e-9 {
			return fmt.Errorf("trainer classifier: %s is not a classifier of %s's latents: test accuracy at t=%s is %.1f%% where it recorded %.1f%%", path, name, k, 100*got, 100*want)
		}
		report = append(report, fmt.Sprintf("t=%s %.1f%% (recorded %.1f%%)", k, 100*got, 100*want))
	}
	if len(report) == 0 {
		return fmt.Errorf("trainer classifier: %s records accuracies at no time this version measures (%v); --rebind has nothing to check it by", path, noisyTimes)
	}
	sort.Strings(report)
	c.EncoderSHA256, c.ModelSHA256 = m.File.EncoderSHA256(), ""
	enc, err := weights.EncodeClassifier(c)
	if err != nil {
		return err
	}
	if err := lsgm.WriteFileAtomic(out, enc); err != nil {
		return fmt.Errorf("trainer classifier: writing %s: %v", out, err)
	}
	fmt.Printf("wrote %s: bound to %s's encoder %.12s; test accuracy %s\n", out, name, c.EncoderSHA256, strings.Join(report, ", "))
	return nil
}
