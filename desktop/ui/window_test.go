package ui

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func TestSlerp(t *testing.T) {
	slerp := Slerp
	a, b := []float32{1, 0, 0}, []float32{0, 1, 0}
	dst := make([]float32, 3)
	slerp(dst, a, b, 0)
	if dst[0] != 1 || dst[1] != 0 {
		t.Errorf("f=0: %v", dst)
	}
	slerp(dst, a, b, 1)
	if math.Abs(float64(dst[1])-1) > 1e-6 || math.Abs(float64(dst[0])) > 1e-6 {
		t.Errorf("f=1: %v", dst)
	}
	slerp(dst, a, b, 0.5)
	if n := math.Hypot(float64(dst[0]), float64(dst[1])); math.Abs(n-1) > 1e-6 {
		t.Errorf("the midpoint of two unit vectors has norm %v, want 1 (a straight line gives 0.71)", n)
	}
	slerp(dst, a, a, 0.3) // parallel: no division by sin 0
	if dst[0] != 1 {
		t.Errorf("parallel: %v", dst)
	}
}

// runViewer builds the viewer (package main, one folder up) and runs it in a real window under Xvfb with
// -screenshot, returning the saved screen. Under CI=true a missing xvfb-run
// fails the test; elsewhere it skips.
func runViewer(t *testing.T, args ...string) (image.Image, string) {
	t.Helper()
	img, log, err := runViewerErr(t, args...)
	if err != nil {
		t.Fatalf("the viewer failed: %v\n%s", err, log)
	}
	return img, log
}

// runViewerErr is runViewer that also returns how the viewer exited.
func runViewerErr(t *testing.T, args ...string) (image.Image, string, error) {
	t.Helper()
	xvfb, err := exec.LookPath("xvfb-run")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xvfb-run is missing under CI (apt-get install xvfb xauth)")
		}
		t.Skip("xvfb-run is missing: apt-get install xvfb xauth to run the window test")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "desktop")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xvfb, append([]string{"-a", "-s", "-screen 0 1280x1024x24", bin, "-screenshot", shot}, args...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out.String())
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("LSGM_DESKTOP_SCREENSHOT"); path != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(path, data, 0o644)
	}
	return img, out.String(), runErr
}

// The window shows the grid the runtime draws for the same seed: every pixel
// of every image within one grey level (the GPU's f32 sums where it runs).
func TestWindowGrid(t *testing.T) {
	const side, nfe, seed = 3, 4, 5
	// -model names the default by its shipped id.
	img, log := runViewer(t, "-grid", "3", "-nfe", "4", "-seed", "5", "-sampler", "dpmpp2m", "-model", weights.ShippedModels()[0].ID)
	if b := img.Bounds(); b.Dx() != WinW || b.Dy() != WinH {
		t.Fatalf("screenshot %v, want %dx%d", b, WinW, WinH)
	}
	m, err := runtime.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: nfe}, Count: side * side, Seed: seed, Temperature: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.RGBA8(res.Images, side*side, m.DataShape())
	h, w := 28, 28
	sc := Scale(GridPx(side, w))
	worst, lo, hi := 0, 255, 0
	for k := 0; k < side*side; k++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				sx := GridX + (Pad+(k%side)*(w+Pad)+x)*sc + sc/2
				sy := GridY + (Pad+(k/side)*(h+Pad)+y)*sc + sc/2
				r, _, _, _ := img.At(sx, sy).RGBA()
				got := int(r >> 8)
				worst = max(worst, int(math.Abs(float64(got-int(want[4*(k*h*w+y*w+x)])))))
				lo, hi = min(lo, got), max(hi, got)
			}
		}
	}
	if hi-lo < 100 {
		t.Errorf("the grid spans grey levels %d..%d: blank?", lo, hi)
	}
	if worst > 1 {
		t.Errorf("the window's grid differs from the runtime's by %d grey levels, more than 1\n%s", worst, log)
	}
	t.Logf("window grid: %d images at zoom %d, within %d level(s) of the runtime; grey levels %d..%d", side*side, sc, worst, lo, hi)
}

// A bad weights file shows its error in the window, and -screenshot exits
// non-zero with the error on the terminal; the viewer does not crash.
func TestWindowBadWeights(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.lsgm")
	os.WriteFile(bad, []byte("<html>404 not found</html>"), 0o644)
	img, log, err := runViewerErr(t, bad)
	if err == nil || !strings.Contains(log, "bad.lsgm") || !strings.Contains(log, "not an LSGM weights file") {
		t.Errorf("-screenshot on bad weights: exit %v, output %q; want a failure naming the file and the problem", err, log)
	}
	red := 0
	for y := WinH - 80; y < WinH; y++ {
		for x := GridX; x < WinW-GridX; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == uint32(ErrBg.R) && g>>8 == uint32(ErrBg.G) && b>>8 == uint32(ErrBg.B) {
				red++
			}
		}
	}
	if red < 1000 {
		t.Errorf("no error box in the window (%d pixels of it)\n%s", red, log)
	}
}

