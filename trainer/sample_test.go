package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixture = "../weights/testdata/tiny.lsgm"

func TestSampleWritesGrid(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g.png")
	if err := runSample([]string{"--weights", fixture, "--out", out, "--count", "6", "--cols", "3", "--nfe", "4", "-q"}); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, out)
	// 3 columns x 2 rows of 28x28 with 2-pixel gaps.
	if b := img.Bounds(); b.Dx() != 3*30+2 || b.Dy() != 2*30+2 {
		t.Errorf("grid is %v", b)
	}
}

func TestSampleBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.lsgm")
	os.WriteFile(junk, []byte("<html>not found</html>"), 0o644)
	cases := map[string][]string{
		"no such file":      {"--weights", filepath.Join(dir, "absent.lsgm")},
		"HTML":              {"--weights", junk},
		"unknown sampler":   {"--weights", fixture, "--sampler", "magic", "-q"},
		"temperature":       {"--weights", fixture, "--temp", "-1", "-q"},
		"count 0 out of":    {"--weights", fixture, "--count", "0", "-q"},
		"--backend \"tpu\"": {"--weights", fixture, "--backend", "tpu", "-q"},
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
