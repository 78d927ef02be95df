package main

import (
	"math"
	"testing"
)

// The masks cover what they say; the corrupted guides stay in [0, 1] and a
// blur keeps an image's mean away from the edges.
func TestEditBenchGuidesAndMasks(t *testing.T) {
	shape := []int{1, 28, 28}
	for kind, want := range map[string]int{"left": 14 * 28, "centre": 14 * 14} {
		m, err := makeMask(kind, 2, shape, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			got := 0
			for _, v := range m[i*784 : (i+1)*784] {
				got += int(v)
			}
			if got != want {
				t.Errorf("%s mask %d covers %d pixels, want %d", kind, i, got, want)
			}
		}
	}
	s, err := makeMask("strokes", 3, shape, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got := 0
		for _, v := range s[i*784 : (i+1)*784] {
			got += int(v)
		}
		if got < 20 || got > 500 {
			t.Errorf("strokes mask %d covers %d pixels", i, got)
		}
	}
	if _, err := makeMask("heart", 1, shape, 1); err == nil {
		t.Error("an unknown mask was accepted")
	}
	x := make([]float32, 784)
	for i := range x {
		if r, c := i/28, i%28; r >= 10 && r < 18 && c >= 10 && c < 18 {
			x[i] = 1
		}
	}
	for _, kind := range []string{"noise", "blur"} {
		g, err := corrupt(x, 1, shape, kind, 0.3, 1.5, 1)
		if err != nil {
			t.Fatal(err)
		}
		var sum, sum0 float64
		for i, v := range g {
			if v < 0 || v > 1 {
				t.Fatalf("%s: value %v outside [0, 1]", kind, v)
			}
			sum, sum0 = sum+float64(v), sum0+float64(x[i])
		}
		if kind == "blur" && math.Abs(sum-sum0) > 2 {
			t.Errorf("blur changed the image's sum from %v to %v", sum0, sum)
		}
	}
}

// trainer editbench runs end to end on a few images.
func TestEditBench(t *testing.T) {
	if err := runEditBench([]string{"--n", "4", "--n-inpaint", "3", "--strengths", "0.5", "--guides", "blur", "--masks", "centre", "--inpaint", "ddpm:2:1", "-q", "--blas", "gonum", "--classifier", "../weights/fmnist-classifier.lsgmc"}); err != nil {
		t.Fatal(err)
	}
	if err := runEditBench([]string{"--guides", "smudge", "-q", "--classifier", "../weights/fmnist-classifier.lsgmc"}); err == nil {
		t.Error("an unknown guide corruption was accepted")
	}
}