// The interpolation's ends are the two seeds' own noises.
func TestInterpNoise(t *testing.T) {
	m, err := runtime.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	noise := func(seed uint64, i uint32) []float32 { return m.InitialNoise(seed, i, 1) }
	z := InterpNoise(noise, 3, 4, 2, 5)
	d := m.LatentDim()
	a, b := noise(3, 2), noise(4, 2)
	for j := 0; j < d; j++ {
		if math.Abs(float64(z[j]-a[j])) > 1e-6 || math.Abs(float64(z[4*d+j]-b[j])) > 1e-5 {
			t.Fatalf("element %d: ends %v, %v; want %v, %v", j, z[j], z[4*d+j], a[j], b[j])
		}
	}
}

// In the window, the interpolation of image 1 from seed 5 ends on image 1 of
// seed 6, as the runtime draws it. The default model is class-conditional:
// every frame keeps the class drawn for image 1 of seed 5, so the last frame
// is seed 6's noise under that class.
func TestWindowInterpolation(t *testing.T) {
	img, log := runViewer(t, "-grid", "2", "-nfe", "4", "-seed", "5", "-sampler", "dpmpp2m", "-show", "interp")
	m, err := runtime.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	var guide *runtime.Guide
	if g := m.Unguided(5, 0, 1); g != nil {
		guide = &runtime.Guide{Class: g.ImageClasses()[0], Scale: 1}
	}
	res, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 4}, Count: 1, Seed: 6, Temperature: 1, Guide: guide}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.RGBA8(res.Images, 1, m.DataShape())
	sc := GridBox / 28
	worst := 0
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			r, _, _, _ := img.At(GridX+x*sc+sc/2, GridY+y*sc+sc/2).RGBA()
			worst = max(worst, int(math.Abs(float64(int(r>>8)-int(want[4*(y*28+x)])))))
		}
	}
	if worst > 1 {
		t.Errorf("the interpolation's last frame differs from seed 6's image by %d levels\n%s", worst, log)
	}
}

// C cycles through "none" and every class, Shift+C backwards.
func TestNextClass(t *testing.T) {
	c, seen := -1, []int{}
	for i := 0; i < 4; i++ {
		c = NextClass(c, 3, false)
		seen = append(seen, c)
	}
	if fmt.Sprint(seen) != "[0 1 2 -1]" {
		t.Errorf("forward: %v", seen)
	}
	if b := NextClass(-1, 3, true); b != 2 {
		t.Errorf("back from none: %d, want 2", b)
	}
	if b := NextClass(0, 3, true); b != -1 {
		t.Errorf("back from 0: %d, want -1 (none)", b)
	}
	if n := NextClass(-1, 0, false); n != -1 {
		t.Errorf("no classes: %d", n)
	}
}

// -class and -guidance sample a class-conditional model's class with
// guidance: the window shows the runtime's guided grid; an unknown class is
// named in the error.
func TestWindowGuidance(t *testing.T) {
	c := weights.TinyConfig()
	c.Classes = []string{"Sneaker", "Bag"}
	a, err := weights.NewArch(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Random(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := weights.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "classes.lsgm")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img, log := runViewer(t, "-grid", "2", "-nfe", "4", "-seed", "5", "-sampler", "dpmpp2m", "-class", "bag", "-guidance", "2.5", "-backend", "cpu", path)
	m, err := runtime.New(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 4}, Count: 4, Seed: 5, Temperature: 1, Guide: &runtime.Guide{Class: 1, Scale: 2.5}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.RGBA8(res.Images, 4, m.DataShape())
	worst := gridWorst(img, want, 2, 28, 28)
	if worst > 1 {
		t.Errorf("the guided grid differs from the runtime's by %d grey levels\n%s", worst, log)
	}
	_, log, err = runViewerErr(t, "-class", "boot", "-backend", "cpu", path)
	if err == nil || !strings.Contains(log, `no class "boot"`) {
		t.Errorf("-class boot: exit %v, output %q", err, log)
	}
	// Without a class, image 1's interpolation keeps the class drawn for it
	// (runtime.Model.Unguided): its last frame is seed 6's noise under
	// that class.
	img, log = runViewer(t, "-grid", "2", "-nfe", "4", "-seed", "5", "-sampler", "dpmpp2m", "-show", "interp", "-backend", "cpu", path)
	cls := m.Unguided(5, 0, 1).ImageClasses()[0]
	res, err = m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 4}, Count: 1, Seed: 6, Temperature: 1, Guide: &runtime.Guide{Class: cls, Scale: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = runtime.RGBA8(res.Images, 1, m.DataShape())
	sc := GridBox / 28
	worst = 0
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			r, _, _, _ := img.At(GridX+x*sc+sc/2, GridY+y*sc+sc/2).RGBA()
			worst = max(worst, int(math.Abs(float64(int(r>>8)-int(want[4*(y*28+x)])))))
		}
	}
	if worst > 1 {
		t.Errorf("the unguided interpolation's last frame differs from seed 6's image under class %d by %d levels\n%s", cls, worst, log)
	}
}

