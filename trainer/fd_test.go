package main

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/weights"

	"gonum.org/v1/gonum/mat"
)

// The Fréchet distance against closed forms: zero for the same statistics,
// the squared mean shift for equal covariances, and for diagonal
// covariances sum (sqrt(a_i) - sqrt(b_i))^2.
func TestFrechet(t *testing.T) {
	k := 4
	diag := func(v ...float64) *mat.SymDense {
		s := mat.NewSymDense(k, nil)
		for i, x := range v {
			s.SetSym(i, i, x)
		}
		return s
	}
	a := stats{[]float64{0, 1, 2, 3}, diag(1, 2, 3, 4)}
	b := stats{[]float64{1, 1, 2, 5}, diag(1, 2, 3, 4)}
	c := stats{[]float64{0, 1, 2, 3}, diag(4, 2, 0.25, 9)}
	for _, tc := range []struct {
		name string
		x, y stats
		want float64
	}{
		{"same", a, a, 0},
		{"mean shift", a, b, 1 + 4},
		{"diagonal covariances", a, c, 1 + 0 + math.Pow(math.Sqrt(3)-0.5, 2) + 1},
	} {
		got, err := frechet(tc.x, tc.y)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Statistics of rows: the covariance is the unbiased sample covariance.
	r := rand.New(rand.NewPCG(1, 1))
	f := make([]float64, 5000*2)
	for i := 0; i < 5000; i++ {
		u := r.NormFloat64()
		f[2*i], f[2*i+1] = 3+u, 2*u+0.5*r.NormFloat64()
	}
	s := featureStats(f, 5000, 2)
	if math.Abs(s.mu[0]-3) > 0.05 || math.Abs(s.cov.At(0, 1)-2) > 0.1 || math.Abs(s.cov.At(1, 1)-4.25) > 0.2 {
		t.Errorf("stats: mean %v, cov %v", s.mu, mat.Formatted(s.cov))
	}
}

// A classifier file that is missing, foreign or corrupt is refused by name;
// one that round-trips keeps its tensors.
func TestClassifierFile(t *testing.T) {
	dir := t.TempDir()
	c := &classifier{weights.Classifier{Graph: classifierGraph([]int{1, 28, 28}, 10), Tensors: map[string][]float32{}, Classes: 10}}
	_, specs, err := c.Graph.Shapes("classifier")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		c.Tensors[s.Name] = make([]float32, n)
		c.Tensors[s.Name][0] = 0.5
	}
	b, err := c.encode()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "c.lsgmc")
	os.WriteFile(good, b, 0o644)
	got, err := loadClassifier(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tensors["classifier/out.weight"][0] != 0.5 {
		t.Error("tensors did not round-trip")
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(filepath.Join(dir, "bad.lsgmc"), bad, 0o644)
	os.WriteFile(filepath.Join(dir, "foreign.lsgmc"), []byte("hello"), 0o644)
	for name, want := range map[string]string{"bad.lsgmc": "checksum", "foreign.lsgmc": "not a classifier file", "none.lsgmc": "trainer classifier --out"} {
		if _, err := loadClassifier(filepath.Join(dir, name)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, want)
		}
	}
}

// trainer fd runs end to end on the shipped classifier; a bad setting is
// refused by name.
func TestFDCommand(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Fashion-MNIST under CI")
		}
		t.Skip("no Fashion-MNIST: apt-get install dataset-fashion-mnist")
	}
	args := []string{"--weights", fixture, "--classifier", "../weights/fmnist-classifier.lsgmc", "--n", "20", "--backend", "cpu", "-q"}
	if err := runFD(append(args, "--runs", "ddim:2,euler:1,recon,vae")); err != nil {
		t.Fatal(err)
	}
	if err := runFD(append(args, "--runs", "ddim:x")); err == nil || !strings.Contains(err.Error(), "ddim:x") {
		t.Errorf("bad --runs: %v", err)
	}
	if err := runFD(append(args, "--runs", "magic:3")); err == nil || !strings.Contains(err.Error(), "unknown sampler") {
		t.Errorf("unknown sampler: %v", err)
	}
	// --record writes the table into a copy of the weights; a second record
	// at the same n adds its rows (and replaces those it repeats), one at
	// another n replaces the table; trainer info shows it.
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(t.TempDir(), "w.lsgm")
	if err := os.WriteFile(w, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := []string{"--weights", w, "--classifier", "../weights/fmnist-classifier.lsgmc", "--backend", "cpu", "-q", "--record"}
	if err := runFD(append(rec, "--n", "10", "--runs", "ddim:2,euler:1")); err != nil {
		t.Fatal(err)
	}
	first := readModel(t, w).Provenance.Metrics["fd:ddim:2"]
	if err := runFD(append(rec, "--n", "10", "--runs", "ddim:3,recon,ddim:2", "--seed", "5")); err != nil {
		t.Fatal(err)
	}
	m := readModel(t, w).Provenance.Metrics
	if m["fd_n"] != 10 || m["fd_floor"] <= 0 || m["fd:ddim:3"] <= 0 || m["nfe:ddim:3"] != 3 || m["fd:recon"] <= 0 || m["fd:euler:1"] <= 0 {
		t.Errorf("recorded metrics after two records at n = 10: %v", m)
	}
	if m["fd:ddim:2"] == first {
		t.Errorf("the second record (another seed) left ddim:2 at the first one's %v", first)
	}
	notes := readModel(t, w).Provenance.Notes
	if !strings.Contains(notes, "--runs ddim:2,euler:1") || !strings.Contains(notes, "--runs ddim:3,recon,ddim:2") {
		t.Errorf("notes %q", notes)
	}
	if err := runFD(append(rec, "--n", "12", "--runs", "ddim:2")); err != nil {
		t.Fatal(err)
	}
	m = readModel(t, w).Provenance.Metrics
	if _, ok := m["fd:euler:1"]; ok || m["fd_n"] != 12 {
		t.Errorf("a record at n = 12 kept the table at n = 10: %v", m)
	}
	if notes := readModel(t, w).Provenance.Notes; strings.Contains(notes, "--n 10") {
		t.Errorf("notes %q", notes)
	}
	if err := runInfo([]string{w}); err != nil {
		t.Fatal(err)
	}
	if err := runFD([]string{"--record", "-q"}); err == nil || !strings.Contains(err.Error(), "name it with --weights") {
		t.Errorf("--record without --weights: %v", err)
	}
}
