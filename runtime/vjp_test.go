package runtime

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/weights"
)

// vjpGraph uses every op VJP differentiates: a time embedding through a
// linear layer added to a convolution's channels, group norm, SiLU,
// upsampling, concatenation, a strided convolution, sigmoid and linear
// layers to a few logits.
func vjpGraph() weights.Graph {
	g := weights.Graph{Inputs: []weights.Input{{Name: "z", Shape: []int{2, 4, 4}}, {Name: "t", Shape: []int{1}}}}
	add := func(n weights.Node) { g.Nodes = append(g.Nodes, n) }
	add(weights.Node{Name: "te", Op: "timeembed", In: []string{"t"}, Dim: 8, Scale: 100})
	add(weights.Node{Name: "tl", Op: "linear", In: []string{"te"}, Out: 6})
	add(weights.Node{Name: "c1", Op: "conv2d", In: []string{"z"}, Out: 6, Kernel: 3, Stride: 1, Pad: 1})
	add(weights.Node{Name: "h", Op: "add", In: []string{"c1", "tl"}})
	add(weights.Node{Name: "n1", Op: "groupnorm", In: []string{"h"}, Groups: 2, Eps: 1e-5})
	add(weights.Node{Name: "a1", Op: "silu", In: []string{"n1"}})
	add(weights.Node{Name: "up", Op: "upsample", In: []string{"a1"}, Factor: 2})
	add(weights.Node{Name: "c2", Op: "conv2d", In: []string{"up"}, Out: 4, Kernel: 3, Stride: 2, Pad: 1})
	add(weights.Node{Name: "cat", Op: "concat", In: []string{"c2", "z"}})
	add(weights.Node{Name: "s", Op: "sigmoid", In: []string{"cat"}})
	add(weights.Node{Name: "flat", Op: "reshape", In: []string{"s"}, Shape: []int{6 * 4 * 4}})
	add(weights.Node{Name: "out", Op: "linear", In: []string{"flat"}, Out: 3})
	g.Outputs = []weights.Port{{Name: "logits", Node: "out"}}
	return g
}

func vjpPlan(t *testing.T, g weights.Graph) *Plan {
	t.Helper()
	_, params, err := g.Shapes("clf")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	f := &weights.File{}
	for _, ps := range params {
		d := make([]float32, weights.Numel(ps.Shape))
		for i := range d {
			d[i] = float32(r.NormFloat64() * 0.4)
			if strings.HasSuffix(ps.Name, "n1.weight") {
				d[i] = 1 + d[i]/4
			}
		}
		f.Tensors = append(f.Tensors, weights.Tensor{Name: ps.Name, Shape: ps.Shape, Data: d})
	}
	p, err := compile("clf", &g, f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// VJP against central differences of the forward pass in float64 terms:
// the float32 forward limits the agreement to about 1e-3 relative.
func TestVJPFiniteDifferences(t *testing.T) {
	p := vjpPlan(t, vjpGraph())
	r := rand.New(rand.NewPCG(5, 6))
	const n = 3
	z := make([]float32, n*32)
	for i := range z {
		z[i] = float32(r.NormFloat64())
	}
	tt := []float32{0.1, 0.5, 0.9}
	seed := make([]float32, n*3)
	for i := range seed {
		seed[i] = float32(r.NormFloat64())
	}
	y, grad, err := p.VJP(n, map[string][]float32{"z": z, "t": tt}, "logits", fixed(seed), "z")
	if err != nil {
		t.Fatal(err)
	}
	if len(y) != n*3 || len(grad) != len(z) {
		t.Fatalf("%d outputs and %d gradients", len(y), len(grad))
	}
	f := func(z []float32) float64 {
		out, _, err := p.VJP(n, map[string][]float32{"z": z, "t": tt}, "logits", fixed(seed), "z")
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range out {
			s += float64(v) * float64(seed[i])
		}
		return s
	}
	var num, den float64
	const h = 1e-2
	for i := range z {
		zp, zm := append([]float32(nil), z...), append([]float32(nil), z...)
		zp[i] += h
		zm[i] -= h
		fd := (f(zp) - f(zm)) / (2 * h)
		num += (fd - float64(grad[i])) * (fd - float64(grad[i]))
		den += fd * fd
	}
	rel := math.Sqrt(num / den)
	if rel > 2e-3 {
		t.Errorf("VJP differs from central differences by %.3g relative (norm)", rel)
	}
	t.Logf("VJP against central differences: %.2g relative over %d inputs", rel, len(z))
	// The forward values are the executor's.
	e, err := p.newExec(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.run(n, map[string][]float32{"z": z, "t": tt})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got["logits"] {
		if math.Abs(float64(v-y[i])) > 1e-4*(1+math.Abs(float64(v))) {
			t.Fatalf("logit %d: VJP's forward %v, the executor's %v", i, y[i], v)
		}
	}
}

func TestVJPErrors(t *testing.T) {
	p := vjpPlan(t, vjpGraph())
	in := map[string][]float32{"z": make([]float32, 32), "t": []float32{0.5}}
	for _, c := range []struct {
		out, wrt string
		seed     int
		want     string
	}{
		{"probs", "z", 3, "no output"},
		{"logits", "x", 3, "no input"},
		{"logits", "z", 2, "the seed 2"},
		{"logits", "t", 3, "does not depend"},
	} {
		_, _, err := p.VJP(1, in, c.out, fixed(make([]float32, c.seed)), c.wrt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s/%s: %v, want %q", c.out, c.wrt, err, c.want)
		}
	}
}

func fixed(seed []float32) func([]float32) []float32 {
	return func([]float32) []float32 { return seed }
}

// The fast path (the layers on the sampling kernels, the convolution's and
// linear layers' input gradients through a matrix multiply) gives the
// reference's outputs and gradient.
func TestVJPFastMatchesReference(t *testing.T) {
	p := vjpPlan(t, vjpGraph())
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 4} {
		z := make([]float32, n*32)
		for i := range z {
			z[i] = float32(r.NormFloat64())
		}
		tt := make([]float32, n)
		seed := make([]float32, n*3)
		for i := range tt {
			tt[i] = r.Float32()
		}
		for i := range seed {
			seed[i] = float32(r.NormFloat64())
		}
		in := map[string][]float32{"z": z, "t": tt}
		y0, g0, err := p.VJP(n, in, "logits", fixed(seed), "z")
		if err != nil {
			t.Fatal(err)
		}
		var kn Kernels
		y1, g1, err := p.vjp(&kn, n, in, "logits", fixed(seed), "z")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2][]float32{{y0, y1}, {g0, g1}} {
			for i, v := range c[0] {
				if math.Abs(float64(c[1][i]-v)) > 1e-5*(1+math.Abs(float64(v))) {
					t.Fatalf("n=%d: fast %v, reference %v at %d", n, c[1][i], v, i)
				}
			}
		}
	}
}