// Editing in the window: image 1 of the first grid, its left half erased
// and filled (-show fill), or made real (-show real), shows the runtime's
// edits of the same image for the same seed.
func TestWindowEdit(t *testing.T) {
	m, err := runtime.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	const side, nfe, seed = 2, 4, 5
	first, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: nfe}, Count: side * side, Seed: seed, Temperature: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rgba := runtime.RGBA8(first.Images, side*side, m.DataShape())
	h, w := 28, 28
	for _, show := range []string{"fill", "real"} {
		img, log := runViewer(t, "-grid", "2", "-nfe", "4", "-seed", "5", "-sampler", "dpmpp2m", "-show", show, "-backend", "cpu")
		req := runtime.EditRequest{Count: side * side, Seed: seed}
		guide, mask := make([]float32, h*w), make([]float32, h*w)
		for k := range guide {
			guide[k] = float32(rgba[4*k]) / 255
			if show == "fill" && k%w < w/2 {
				guide[k], mask[k] = 0, 1
			}
		}
		for range side * side {
			req.Guides = append(req.Guides, guide...)
			if show == "fill" {
				req.Mask = append(req.Mask, mask...)
			}
		}
		if show == "fill" {
			req.Sampler, req.Jumps = sampler.Config{Name: "ddpm", NFE: 20}, 5
		} else {
			req.Sampler, req.Strength = sampler.Config{Name: "dpmpp2m", NFE: nfe}, 0.9
		}
		res, err := m.Edit(req, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := runtime.RGBA8(res.Images, side*side, m.DataShape())
		worst := gridWorst(img, want, side, h, w)
		if worst > 1 {
			t.Errorf("%s: the window's edits differ from the runtime's by %d grey levels\n%s", show, worst, log)
		}
		t.Logf("%s: the window's %d edits within %d level(s) of the runtime's", show, side*side, worst)
	}
}

// The shipped unconditional model guides by its own noisy classifier:
// -class picks one of the classifier's classes, and the window shows the
// runtime's classifier-guided grid.
func TestWindowClassifierGuidance(t *testing.T) {
	img, log := runViewer(t, "-model", "fashion-uncond", "-grid", "2", "-nfe", "4", "-seed", "5", "-sampler", "dpmpp2m", "-class", "sneaker", "-guidance", "3", "-backend", "cpu")
	u, ok := weights.ShippedModel("fashion-uncond")
	if !ok {
		t.Fatal("no shipped model fashion-uncond")
	}
	m, err := runtime.Load(u.Weights())
	if err != nil {
		t.Fatal(err)
	}
	c, err := runtime.LoadClassifier(u.ClassifierFile())
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 4}, Count: 4, Seed: 5, Temperature: 1, Guide: &runtime.Guide{Class: 7, Scale: 3, Classifier: c}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.RGBA8(res.Images, 4, m.DataShape())
	worst := gridWorst(img, want, 2, 28, 28)
	if worst > 1 {
		t.Errorf("the classifier-guided grid differs from the runtime's by %d grey levels\n%s", worst, log)
	}
}

// gridWorst is the largest grey-level difference between the window's grid
// of side x side h x w images and the runtime's RGBA8 images want.
func gridWorst(img image.Image, want []byte, side, h, w int) int {
	sc := Scale(GridPx(side, w))
	worst := 0
	for k := 0; k < side*side; k++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, _, _, _ := img.At(GridX+(Pad+(k%side)*(w+Pad)+x)*sc+sc/2, GridY+(Pad+(k/side)*(h+Pad)+y)*sc+sc/2).RGBA()
				worst = max(worst, int(math.Abs(float64(int(r>>8)-int(want[4*(k*h*w+y*w+x)])))))
			}
		}
	}
	return worst
}

// -model with an id that ships nothing is refused before a window opens,
// naming the ids that do ship.
func TestModelFlag(t *testing.T) {
	xvfb, err := exec.LookPath("xvfb-run") // ebiten needs a display to start at all
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xvfb-run is missing under CI (apt-get install xvfb xauth)")
		}
		t.Skip("xvfb-run is missing: apt-get install xvfb xauth to run the window test")
	}
	bin := filepath.Join(t.TempDir(), "desktop")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(xvfb, "-a", bin, "-model", "nope").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `-model "nope"`) || !strings.Contains(string(out), weights.ShippedModels()[0].ID) {
		t.Errorf("-model nope: %v, %q", err, out)
	}
}
