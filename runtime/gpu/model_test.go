package gpu

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func loadModel(t testing.TB, path string) *runtime.Model {
	t.Helper()
	var (
		m   *runtime.Model
		err error
	)
	switch path {
	case "":
		m, err = runtime.Load(weights.Default())
	case "baseline": // the data-space model of trainer fit --vae none, random weights
		a, aerr := weights.NewArch(weights.BaselineConfig())
		if aerr != nil {
			t.Fatal(aerr)
		}
		f, ferr := weights.Random(a, 5)
		if ferr != nil {
			t.Fatal(ferr)
		}
		// Through a random 3-level U-Net's full-size eps, ten solver steps
		// amplify f32 rounding to 1e-3 relative (measured), which says
		// nothing about the kernels; a small output layer tames it.
		out := a.Score.Outputs[0].Node
		for i := range f.Tensors {
			if f.Tensors[i].Name == weights.ParamName("score", out, "weight") {
				for j := range f.Tensors[i].Data {
					f.Tensors[i].Data[j] *= 0.05
				}
			}
		}
		m, err = runtime.New(f)
	case "uncond": // the shipped unconditional model, which has a noisy classifier
		m, err = runtime.Load(uncond(t).Weights())
	case "classes": // the fixture made class-conditional, random weights
		c := weights.TinyConfig()
		c.Classes = []string{"a", "b", "c"}
		a, aerr := weights.NewArch(c)
		if aerr != nil {
			t.Fatal(aerr)
		}
		f, ferr := weights.Random(a, 6)
		if ferr != nil {
			t.Fatal(ferr)
		}
		m, err = runtime.New(f)
	default:
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		m, err = runtime.Load(b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// uncond is the shipped unconditional model, with its noisy classifier.
func uncond(t testing.TB) weights.Shipped {
	s, ok := weights.ShippedModel("fashion-uncond")
	if !ok {
		t.Fatal("no shipped model fashion-uncond")
	}
	return s
}

// gpuModel loads a weights file ("" for the shipped default, "uncond" for
// the shipped unconditional model, "baseline" for a random data-space
// model, "classes" for a random class-conditional one) onto the test device.
func gpuModel(t testing.TB, path string) (*Model, *runtime.Model) {
	t.Helper()
	d := device(t)
	cpu := loadModel(t, path)
	g, err := NewModel(d, cpu)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Release)
	return g, cpu
}

// End-to-end agreement: every sampler the GPU runs gives, for the same seed,
// the CPU's latents within a relative 5e-4 (f32 sums in another order,
// carried through every step; 1e-4 measured) and the CPU's images within one
// grey level (a rounding boundary).
func TestSampleMatchesCPU(t *testing.T) {
	for _, tc := range []struct{ name, path string }{{"fixture", "../../weights/testdata/tiny.lsgm"}, {"default", ""}, {"data-space", "baseline"}, {"class-conditional, no class", "classes"}} {
		g, cpu := gpuModel(t, tc.path)
		for _, name := range Samplers {
			req := runtime.Request{Sampler: sampler.Config{Name: name, NFE: 10}, Count: 5, Seed: 11, Temperature: 0.9}
			want, err := cpu.Sample(req, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Sample(req, Options{Latent: true}, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, name, err)
			}
			if got.Stats != want.Stats {
				t.Errorf("%s %s: stats %+v, CPU %+v", tc.name, name, got.Stats, want.Stats)
			}
			if got.Submits != 1 || got.Readbacks != 1 {
				t.Errorf("%s %s: %d submissions and %d readbacks, want 1 and 1", tc.name, name, got.Submits, got.Readbacks)
			}
			worst := 0.0
			for i, v := range want.Latent {
				e := math.Abs(float64(got.Latent[i]-v)) / (1 + math.Abs(float64(v)))
				worst = max(worst, e)
			}
			if worst > 5e-4 {
				t.Errorf("%s %s: latents differ by %.3g relative, more than 5e-4", tc.name, name, worst)
			}
			img := Images(got.RGBA, req.Count, cpu.DataShape())
			levels := 0.0
			for i, v := range want.Images {
				levels = max(levels, math.Abs(math.Round(255*float64(img[i]))-math.Round(255*float64(v)))) // whole grey levels
			}
			if levels > 1 {
				t.Errorf("%s %s: images differ by %.0f grey levels, more than 1", tc.name, name, levels)
			}
			t.Logf("%s %-14s NFE %2d: latents within %.2g relative, images within %.0f levels", tc.name, name, got.Stats.NFE, worst, levels)
		}
	}
}

// Classifier-free guidance on the GPU (both halves in one batch, or one
// half at scale 0 and 1) gives the CPU's latents for the same seed.
func TestGuidedMatchesCPU(t *testing.T) {
	g, cpu := gpuModel(t, "classes")
	for _, w := range []float64{0, 1, 2.5} {
		req := runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 6}, Count: 3, Seed: 4, Guide: &runtime.Guide{Class: 2, Scale: w}}
		_, _, worst := bothSample(t, fmt.Sprintf("scale %v", w), g, cpu, req)
		if worst > 5e-4 {
			t.Errorf("scale %v: latents differ by %.3g relative, more than 5e-4", w, worst)
		}
		t.Logf("scale %v: latents within %.2g relative", w, worst)
	}
	// No guide: each image its own class (runtime.Model.Unguided), drawn
	// by absolute index, so a request split into GPU batches (First > 0)
	// draws the CPU's classes too.
	req := runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 6}, Count: 4, Seed: 9, First: 5}
	if _, _, worst := bothSample(t, "unguided", g, cpu, req); worst > 5e-4 {
		t.Errorf("unguided: latents differ by %.3g relative, more than 5e-4", worst)
	}
	_, err := g.Sample(runtime.Request{Sampler: sampler.Config{Name: "ddim", NFE: 2}, Count: 1, Guide: &runtime.Guide{Class: 7, Scale: 2}}, Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "class 7 out of range") {
		t.Errorf("class out of range on the GPU: %v", err)
	}
}

