package backend

import (
	"os"
	"strings"
	"testing"

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

// auto either opens the GPU or says why not; a sampler the GPU does not run
// goes to the CPU with a note.
func TestAuto(t *testing.T) {
	m := model(t)
	s, err := Open(m, "auto")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.GPU == nil && s.Note == "" {
		t.Fatal("auto on the CPU without saying why")
	}
	if s.GPU == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no GPU under CI: %s", s.Note)
		}
		t.Skipf("no GPU here: %s", s.Note)
	}
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
}
