package runtime

import (
	"math"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func editModel(t *testing.T, dataSpace bool) *Model {
	t.Helper()
	c := weights.TinyConfig()
	if dataSpace {
		c.Likelihood, c.DataShape, c.Mix = "none", []int{1, 8, 8}, false
	}
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

// guides are n smooth test images: a bright blob on a dark ground.
func guides(m *Model, n int) []float32 {
	s := m.DataShape()
	d := weights.Numel(s)
	x := make([]float32, n*d)
	for i := range x {
		h, w := (i%(s[1]*s[2]))/s[2], i%s[2]
		dy, dx := float64(h)-float64(s[1])/2, float64(w)-float64(s[2])/2-float64(i/d)
		x[i] = float32(math.Exp(-(dx*dx + dy*dy) / float64(s[1])))
	}
	return x
}

func meanAbs(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i] - b[i]))
	}
	return s / float64(len(a))
}

// SDEdit at a small strength returns the VAE's reconstruction of the guide
// (the data-space model: the guide itself); the same seed repeats; a
// larger strength moves away from it.
func TestEditSDEdit(t *testing.T) {
	for _, ds := range []bool{false, true} {
		m := editModel(t, ds)
		x := guides(m, 3)
		z, err := m.Latents(x, 3)
		if err != nil {
			t.Fatal(err)
		}
		recon, err := m.Decode(z, 3)
		if err != nil {
			t.Fatal(err)
		}
		edit := func(strength float64, seed uint64) []float32 {
			res, err := m.Edit(EditRequest{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 10}, Guides: x, Count: 3, Strength: strength, Seed: seed}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return res.Images
		}
		near := edit(0.01, 1)
		if d := meanAbs(near, recon); d > 0.02 {
			t.Errorf("data space %v: strength 0.01 is %.3g from the reconstruction, want < 0.02", ds, d)
		}
		far, again := edit(0.9, 1), edit(0.9, 1)
		if meanAbs(far, again) != 0 {
			t.Errorf("data space %v: the same seed gave different edits", ds)
		}
		dn, df := meanAbs(near, recon), meanAbs(far, recon)
		if df < 5*dn {
			t.Errorf("data space %v: strength 0.9 is %.3g from the reconstruction, not clearly further than strength 0.01's %.3g", ds, df, dn)
		}
		t.Logf("data space %v: mean |edit - reconstruction| %.4f at strength 0.01, %.4f at 0.9", ds, dn, df)
	}
}

// Inpainting keeps the known pixels and fills the rest, for a latent model
// (projection) and a data-space model (RePaint).
func TestEditInpaint(t *testing.T) {
	for _, ds := range []bool{false, true} {
		m := editModel(t, ds)
		s := m.DataShape()
		px := s[1] * s[2]
		x := guides(m, 2)
		mask := make([]float32, 2*px)
		for i := range mask {
			if i%s[2] < s[2]/2 { // the left half is filled
				mask[i] = 1
			}
		}
		res, err := m.Edit(EditRequest{Sampler: sampler.Config{Name: "ddpm", NFE: 5}, Guides: x, Count: 2, Mask: mask, Jumps: 2, Seed: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for i, v := range res.Images {
			if mask[(i/weights.Numel(s))*px+i%px] == 0 {
				if v != x[i] {
					t.Fatalf("data space %v: known pixel %d is %v, guide %v", ds, i, v, x[i])
				}
			} else if math.Abs(float64(v-x[i])) > 1e-3 {
				changed++
			}
		}
		if changed == 0 || math.IsNaN(res.KnownError) {
			t.Errorf("data space %v: %d filled pixels differ from the guide; known error %v", ds, changed, res.KnownError)
		}
		if want := 5 * 2; res.Stats.NFE != want { // 5 steps, each taken twice
			t.Errorf("data space %v: %d NFE, want %d", ds, res.Stats.NFE, want)
		}
		t.Logf("data space %v: known pixels decoded %.4f from the guide (mean |diff|), %d filled pixels changed", ds, res.KnownError, changed)
	}
}

func TestEditErrors(t *testing.T) {
	m := editModel(t, false)
	x := guides(m, 1)
	px := 28 * 28
	half := make([]float32, px)
	for i := range half[:px/2] {
		half[i] = 1
	}
	ddpm := sampler.Config{Name: "ddpm", NFE: 3}
	for _, c := range []struct {
		r    EditRequest
		want string
	}{
		{EditRequest{Sampler: ddpm, Guides: x[:100], Count: 1, Strength: 0.5}, "guide values"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Strength: 0}, "strength 0 out of range"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Strength: 1.5}, "strength 1.5 out of range"},
		{EditRequest{Sampler: ddpm, Guides: append([]float32{2}, x[1:]...), Count: 1, Strength: 0.5}, "outside [0, 1]"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Mask: make([]float32, px)}, "mask of image 0 is empty"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Mask: append(make([]float32, 0, px), ones(px)...)}, "is full"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Mask: half[:10]}, "mask of 10 values"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Mask: half, Strength: 0.5}, "SDEdit only"},
		{EditRequest{Sampler: sampler.Config{Name: "heun", NFE: 4}, Guides: x, Count: 1, Mask: half}, "ddim or ddpm"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Mask: half, Jumps: 99}, "jumps 99 out of range"},
		{EditRequest{Sampler: ddpm, Guides: x, Count: 1, Strength: 0.5, Guide: &Guide{Class: 0, Scale: 1}}, "not class-conditional"},
	} {
		_, err := m.Edit(c.r, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
	}
}

func ones(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 1
	}
	return s
}
