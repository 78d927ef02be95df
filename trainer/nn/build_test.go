package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/weights"
)

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(scale * r.NormFloat64())
	}
	return s
}

func input(g *G.ExprGraph, name string, shape []int, data []float32) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

// relErr is max |a-b| / (1 + max |b|).
func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / (1 + m)
}

// The gorgonia networks compute what the runtime's CPU reference computes,
// for every graph of both the fixture and a bernoulli/logistic variant.
func TestForwardMatchesRuntime(t *testing.T) {
	for _, lik := range []string{"bernoulli", "logistic"} {
		cfg := weights.TinyConfig()
		cfg.Likelihood = lik
		cfg.ScoreMult = []int{1, 2} // exercise the strided conv, upsample and concat
		cfg.Down = 1                // a 14x14 latent, so the U-Net can halve it
		a, err := weights.NewArch(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f, err := weights.Random(a, 7)
		if err != nil {
			t.Fatal(err)
		}
		m, err := runtime.New(f)
		if err != nil {
			t.Fatal(err)
		}
		const B = 3
		r := rand.New(rand.NewPCG(1, 2))
		dd, ld := weights.Numel(a.DataShape), weights.Numel(a.LatentShape)
		x := randSlice(r, B*dd, 1)
		z := randSlice(r, B*ld, 1)
		ts := []float32{0.3, 0.3, 0.3}

		g := G.NewGraph()
		p, err := NewParams(g, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		xn := input(g, "x", append([]int{B}, a.DataShape...), append([]float32(nil), x...))
		zn := input(g, "z", append([]int{B}, a.LatentShape...), append([]float32(nil), z...))
		tn := input(g, "t", []int{B, 1}, ts)
		enc, err := Build(g, a.Encoder, "encoder", B, map[string]*G.Node{"x": xn}, p)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := Build(g, a.Decoder, "decoder", B, map[string]*G.Node{"z": zn}, p)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := Build(g, &a.Score, "score", B, map[string]*G.Node{"z": zn, "t": tn}, p)
		if err != nil {
			t.Fatal(err)
		}
		FillTimes(sc.Times, ts)
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := func(n *G.Node) []float32 { return n.Value().Data().([]float32) }

		mu, ls, err := m.Encode(x, B)
		if err != nil {
			t.Fatal(err)
		}
		eps := make([]float32, B*ld)
		if err := m.NetEps(eps, z, 0.3); err != nil {
			t.Fatal(err)
		}
		check := func(what string, a, b []float32) {
			if e := relErr(a, b); e > 2e-5 {
				t.Errorf("%s %s: relative error %.2g > 2e-5", lik, what, e)
			}
		}
		check("mu", got(enc.Outputs["mu"]), mu)
		check("log_sigma", got(enc.Outputs["log_sigma"]), ls)
		check("eps", got(sc.Outputs["eps"]), eps)
		if lik == "bernoulli" {
			img, err := m.Decode(z, B)
			if err != nil {
				t.Fatal(err)
			}
			lg := got(dec.Outputs["logits"])
			sg := make([]float32, len(lg))
			runtime.Sigmoid(sg, lg)
			check("decoded", sg, img)
		}
	}
}
