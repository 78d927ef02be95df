package backend

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func model(t *testing.T) *runtime.Model {
	b, err := os.ReadFile("../../weights/testdata/tiny.lsgm")
	if err != nil {
		t.Fatal(err)
	}
	m, err := runtime.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The CPU backend gives the runtime's images as RGBA8, with a decoded
// preview per step; a bad kind is refused by name.
func TestCPU(t *testing.T) {
	m := model(t)
	s, err := Open(m, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := runtime.Request{Sampler: sampler.Config{Name: "heun", NFE: 4}, Count: 3, Seed: 2}
	var previews int
	res, err := s.Sample(req, true, func(p Progress) {
		if len(p.Preview) == 3*28*28*4 {
			previews++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Sample(req, nil)
	if string(res.RGBA) != string(runtime.RGBA8(want.Images, 3, m.DataShape())) || res.OnGPU {
		t.Error("the CPU backend's images differ from the runtime's")
	}
	if previews != res.Stats.Steps || previews != 2 {
		t.Errorf("%d previews for %d steps", previews, res.Stats.Steps)
	}
	if _, err := Open(m, "tpu"); err == nil || !strings.Contains(err.Error(), `"tpu"`) {
		t.Errorf("kind tpu: %v", err)
	}
	// A model of 2-D points is not for the image viewers.
	a, err := weights.NewArch(weights.ToyConfig())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := weights.Random(a, 1)
	pm, err := runtime.New(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(pm, "cpu"); err == nil || !strings.Contains(err.Error(), "[2 1 1]") {
		t.Errorf("a points model: %v, want an error naming its shape", err)
	}
}

// gpu takes any adapter, lavapipe included; auto takes a hardware adapter
// and refuses a software one (it is slower than the CPU path), saying so; a
// sampler the GPU does not run goes to the CPU with a note.
func TestAuto(t *testing.T) {
	m := model(t)
	s, err := Open(m, "gpu")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no GPU under CI (lavapipe: apt-get install mesa-vulkan-drivers libvulkan1): %v", err)
		}
		t.Skipf("no GPU here: %v", err)
	}
	defer s.Close()
	if s.GPU == nil || s.Why != "" {
		t.Fatalf("gpu: GPU %v, why %q", s.GPU != nil, s.Why)
	}
	a, err := Open(m, "auto")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if s.dev.Software() {
		if a.GPU != nil || !strings.Contains(a.Note, "software renderer") || !strings.Contains(a.Note, s.dev.Name()) {
			t.Errorf("auto on %s (software): GPU %v, note %q; want the CPU and a note naming the adapter", s.dev.Name(), a.GPU != nil, a.Note)
		}
	} else if a.GPU == nil {
		t.Errorf("auto on %s (hardware): the CPU (%s)", s.dev.Name(), a.Note)
	}
	t.Logf("adapter %s, software %v; auto: %s", s.dev.Name(), s.dev.Software(), a.Name())
	res, err := s.Sample(runtime.Request{Sampler: sampler.Config{Name: "rk45"}, Count: 1, Seed: 1}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OnGPU || !strings.Contains(res.Note, "does not run rk45") {
		t.Errorf("rk45: on GPU %v, note %q", res.OnGPU, res.Note)
	}
	res, err = s.Sample(runtime.Request{Sampler: sampler.Config{Name: "ddim", NFE: 3}, Count: 1, Seed: 1}, false, nil)
	if err != nil || !res.OnGPU {
		t.Errorf("ddim: on GPU %v, %v", res != nil && res.OnGPU, err)
	}
	// Stop cancels a GPU run too, and progress is by steps there.
	stop := make(chan struct{})
	steps := 0
	res, err = s.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 8}, Count: 2, Seed: 1, Stop: stop}, true, func(p Progress) {
		if steps++; steps == 2 {
			close(stop)
		}
		if p.Done != float64(p.I)/8 {
			t.Errorf("GPU step %d/%d: done %v", p.I, p.N, p.Done)
		}
	})
	if !errors.Is(err, runtime.ErrCancelled) || steps != 2 {
		t.Errorf("GPU run stopped after step 2: %d steps, %v", steps, err)
	}
	// PreviewEvery thins the GPU's previews too; the images stay the same.
	req := runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 5}, Count: 2, Seed: 1}
	every, _ := s.Sample(req, true, nil)
	s.PreviewEvery = time.Hour
	previews, steps := 0, 0
	thin, err := s.Sample(req, true, func(p Progress) {
		steps++
		if p.Preview != nil {
			previews++
		}
	})
	if err != nil || previews != 1 || steps != 5 || string(thin.RGBA) != string(every.RGBA) {
		t.Errorf("GPU, PreviewEvery an hour: %d previews in %d steps (want the first only), same images %v, %v", previews, steps, err == nil && string(thin.RGBA) == string(every.RGBA), err)
	}
}

// Progress reports the share done: by steps for a fixed-step sampler, by
// time for rk45 (whose step count is unknown ahead), rising to 1 either way;
// PreviewEvery thins the CPU's previews; closing Stop cancels a run.
func TestProgress(t *testing.T) {
	m := model(t)
	s, err := Open(m, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"heun", "rk45"} {
		var ds []float64
		res, err := s.Sample(runtime.Request{Sampler: sampler.Config{Name: name, NFE: 6}, Count: 2, Seed: 1}, false, func(p Progress) {
			if name == "rk45" && p.N != 0 {
				t.Errorf("rk45 reports %d steps ahead", p.N)
			}
			ds = append(ds, p.Done)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != res.Stats.Steps || len(ds) < 2 {
			t.Fatalf("%s: %d reports for %d steps", name, len(ds), res.Stats.Steps)
		}
		for i, d := range ds {
			if !(d > 0 && d <= 1) || i > 0 && d < ds[i-1] {
				t.Errorf("%s: done %v: want rising, in (0, 1]", name, ds)
				break
			}
		}
		if last := ds[len(ds)-1]; math.Abs(last-1) > 1e-9 {
			t.Errorf("%s: done ends at %v, want 1", name, last)
		}
	}

	s.PreviewEvery = time.Hour
	var previews, steps int
	if _, err := s.Sample(runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 5}, Count: 1, Seed: 1}, true, func(p Progress) {
		steps++
		if p.Preview != nil {
			previews++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if previews != 1 || steps != 5 {
		t.Errorf("PreviewEvery an hour: %d previews in %d steps, want the first only", previews, steps)
	}

	stop := make(chan struct{})
	steps = 0
	res, err := s.Sample(runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 8}, Count: 1, Seed: 1, Stop: stop}, false, func(p Progress) {
		if steps++; steps == 3 {
			close(stop)
		}
	})
	if !errors.Is(err, runtime.ErrCancelled) || res != nil || steps != 3 {
		t.Errorf("stopped after step 3: %d steps, %v", steps, err)
	}
}
