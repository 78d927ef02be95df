package runtime

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/lsgm-go/lsgm/weights"
)

// Classifier is a noisy classifier for classifier guidance: p(y | z_t, t)
// on a model's diffused latents (trainer classifier --noisy).
type Classifier struct {
	File *weights.Classifier
	plan *Plan
	dim  int
	kn   Kernels // its layers run as sampling's do; one call at a time
	mu   sync.Mutex
}

// LoadClassifier reads a classifier file and checks that it is a noisy one.
func LoadClassifier(b []byte) (*Classifier, error) {
	wc, err := weights.DecodeClassifier(b)
	if err != nil {
		return nil, err
	}
	if !wc.Noisy {
		return nil, errors.New("runtime: this classifier reads images (the Fréchet-distance one); classifier guidance needs one trained on a model's diffused latents (trainer classifier --noisy)")
	}
	f := &weights.File{}
	for name, t := range wc.Tensors {
		f.Tensors = append(f.Tensors, weights.Tensor{Name: name, Data: t})
	}
	p, err := compile("classifier", &wc.Graph, f)
	if err != nil {
		return nil, err
	}
	if _, ok := p.Inputs["z"]; !ok {
		return nil, errors.New("runtime: the noisy classifier has no input z")
	}
	if _, ok := p.Inputs["t"]; !ok {
		return nil, errors.New("runtime: the noisy classifier has no input t")
	}
	if s, ok := p.Outputs["logits"]; !ok || p.Sizes[s] != wc.Classes {
		return nil, fmt.Errorf("runtime: the noisy classifier needs %d logits", wc.Classes)
	}
	return &Classifier{File: wc, plan: p, dim: p.Sizes[p.Inputs["z"]]}, nil
}

// Plan is the classifier's compiled graph, for other backends.
func (c *Classifier) Plan() *Plan { return c.plan }

// Names are the classes it tells apart.
func (c *Classifier) Names() []string { return c.File.Names }

// ClassIndex resolves a class by name (any case) or index.
func (c *Classifier) ClassIndex(s string) (int, error) {
	return classIndex(c.Names(), "the classifier", s)
}

// classIndex finds s among names, or as an index into them.
func classIndex(names []string, whose, s string) (int, error) {
	for i, c := range names {
		if strings.EqualFold(c, s) {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(s); err == nil && i >= 0 && i < len(names) {
		return i, nil
	}
	return 0, fmt.Errorf("runtime: %s has no class %q; the classes are %s (or their index, 0 to %d)", whose, s, strings.Join(names, ", "), len(names)-1)
}

// SoftmaxSeed is d log softmax(l)_class / dl = one-hot minus softmax for n
// rows of k logits, and the rows' mean log-probability of the class: the
// seed of classifier guidance's backward pass on every backend.
func SoftmaxSeed(l []float32, n, k, class int) ([]float32, float64) {
	seed := make([]float32, n*k)
	var logp float64
	for i := 0; i < n; i++ {
		row := l[i*k : (i+1)*k]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v - mx))
		}
		for j, v := range row {
			pj := math.Exp(float64(v-mx)) / sum
			seed[i*k+j] = float32(-pj)
			if j == class {
				seed[i*k+j] += 1
				logp += math.Log(pj) / float64(n)
			}
		}
	}
	return seed, logp
}

// check refuses a classifier trained for another model.
func (c *Classifier) check(m *Model) error {
	if !weights.EqualShape(c.File.LatentShape, m.File.Arch.LatentShape) {
		return fmt.Errorf("runtime: the classifier reads latents of %v (model %s); %s's are %v", c.File.LatentShape, c.File.Model, m.File.Arch.Name, m.File.Arch.LatentShape)
	}
	if c.File.Model != m.File.Arch.Name {
		return fmt.Errorf("runtime: the classifier was trained on %s's latents, not %s's", c.File.Model, m.File.Arch.Name)
	}
	// Models of one name and shape (two trainings of one recipe) still have
	// different latent spaces: the encoder's checksum tells them apart.
	if c.File.EncoderSHA256 != "" && c.File.EncoderSHA256 != m.File.EncoderSHA256() {
		return fmt.Errorf("runtime: the classifier was trained on the latents of another %s (encoder %.12s, this model's %.12s); train one for this model with trainer classifier --noisy", m.File.Arch.Name, c.File.EncoderSHA256, m.File.EncoderSHA256())
	}
	return nil
}

// LogProbGrad writes d log p(class | z_t, t) / dz for the batch z into
// dst, and returns the batch's mean log p(class | z_t, t).
func (c *Classifier) LogProbGrad(dst, z []float32, t float64, class int) (float64, error) {
	if len(z)%c.dim != 0 || len(dst) != len(z) {
		return 0, fmt.Errorf("runtime: classifier input of %d values is not whole latents of %d", len(z), c.dim)
	}
	if class < 0 || class >= c.File.Classes {
		return 0, fmt.Errorf("runtime: class %d out of range [0, %d)", class, c.File.Classes)
	}
	n, k := len(z)/c.dim, c.File.Classes
	ts := make([]float32, n)
	for i := range ts {
		ts[i] = float32(t)
	}
	var logp float64
	seed := func(l []float32) []float32 {
		g, lp := SoftmaxSeed(l, n, k, class)
		logp = lp
		return g
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, grad, err := c.plan.vjp(&c.kn, n, map[string][]float32{"z": z, "t": ts}, "logits", seed, "z")
	if err != nil {
		return 0, err
	}
	copy(dst, grad)
	return logp, nil
}