// With a progress callback each step hands over a decoded preview: one more
// submission and readback a step, images of the right size, not all one value.
func TestSampleProgress(t *testing.T) {
	g, _ := gpuModel(t, "")
	for _, name := range Samplers {
		var steps []Progress
		res, err := g.Sample(runtime.Request{Sampler: sampler.Config{Name: name, NFE: 4}, Count: 2, Seed: 3}, Options{Preview: true}, func(p Progress) { steps = append(steps, p) })
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != res.Stats.Steps || res.Submits != res.Stats.Steps+1 || res.Readbacks != res.Stats.Steps+1 {
			t.Errorf("%s: %d previews, %d submissions, %d readbacks for %d steps", name, len(steps), res.Submits, res.Readbacks, res.Stats.Steps)
		}
		for k, p := range steps {
			if p.I != k+1 || p.N != res.Stats.Steps || len(p.Preview) != len(res.RGBA) {
				t.Fatalf("%s: preview %d is step %d of %d with %d bytes", name, k, p.I, p.N, len(p.Preview))
			}
		}
		last := steps[len(steps)-1].Preview
		lo, hi := byte(255), byte(0)
		for i := 0; i < len(last); i += 4 {
			lo, hi = min(lo, last[i]), max(hi, last[i])
		}
		if hi-lo < 50 {
			t.Errorf("%s: the last preview spans grey levels %d..%d only", name, lo, hi)
		}
	}
}

