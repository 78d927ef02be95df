package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestPNG(t *testing.T, path string, w, h int, at func(x, y int) color.Color) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, at(x, y))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// trainer edit runs SDEdit and inpainting on the shipped model from PNG
// files, and refuses bad guides, masks and settings by name.
func TestEditCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	grey := func(v uint8) color.Color { return color.Gray{Y: v} }
	writeTestPNG(t, p("guide.png"), 28, 28, func(x, y int) color.Color { return grey(uint8(9 * (x % 28))) })
	writeTestPNG(t, p("left.png"), 28, 28, func(x, y int) color.Color { return grey(uint8(255 * (1 - x/14))) })
	writeTestPNG(t, p("empty.png"), 28, 28, func(x, y int) color.Color { return grey(0) })
	writeTestPNG(t, p("full.png"), 28, 28, func(x, y int) color.Color { return grey(255) })
	writeTestPNG(t, p("small.png"), 20, 28, func(x, y int) color.Color { return grey(0) })
	writeTestPNG(t, p("colour.png"), 28, 28, func(x, y int) color.Color { return color.NRGBA{R: 200, G: 10, B: 10, A: 255} })

	if err := runEdit([]string{"--init", p("guide.png"), "--strength", "0.6", "--count", "3", "--nfe", "4", "--out", p("sdedit.png"), "-q"}); err != nil {
		t.Fatal(err)
	}
	if err := runEdit([]string{"--init", p("guide.png"), "--mask", p("left.png"), "--count", "2", "--nfe", "4", "--jumps", "2", "--out", p("inpaint.png"), "-q"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sdedit.png", "inpaint.png"} {
		img := decodePNG(t, p(f))
		if img.Bounds().Dy() != 4*(28+2*2) { // one row, scale 4, pad 2
			t.Errorf("%s is %v", f, img.Bounds())
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--strength", "0.5"}, "--init is required"},
		{[]string{"--init", p("guide.png"), "--strength", "0"}, "--strength 0 out of range"},
		{[]string{"--init", p("guide.png"), "--strength", "1.2"}, "--strength 1.2 out of range"},
		{[]string{"--init", p("small.png")}, "is 20x28 pixels; the model takes 28x28"},
		{[]string{"--init", p("colour.png")}, "has colour"},
		{[]string{"--init", p("missing.png")}, "no such file"},
		{[]string{"--init", p("guide.png"), "--mask", p("empty.png")}, "is empty: nothing to fill"},
		{[]string{"--init", p("guide.png"), "--mask", p("full.png")}, "is full"},
		{[]string{"--init", p("guide.png"), "--mask", p("left.png"), "--sampler", "heun"}, "ddim or ddpm"},
		{[]string{"--init", p("guide.png"), "--mask", p("left.png"), "--jumps", "0"}, "--jumps 0 out of range"},
		{[]string{"--init", p("guide.png"), "--class", "Sneaker", "--weights", "../weights/fashion-uncond.lsgm"}, "not class-conditional"},
	} {
		err := runEdit(append(c.args, "-q", "--out", p("x.png"), "--count", "1", "--nfe", "2"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}

// trainer recon writes test images beside their reconstructions.
func TestReconCLI(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Fashion-MNIST under CI")
		}
		t.Skip("no Fashion-MNIST: apt-get install dataset-fashion-mnist")
	}
	out := filepath.Join(t.TempDir(), "r.png")
	if err := runRecon([]string{"--n", "3", "--scale", "1", "--out", out}); err != nil {
		t.Fatal(err)
	}
	if img := decodePNG(t, out); img.Bounds().Dx() != 6*30+2 || img.Bounds().Dy() != 32 {
		t.Errorf("recon grid %v, want 3 pairs in a row", img.Bounds())
	}
	if err := runRecon([]string{"--n", "0"}); err == nil || !strings.Contains(err.Error(), "--n 0 out of range") {
		t.Errorf("--n 0: %v", err)
	}
}
