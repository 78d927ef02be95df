package runtime

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

// testClassifier is a noisy classifier of m's latents with random weights.
func testClassifier(t *testing.T, m *Model, noisy bool) []byte {
	t.Helper()
	lat := m.File.Arch.LatentShape
	g := weights.Graph{Inputs: []weights.Input{{Name: "z", Shape: lat}, {Name: "t", Shape: []int{1}}}}
	add := func(n weights.Node) { g.Nodes = append(g.Nodes, n) }
	add(weights.Node{Name: "te", Op: "timeembed", In: []string{"t"}, Dim: 8, Scale: 1000})
	add(weights.Node{Name: "t1", Op: "linear", In: []string{"te"}, Out: 8})
	add(weights.Node{Name: "c1", Op: "conv2d", In: []string{"z"}, Out: 8, Kernel: 3, Stride: 2, Pad: 1})
	add(weights.Node{Name: "h", Op: "add", In: []string{"c1", "t1"}})
	add(weights.Node{Name: "a", Op: "silu", In: []string{"h"}})
	ho, wo := ConvOut(lat[1], 3, 2, 1), ConvOut(lat[2], 3, 2, 1)
	add(weights.Node{Name: "flat", Op: "reshape", In: []string{"a"}, Shape: []int{8 * ho * wo}})
	add(weights.Node{Name: "out", Op: "linear", In: []string{"flat"}, Out: 3})
	g.Outputs = []weights.Port{{Name: "logits", Node: "out"}}
	_, params, err := g.Shapes("classifier")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	c := &weights.Classifier{Graph: g, Tensors: map[string][]float32{}, Classes: 3, Noisy: noisy, Names: []string{"Sneaker", "Bag", "Dress"},
		Model: m.File.Arch.Name, EncoderSHA256: m.File.EncoderSHA256(), LatentShape: lat}
	for _, p := range params {
		d := make([]float32, weights.Numel(p.Shape))
		for i := range d {
			d[i] = float32(r.NormFloat64() * 0.5)
		}
		c.Tensors[p.Name] = d
	}
	b, err := weights.EncodeClassifier(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Classifier guidance in the runtime: the gradient of log p(class | z_t)
// against central differences; scale 0 is the unguided sample; a larger
// scale raises the classifier's log-probability of the class at the end;
// bad classifiers and classes are refused by name.
func TestClassifierGuidance(t *testing.T) {
	m := editModel(t, false)
	c, err := LoadClassifier(testClassifier(t, m, true))
	if err != nil {
		t.Fatal(err)
	}
	d := m.LatentDim()
	r := rand.New(rand.NewPCG(2, 2))
	z := make([]float32, 2*d)
	for i := range z {
		z[i] = float32(r.NormFloat64())
	}
	grad := make([]float32, len(z))
	if _, err := c.LogProbGrad(grad, z, 0.4, 1); err != nil {
		t.Fatal(err)
	}
	logp := func(z []float32) float64 {
		v, err := c.LogProbGrad(make([]float32, len(z)), z, 0.4, 1)
		if err != nil {
			t.Fatal(err)
		}
		return 2 * v // the batch's sum: LogProbGrad returns the mean
	}
	var num, den float64
	for i := range z {
		zp, zm := append([]float32(nil), z...), append([]float32(nil), z...)
		zp[i] += 1e-2
		zm[i] -= 1e-2
		fd := (logp(zp) - logp(zm)) / 2e-2
		num += (fd - float64(grad[i])) * (fd - float64(grad[i]))
		den += fd * fd
	}
	if rel := math.Sqrt(num / den); rel > 5e-3 {
		t.Errorf("d log p / dz differs from central differences by %.3g relative", rel)
	}
	cfg := sampler.Config{Name: "dpmpp2m", NFE: 5}
	sample := func(g *Guide) []float32 {
		res, err := m.Sample(Request{Sampler: cfg, Count: 8, Seed: 3, Guide: g}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Latent
	}
	plain := sample(nil)
	if z0 := sample(&Guide{Class: 1, Scale: 0, Classifier: c}); meanAbs(z0, plain) != 0 {
		t.Error("classifier guidance at scale 0 changed the samples")
	}
	lp := func(z []float32) float64 {
		v, err := c.LogProbGrad(make([]float32, len(z)), z, 1e-3, 1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	l0, l4 := lp(plain), lp(sample(&Guide{Class: 1, Scale: 4, Classifier: c}))
	if l4 <= l0 {
		t.Errorf("guidance at scale 4 left log p(class) at %.3f (unguided %.3f)", l4, l0)
	}
	t.Logf("mean log p(Bag | z) at the end: %.3f unguided, %.3f at scale 4", l0, l4)

	if _, err := LoadClassifier(testClassifier(t, m, false)); err == nil || !strings.Contains(err.Error(), "reads images") {
		t.Errorf("an image classifier: %v", err)
	}
	other := editModel(t, true) // data space: another latent shape
	for _, g := range []*Guide{{Class: 3, Scale: 1, Classifier: c}, {Class: -1, Scale: 1, Classifier: c}} {
		if err := m.CheckGuide(g); err == nil || !strings.Contains(err.Error(), "out of range [0, 3)") {
			t.Errorf("class %d: %v", g.Class, err)
		}
	}
	if err := other.CheckGuide(&Guide{Class: 0, Scale: 1, Classifier: c}); err == nil || !strings.Contains(err.Error(), "reads latents of") {
		t.Errorf("another model's classifier: %v", err)
	}
	// The same recipe trained again: same name and shapes, another encoder.
	twin, err := weights.Random(&m.File.Arch, 5)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := New(twin)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.CheckGuide(&Guide{Class: 0, Scale: 1, Classifier: c}); err == nil || !strings.Contains(err.Error(), "latents of another") {
		t.Errorf("a classifier of another training of the same model: %v", err)
	}
	if _, err := c.ClassIndex("hat"); err == nil || !strings.Contains(err.Error(), "Sneaker, Bag, Dress") {
		t.Errorf("unknown class: %v", err)
	}
	if i, err := c.ClassIndex("dress"); err != nil || i != 2 {
		t.Errorf("dress: %d, %v", i, err)
	}
}