// A request larger than one batch runs in batches with the noise of one batch.
func TestSampleBatches(t *testing.T) {
	g, _ := gpuModel(t, "../../weights/testdata/tiny.lsgm")
	cfg := sampler.Config{Name: "ddpm", NFE: 2}
	all, err := g.Sample(runtime.Request{Sampler: cfg, Count: MaxBatch + 3, Seed: 5}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := g.Sample(runtime.Request{Sampler: cfg, Count: 3, Seed: 5, First: MaxBatch}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if all.Submits != 2 {
		t.Errorf("%d submissions for two batches", all.Submits)
	}
	if got := all.RGBA[len(all.RGBA)-len(tail.RGBA):]; string(got) != string(tail.RGBA) {
		t.Error("the last three images of a split request differ from the same three alone")
	}
}

// Settings the GPU cannot run, or that are out of range, are errors naming them.
func TestSampleErrors(t *testing.T) {
	g, _ := gpuModel(t, "../../weights/testdata/tiny.lsgm")
	for _, tc := range []struct {
		req  runtime.Request
		want string
	}{
		{runtime.Request{Sampler: sampler.Config{Name: "rk45"}, Count: 1}, "not supported"},
		{runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 0}, Count: 1}, "NFE 0 out of range"},
		{runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 2}, Count: 0}, "count 0 out of range"},
		{runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 2}, Count: 1, Temperature: -1}, "temperature"},
		{runtime.Request{Sampler: sampler.Config{Name: "nope", NFE: 2}, Count: 1}, "unknown sampler"},
	} {
		_, err := g.Sample(tc.req, Options{}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.req, err, tc.want)
		}
	}
	if !errors.Is(func() error {
		_, err := g.Sample(runtime.Request{Sampler: sampler.Config{Name: "pc", NFE: 4}, Count: 1}, Options{}, nil)
		return err
	}(), ErrUnsupported) {
		t.Error("pc on the GPU is not ErrUnsupported")
	}
}

// A shader that does not compile gives the compiler's report with its line.
func TestShaderError(t *testing.T) {
	d := device(t)
	_, err := d.module("broken.wgsl", "@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = 1u;\n}\n")
	if err == nil || !strings.Contains(err.Error(), "shaders/broken.wgsl at line 3, column 7") {
		t.Fatalf("error %v, want the file, line and column", err)
	}
}

