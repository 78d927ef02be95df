package runtime

import (
	"math"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

// classFixture is the tiny fixture made class-conditional (random weights).
func classFixture(t testing.TB) *Model {
	t.Helper()
	c := weights.TinyConfig()
	c.Classes = []string{"Sneaker", "Bag", "Dress"}
	a, err := weights.NewArch(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Random(a, 4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Guided evaluation is one batched pass whose halves combine as CFG: the
// same as evaluating the class and "no class" separately. The class input
// changes the output (the embedding is wired in), and scale 0 and 1 are the
// unconditional and conditional networks.
func TestGuidedEps(t *testing.T) {
	m := classFixture(t)
	const n = 3
	d := m.LatentDim()
	z := make([]float32, n*d)
	for i := range z {
		z[i] = float32(math.Sin(float64(i)))
	}
	cond, uncond := make([]float32, len(z)), make([]float32, len(z))
	if err := m.netEps(cond, z, 0.4, m.ClassInput(1, n)); err != nil {
		t.Fatal(err)
	}
	if err := m.NetEps(uncond, z, 0.4); err != nil {
		t.Fatal(err)
	}
	diff := 0.0
	for i := range z {
		diff = math.Max(diff, math.Abs(float64(cond[i]-uncond[i])))
	}
	if diff < 1e-4 {
		t.Fatalf("the class does not change the network's output (max diff %g)", diff)
	}
	for _, w := range []float64{0, 1, 2.5} {
		got, want := make([]float32, len(z)), make([]float32, len(z))
		if err := (guided{m, Guide{Class: 1, Scale: w}}).Eps(got, z, 0.4); err != nil {
			t.Fatal(err)
		}
		sampler.CFG(want, cond, uncond, w)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("scale %v: guided eps[%d] = %v, want %v", w, i, got[i], want[i])
			}
		}
	}
}

// Guided sampling runs end to end, a class is found by name or index, and
// what cannot be followed is refused by name.
func TestGuidedSampling(t *testing.T) {
	m := classFixture(t)
	i, err := m.ClassIndex("bag")
	if err != nil || i != 1 {
		t.Fatalf("ClassIndex(bag) = %d, %v", i, err)
	}
	if i, err := m.ClassIndex("2"); err != nil || i != 2 {
		t.Fatalf("ClassIndex(2) = %d, %v", i, err)
	}
	res, err := m.Sample(Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 4}, Count: 2, Seed: 1, Guide: &Guide{Class: 1, Scale: 3}}, nil)
	if err != nil || res.Stats.NFE != 4 {
		t.Fatalf("guided sample: %v", err)
	}
	for _, v := range res.Images {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("guided sample: pixel %v", v)
		}
	}
	bad := []struct {
		m    *Model
		g    Guide
		want string
	}{
		{m, Guide{Class: 3, Scale: 1}, "class 3 out of range"},
		{m, Guide{Class: 0, Scale: -1}, "guidance scale -1"},
		{m, Guide{Class: 0, Scale: 100}, "guidance scale 100"},
		{fixture(t), Guide{Class: 0, Scale: 1}, "not class-conditional"},
	}
	for _, b := range bad {
		g := b.g
		_, err := b.m.Sample(Request{Sampler: sampler.Config{Name: "ddim", NFE: 2}, Count: 1, Guide: &g}, nil)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("guide %+v: %v, want an error with %q", b.g, err, b.want)
		}
	}
	if _, err := m.ClassIndex("boot"); err == nil || !strings.Contains(err.Error(), "Sneaker, Bag, Dress") {
		t.Errorf("unknown class: %v", err)
	}
	if _, err := fixture(t).ClassIndex("bag"); err == nil || !strings.Contains(err.Error(), "not class-conditional") {
		t.Errorf("class on an unconditional model: %v", err)
	}
}

// Without a guide a class-conditional model samples each image under its
// own class at scale 1, drawn from (seed, image index): the same images as
// asking for those classes one by one, and not those of the "no class"
// slot (a guide at scale 0).
func TestUnguidedSampling(t *testing.T) {
	m := classFixture(t)
	cfg := sampler.Config{Name: "dpmpp2m", NFE: 4}
	const n, seed, first = 6, 11, 3
	all, err := m.Sample(Request{Sampler: cfg, Count: n, Seed: seed, First: first}, nil)
	if err != nil {
		t.Fatal(err)
	}
	classes := m.Unguided(seed, first, n).ImageClasses()
	seen := map[int]bool{}
	d := m.LatentDim()
	for i, c := range classes {
		seen[c] = true
		one, err := m.Sample(Request{Sampler: cfg, Count: 1, Seed: seed, First: first + uint32(i), Guide: &Guide{Class: c, Scale: 1}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range one.Latent {
			if w := all.Latent[i*d+j]; math.Abs(float64(v-w)) > 1e-5*(1+math.Abs(float64(w))) {
				t.Fatalf("image %d (class %d): latent[%d] = %v unguided, %v asked for its class", i, c, j, w, v)
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("six images drew one class (%v)", classes)
	}
	none, err := m.Sample(Request{Sampler: cfg, Count: n, Seed: seed, First: first, Guide: &Guide{Class: 0, Scale: 0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	diff := 0.0
	for i, v := range none.Latent {
		diff = math.Max(diff, math.Abs(float64(v-all.Latent[i])))
	}
	if diff < 1e-4 {
		t.Errorf("unguided samples equal the no-class ones (max diff %g)", diff)
	}
	if m2 := fixture(t); m2.Unguided(seed, first, n) != nil {
		t.Error("a model without classes got a per-image guide")
	}
}
