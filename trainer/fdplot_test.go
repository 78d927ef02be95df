package main

import (
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/weights"
)

// withTable writes a copy of the fixture weights whose provenance holds an
// FD table, its FD at NFE k being base * (1 + 5/k).
func withTable(t *testing.T, name string, base float64) string {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{"fd_n": 1000, "fd_floor": 9.87, "fd:recon": 2, "fd:rk45": base * 1.01, "nfe:rk45": 296}
	for _, k := range []int{5, 10, 20, 50} {
		key := "dpmpp2m:" + strconv.Itoa(k)
		m["fd:"+key], m["nfe:"+key] = base*(1+5/float64(k)), float64(k)
	}
	f.Provenance.Metrics = m
	out, err := weights.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".lsgm")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fdplot draws both models' tables: a PNG of the plot's size holding each
// model's colour, and a file without a table is refused by name.
func TestFDPlot(t *testing.T) {
	a, b := withTable(t, "lsgm", 50), withTable(t, "base", 160)
	out := filepath.Join(t.TempDir(), "fd.png")
	if err := runFDPlot([]string{"--weights", "LSGM=" + a + "," + b, "--out", out}); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	if s := img.Bounds().Size(); s.X != 720 || s.Y != 440 {
		t.Errorf("plot is %v", s)
	}
	count := map[color.NRGBA]int{}
	for y := 0; y < 440; y++ {
		for x := 0; x < 720; x++ {
			count[color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)]++
		}
	}
	for _, c := range []color.NRGBA{{30, 90, 200, 255}, {210, 80, 40, 255}} {
		if count[c] < 200 {
			t.Errorf("colour %v covers %d pixels: a model's lines are missing", c, count[c])
		}
	}
	if os.Getenv("LSGM_KEEP_PLOT") != "" {
		data, _ := os.ReadFile(out)
		os.WriteFile(os.Getenv("LSGM_KEEP_PLOT"), data, 0o644)
	}
	err = runFDPlot([]string{"--weights", fixture, "--out", out})
	if err == nil || !strings.Contains(err.Error(), "no recorded FD table") {
		t.Errorf("a file without a table: %v", err)
	}
	if err := runFDPlot([]string{"--out", out}); err == nil || !strings.Contains(err.Error(), "--weights") {
		t.Errorf("no --weights: %v", err)
	}
}