// Given initial noise (as latent interpolation passes) replaces the seed's,
// on the GPU as on the CPU.
func TestSampleGivenNoise(t *testing.T) {
	g, cpu := gpuModel(t, "../../weights/testdata/tiny.lsgm")
	cfg := sampler.Config{Name: "dpmpp2m", NFE: 4}
	seeded, err := g.Sample(runtime.Request{Sampler: cfg, Count: 2, Seed: 8}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	noise := cpu.InitialNoise(8, 0, 2)
	given, err := g.Sample(runtime.Request{Sampler: cfg, Count: 2, Seed: 99, Noise: noise}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(given.RGBA) != string(seeded.RGBA) {
		t.Error("the seed's initial noise passed as Noise gives other images")
	}
	want, err := cpu.Sample(runtime.Request{Sampler: cfg, Count: 2, Seed: 99, Noise: noise}, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := Images(given.RGBA, 2, cpu.DataShape())
	for i, v := range want.Images {
		if math.Abs(float64(img[i])-math.Round(255*float64(v))/255) > 1.5/255 {
			t.Fatalf("pixel %d: GPU %v, CPU %v", i, img[i], v)
		}
	}
	if _, err := g.Sample(runtime.Request{Sampler: cfg, Count: 3, Noise: noise}, Options{}, nil); err == nil {
		t.Error("noise for 2 latents accepted for 3")
	}
}

// A buffer beyond the adapter's binding limit (a batch too large for this
// GPU) is a clear error, not a crash.
func TestBufferLimit(t *testing.T) {
	d := device(t)
	_, err := d.NewBuffer(1<<30, nil) // 4 GB of f32
	if err == nil || !strings.Contains(err.Error(), "smaller batch") {
		t.Fatalf("error %v, want one saying to use a smaller batch", err)
	}
}

// SDEdit runs on the GPU from the CPU's diffused guides (EditRequest's
// sampling request) to the CPU's latents, for a deterministic and a
// stochastic sampler.
func TestSDEditMatchesCPU(t *testing.T) {
	g, cpu := gpuModel(t, "")
	d := weights.Numel(cpu.DataShape())
	x := make([]float32, 3*d)
	for i := range x {
		x[i] = float32(i%d) / float32(d)
	}
	for _, c := range []sampler.Config{{Name: "dpmpp2m", NFE: 6}, {Name: "ddpm", NFE: 5}} {
		req, err := cpu.SDEditRequest(runtime.EditRequest{Sampler: c, Guides: x, Count: 3, Strength: 0.7, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, want, worst := bothSample(t, c.Name, g, cpu, req)
		if worst > 5e-4 || want.Stats.NFE != got.Stats.NFE {
			t.Errorf("%s: latents differ by %.3g relative (more than 5e-4?), NFE %d and %d", c.Name, worst, want.Stats.NFE, got.Stats.NFE)
		}
		t.Logf("%s SDEdit at 0.7: latents within %.2g relative, %d NFE", c.Name, worst, got.Stats.NFE)
	}
}

// Classifier guidance's gradient on the device equals the CPU's: a shipped
// noisy classifier's d log p(class | z_t, t) / dz for random latents at a
// few times, and the same mean log-probability.
func TestClassifierGradMatchesCPU(t *testing.T) {
	d := device(t)
	c, err := runtime.LoadClassifier(uncond(t).ClassifierFile())
	if err != nil {
		t.Fatal(err)
	}
	g, err := d.NewClassifier(c, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	dim := weights.Numel(c.File.LatentShape)
	r := rand.New(rand.NewPCG(4, 4))
	z := make([]float32, 5*dim)
	for i := range z {
		z[i] = float32(r.NormFloat64())
	}
	for _, tt := range []float64{0.1, 0.5, 0.9} {
		want, got := make([]float32, len(z)), make([]float32, len(z))
		lw, err := c.LogProbGrad(want, z, tt, 7)
		if err != nil {
			t.Fatal(err)
		}
		lg, err := g.LogProbGrad(got, z, tt, 7)
		if err != nil {
			t.Fatal(err)
		}
		var num, den float64
		for i := range want {
			e := float64(got[i] - want[i])
			num, den = num+e*e, den+float64(want[i])*float64(want[i])
		}
		rel := math.Sqrt(num / den)
		if rel > 1e-4 || math.Abs(lg-lw) > 1e-4*(1+math.Abs(lw)) {
			t.Errorf("t=%v: gradients differ by %.3g relative; log p %v on the GPU, %v on the CPU", tt, rel, lg, lw)
		}
		t.Logf("t=%v: gradient within %.2g relative, log p %.4f", tt, rel, lg)
	}
	if _, err := g.LogProbGrad(make([]float32, 9*dim), make([]float32, 9*dim), 0.5, 1); err == nil {
		t.Error("a batch over the compiled one was accepted")
	}
}

// Classifier-guided sampling on the GPU (the classifier's gradient joins
// eps each NFE) gives the CPU's latents for the same seed.
func TestClassifierGuidedMatchesCPU(t *testing.T) {
	g, cpu := gpuModel(t, "uncond")
	c, err := runtime.LoadClassifier(uncond(t).ClassifierFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dpmpp2m", "ddpm"} {
		req := runtime.Request{Sampler: sampler.Config{Name: name, NFE: 5}, Count: 3, Seed: 6, Guide: &runtime.Guide{Class: 7, Scale: 3, Classifier: c}}
		got, _, worst := bothSample(t, name, g, cpu, req)
		if worst > 5e-4 {
			t.Errorf("%s: classifier-guided latents differ by %.3g relative, more than 5e-4", name, worst)
		}
		t.Logf("%s: classifier-guided latents within %.2g relative; %d submissions, %d readbacks for %d NFE", name, worst, got.Submits, got.Readbacks, got.Stats.NFE)
	}
}

// bothSample samples req on the CPU and on the GPU (with its latents),
// failing the test (named by what) if either errs, and returns both with
// their largest latent difference (latentWorst).
func bothSample(t *testing.T, what string, g *Model, cpu *runtime.Model, req runtime.Request) (got *Result, want *runtime.Result, worst float64) {
	t.Helper()
	want, err := cpu.Sample(req, nil)
	if err != nil {
		t.Fatalf("%s on the CPU: %v", what, err)
	}
	if got, err = g.Sample(req, Options{Latent: true}, nil); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return got, want, latentWorst(got.Latent, want.Latent)
}

// latentWorst is the largest |got - want| / (1 + |want|) over the latents.
func latentWorst(got, want []float32) float64 {
	worst := 0.0
	for i, v := range want {
		worst = max(worst, math.Abs(float64(got[i]-v))/(1+math.Abs(float64(v))))
	}
	return worst
}
