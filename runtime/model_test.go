package runtime

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func fixture(t testing.TB) *Model {
	t.Helper()
	b, err := os.ReadFile("../weights/testdata/tiny.lsgm")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Every sampler runs end to end on the fixture: finite images in [0, 1] of the
// right size, the NFE it promises.
func TestSampleEverySampler(t *testing.T) {
	m := fixture(t)
	wantNFE := map[string]int{"euler": 8, "heun": 8, "ddim": 8, "ddpm": 8, "dpmpp2m": 8, "euler_maruyama": 8, "pc": 8, "ald": 8}
	for _, name := range sampler.Names {
		cfg := sampler.Config{Name: name, NFE: 8, StepsPerLevel: 2}
		if name == "ald" {
			continue // needs the vesde; covered below
		}
		calls := 0
		res, err := m.Sample(Request{Sampler: cfg, Count: 3, Seed: 7}, func(sampler.Step) { calls++ })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Images) != 3*28*28 {
			t.Fatalf("%s: %d values", name, len(res.Images))
		}
		for _, v := range res.Images {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("%s: pixel %v outside [0, 1]", name, v)
			}
		}
		if w, ok := wantNFE[name]; ok && res.Stats.NFE != w {
			t.Errorf("%s: NFE %d, want %d", name, res.Stats.NFE, w)
		}
		if calls != res.Stats.Steps {
			t.Errorf("%s: %d progress calls for %d steps", name, calls, res.Stats.Steps)
		}
	}
}

// A seed fixes the images: the same request twice gives the same bits, a
// request split in two (First offset) gives the same images as one batch, and
// the worker count does not matter.
func TestSampleReproducible(t *testing.T) {
	m := fixture(t)
	for _, name := range []string{"dpmpp2m", "ddpm", "euler_maruyama", "heun"} {
		cfg := sampler.Config{Name: name, NFE: 6}
		whole, err := m.Sample(Request{Sampler: cfg, Count: 5, Seed: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := m.Sample(Request{Sampler: cfg, Count: 5, Seed: 3}, nil)
		tail, _ := m.Sample(Request{Sampler: cfg, Count: 2, Seed: 3, First: 3}, nil)
		m.workers = 1
		serial, _ := m.Sample(Request{Sampler: cfg, Count: 5, Seed: 3}, nil)
		m.workers = 2
		other, _ := m.Sample(Request{Sampler: cfg, Count: 5, Seed: 4}, nil)
		px := 28 * 28
		for i := range whole.Images {
			if whole.Images[i] != again.Images[i] || whole.Images[i] != serial.Images[i] {
				t.Fatalf("%s: pixel %d differs between identical requests", name, i)
			}
		}
		for i := range tail.Images {
			if tail.Images[i] != whole.Images[3*px+i] {
				t.Fatalf("%s: images 3-4 differ when drawn as their own batch (pixel %d)", name, i)
			}
		}
		same := 0
		for i := range whole.Images {
			if whole.Images[i] == other.Images[i] {
				same++
			}
		}
		if same > len(whole.Images)/10 {
			t.Errorf("%s: seeds 3 and 4 share %d of %d pixels", name, same, len(whole.Images))
		}
	}
}

func TestSampleRejectsBadSettings(t *testing.T) {
	m := fixture(t)
	bad := []Request{
		{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 0}, Count: 1},
		{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 10}, Count: 0},
		{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 10}, Count: 1, Temperature: math.NaN()},
		{Sampler: sampler.Config{Name: "warp", NFE: 10}, Count: 1},
		{Sampler: sampler.Config{Name: "ddim", NFE: 10, Eta: 2}, Count: 1},
		{Sampler: sampler.Config{Name: "heun", NFE: 1}, Count: 1},
		{Sampler: sampler.Config{Name: "rk45", RTol: -1}, Count: 1},
		{Sampler: sampler.Config{Name: "ald", NFE: 20}, Count: 1}, // geometric vpsde, not vesde
		{Sampler: sampler.Config{Name: "euler", NFE: 20, Schedule: "cosine"}, Count: 1},
		{Sampler: sampler.Config{Name: "euler", NFE: sampler.MaxNFE + 1}, Count: 1},
	}
	for _, r := range bad {
		if _, err := m.Sample(r, nil); err == nil {
			t.Errorf("accepted %+v", r)
		}
	}
}

// The encoder and decoder run and produce the shapes the architecture states.
func TestEncodeDecode(t *testing.T) {
	m := fixture(t)
	x := make([]float32, 2*28*28)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	mu, ls, err := m.Encode(x, 2)
	if err != nil || len(mu) != 2*98 || len(ls) != 2*98 {
		t.Fatalf("encode: %v, %d, %d", err, len(mu), len(ls))
	}
	img, err := m.Decode(mu, 2)
	if err != nil || len(img) != len(x) {
		t.Fatalf("decode: %v", err)
	}
	if _, err := m.Decode(mu[:5], 2); err == nil {
		t.Error("decode accepted a short latent")
	}
}

