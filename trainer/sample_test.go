package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/weights"
)

const fixture = "../weights/testdata/tiny.lsgm"

func TestSampleWritesGrid(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g.png")
	if err := runSample([]string{"--weights", fixture, "--out", out, "--count", "6", "--cols", "3", "--nfe", "4", "--scale", "1", "-q"}); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, out)
	// 3 columns x 2 rows of 28x28 with 2-pixel gaps.
	if b := img.Bounds(); b.Dx() != 3*30+2 || b.Dy() != 2*30+2 {
		t.Errorf("grid is %v", b)
	}
	// The default scale doubles it, each pixel a 2x2 square.
	if err := runSample([]string{"--weights", fixture, "--out", out, "--count", "6", "--cols", "3", "--nfe", "4", "-q"}); err != nil {
		t.Fatal(err)
	}
	big := decodePNG(t, out)
	if b := big.Bounds(); b.Dx() != 2*(3*30+2) || b.Dy() != 2*(2*30+2) {
		t.Errorf("scaled grid is %v", b)
	}
	for _, p := range [][2]int{{2, 2}, {15, 20}, {40, 33}, {80, 50}} {
		want := img.At(p[0], p[1])
		for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
			if got := big.At(2*p[0]+d[0], 2*p[1]+d[1]); got != want {
				t.Errorf("scaled pixel (%d, %d)+%v = %v, want %v", p[0], p[1], d, got, want)
			}
		}
	}
}

func TestSampleBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.lsgm")
	os.WriteFile(junk, []byte("<html>not found</html>"), 0o644)
	cases := map[string][]string{
		"no such file":                   {"--weights", filepath.Join(dir, "absent.lsgm")},
		"HTML":                           {"--weights", junk},
		"unknown sampler":                {"--weights", fixture, "--sampler", "magic", "-q"},
		"--temp -1 out of range (0, 10]": {"--weights", fixture, "--temp", "-1", "-q"},
		"--temp 0 out of range (0, 10]":  {"--weights", fixture, "--temp", "0", "-q"},
		"--cols -1 out of range":         {"--weights", fixture, "--cols", "-1", "-q"},
		"--cols 100 out of range":        {"--weights", fixture, "--cols", "100", "--count", "4", "-q"},
		"--scale 0 out of range":         {"--weights", fixture, "--scale", "0", "-q"},
		"count 0 out of":                 {"--weights", fixture, "--count", "0", "-q"},
		"--backend \"tpu\"":              {"--weights", fixture, "--backend", "tpu", "-q"},
	}
	for want, args := range cases {
		err := runSample(args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one mentioning %q", args, err, want)
		}
	}
	if err := runInfo([]string{junk}); err == nil || !strings.Contains(err.Error(), "not an LSGM weights file") {
		t.Errorf("info on junk: %v", err)
	}
	if err := runInfo([]string{"--weights", junk}); err == nil || !strings.Contains(err.Error(), "not an LSGM weights file") {
		t.Errorf("info --weights on junk: %v", err)
	}
	if err := runInfo([]string{"--weights", fixture}); err != nil {
		t.Errorf("info --weights: %v", err)
	}
	if err := runInfo(nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("info without a file: %v", err)
	}
}

// Without --weights, sample uses the shipped default model.
func TestSampleDefaultWeights(t *testing.T) {
	out := filepath.Join(t.TempDir(), "d.png")
	if err := runSample([]string{"--out", out, "--count", "2", "--nfe", "2", "-q"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("no grid written: %v", err)
	}
}

// stdout runs f and returns what it printed.
func stdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	err = f()
	os.Stdout = old
	w.Close()
	return string(<-done), err
}

// trainer info on a classifier file says what it is, and a noisy one and
// its model name the same encoder; a corrupt one is refused by name.
func TestInfoClassifier(t *testing.T) {
	m, _ := weights.ShippedModel("fashion-uncond")
	f, err := weights.Decode(m.Weights())
	if err != nil {
		t.Fatal(err)
	}
	enc := f.EncoderSHA256()[:12]
	out, err := stdout(t, func() error { return runInfo([]string{"../weights/" + m.Classifier}) })
	if err != nil || !strings.Contains(out, "noisy classifier") || !strings.Contains(out, "bound to the encoder "+enc) {
		t.Errorf("info on the noisy classifier (%v):\n%s", err, out)
	}
	out, err = stdout(t, func() error { return runInfo([]string{"../weights/" + m.File}) })
	if err != nil || !strings.Contains(out, "encoder "+enc) {
		t.Errorf("info on its model (%v):\n%s", err, out)
	}
	out, err = stdout(t, func() error { return runInfo([]string{"../weights/fmnist-classifier.lsgmc"}) })
	if err != nil || !strings.Contains(out, "feature classifier") {
		t.Errorf("info on the feature classifier (%v):\n%s", err, out)
	}
	b := append([]byte(nil), m.ClassifierFile()...)
	b[len(b)/2] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.lsgmc")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := stdout(t, func() error { return runInfo([]string{bad}) }); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("info on a corrupt classifier: %v", err)
	}
}