// A data-space model (no VAE, vesde) samples with annealed Langevin.
func TestDataSpaceModelWithALD(t *testing.T) {
	c := weights.TinyConfig()
	c.Likelihood, c.DataShape = "none", []int{1, 8, 8}
	c.SDE = weights.SDESpec{Kind: "vesde"}
	c.Mix = false
	a, err := weights.NewArch(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Random(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Sample(Request{Sampler: sampler.Config{Name: "ald", NFE: 20, StepsPerLevel: 2}, Count: 2, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.NFE != 20 || len(res.Images) != 2*64 {
		t.Errorf("NFE %d, %d values", res.Stats.NFE, len(res.Images))
	}
}

func BenchmarkScoreNFE(b *testing.B) {
	a, _ := weights.NewArch(weights.DefaultConfig())
	f, _ := weights.Random(a, 1)
	m, err := New(f)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
			z := make([]float32, n*m.LatentDim())
			dst := make([]float32, len(z))
			for i := 0; i < b.N; i++ {
				if err := m.NetEps(dst, z, 0.5); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/NFE")
		})
	}
}

// A few hundred bytes can describe a graph whose activations would need
// gigabytes: the runtime refuses it with an error instead of running out of memory.
func TestActivationBudget(t *testing.T) {
	c := weights.TinyConfig()
	c.Likelihood, c.DataShape, c.Mix = "none", []int{1, 8, 8}, false
	a, err := weights.NewArch(c)
	if err != nil {
		t.Fatal(err)
	}
	// Append a chain of upsamplings to the score network's output path: each
	// value stays under the format's per-value limit, the sum does not.
	g := &a.Score
	prev := g.Output("eps")
	for i := 0; i < 9; i++ {
		name := "up" + string(rune('a'+i))
		g.Nodes = append(g.Nodes, weights.Node{Name: name, Op: "upsample", In: []string{prev}, Factor: 2})
		prev = name
	}
	g.Nodes = append(g.Nodes, weights.Node{Name: "down", Op: "conv2d", In: []string{prev}, Out: 1, Kernel: 1, Stride: 512})
	g.Outputs = []weights.Port{{Name: "eps", Node: "down"}}
	f, err := weights.Random(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(f); err == nil || !strings.Contains(err.Error(), "activations per sample") {
		t.Fatalf("got %v, want the activation budget error", err)
	}
	m := fixture(t)
	z := make([]float32, 200000*m.LatentDim())
	if err := m.NetEps(make([]float32, len(z)), z, 0.5); err == nil || !strings.Contains(err.Error(), "smaller batch") {
		t.Fatalf("huge batch: %v", err)
	}
}

// A seed's initial noise passed as Noise gives the seed's images; a wrong
// length is an error.
func TestSampleGivenNoise(t *testing.T) {
	m := fixture(t)
	cfg := sampler.Config{Name: "ddim", NFE: 3}
	a, err := m.Sample(Request{Sampler: cfg, Count: 2, Seed: 4, Temperature: 0.8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Sample(Request{Sampler: cfg, Count: 2, Seed: 5, Temperature: 0.8, Noise: m.InitialNoise(4, 0, 2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Images {
		if a.Images[i] != b.Images[i] {
			t.Fatalf("pixel %d: %v with the seed, %v with its noise", i, a.Images[i], b.Images[i])
		}
	}
	if _, err := m.Sample(Request{Sampler: cfg, Count: 1, Noise: m.InitialNoise(4, 0, 2)}, nil); err == nil || !strings.Contains(err.Error(), "initial noise") {
		t.Errorf("wrong noise length: %v", err)
	}
}

// The decoder keeps only what the images need: the log-scale branch is
// gone, and the mean it computes is the unpruned plan's, bit for bit.
func TestDecoderPruned(t *testing.T) {
	m, err := Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	full, err := compile("decoder", m.File.Arch.Decoder, m.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := full.Outputs["log_scale"]; !ok {
		t.Fatalf("the shipped decoder has outputs %v, no log_scale to prune", full.Outputs)
	}
	if len(m.dec.Outputs) != 1 || len(m.dec.Steps) >= len(full.Steps) {
		t.Fatalf("pruned decoder: outputs %v, %d steps of %d", m.dec.Outputs, len(m.dec.Steps), len(full.Steps))
	}
	z := m.InitialNoise(3, 0, 2)
	ef, err := full.newExec(2)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := m.dec.newExec(2)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ef.run(2, map[string][]float32{"z": z})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ep.run(2, map[string][]float32{"z": z})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range a["mean"] {
		if b["mean"][i] != v {
			t.Fatalf("mean[%d] = %v pruned, %v in full", i, b["mean"][i], v)
		}
	}
	t.Logf("decoder: %d steps of %d kept", len(m.dec.Steps), len(full.Steps))
	if err := full.prune("nope"); err == nil {
		t.Error("pruning to an output that does not exist: no error")
	}
}
