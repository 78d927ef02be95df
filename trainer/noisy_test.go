package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/weights"
)

// trainer classifier --noisy trains a classifier of the shipped model's
// diffused latents that the runtime loads for classifier guidance, and
// trainer sample guides with it; misuses are refused by name.
func TestNoisyClassifier(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Fashion-MNIST under CI")
		}
		t.Skip("no Fashion-MNIST: apt-get install dataset-fashion-mnist")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "noisy.lsgmc")
	uncond := "../weights/fashion-uncond.lsgm"
	if err := runClassifier([]string{"--noisy", "--images", "512", "--epochs", "2", "--batch", "64", "--out", path, "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := runtime.LoadClassifier(b)
	if err != nil {
		t.Fatal(err)
	}
	f := c.File
	if len(f.Names) != 10 || f.Names[7] != "Sneaker" || f.Model != "lsgm-fashion-mnist" || len(f.AccuracyAt) != 5 || f.EncoderSHA256 == "" {
		t.Errorf("classifier file: names %v, model %q (encoder %q), accuracies %v", f.Names, f.Model, f.EncoderSHA256, f.AccuracyAt)
	}
	if f.AccuracyAt["0.1"] < 0.3 { // 10 classes: chance is 0.1
		t.Errorf("accuracy at t = 0.1 is %v after 2 epochs on 512 latents", f.AccuracyAt["0.1"])
	}
	t.Logf("accuracy by time: %v", f.AccuracyAt)
	out := filepath.Join(dir, "s.png")
	if err := runSample([]string{"--classifier", path, "--class", "sneaker", "--guidance-scale", "3", "--count", "4", "--nfe", "3", "--backend", "cpu", "--out", out, "-q"}); err != nil {
		t.Fatal(err)
	}
	// A shipped model without classes guides with its shipped classifier
	// by default (found by the file's bytes, wherever it lies).
	if err := runSample([]string{"--weights", uncond, "--class", "Bag", "--guidance-scale", "2", "--count", "2", "--nfe", "3", "--backend", "cpu", "--out", out, "-q"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--classifier", path}, "name one with --class"},
		{[]string{"--classifier", path, "--class", "Hat"}, `no class "Hat"`},
		{[]string{"--classifier", "../weights/fmnist-classifier.lsgmc", "--class", "Bag"}, "reads images"},
		{[]string{"--classifier", filepath.Join(dir, "none.lsgmc"), "--class", "Bag"}, "no such file"},
		{[]string{"--classifier", path, "--class", "Bag", "--weights", fixture}, "the classifier reads latents of [4 7 7]"},
		{[]string{"--classifier", path, "--class", "Bag", "--weights", uncond}, "latents of another lsgm-fashion-mnist"},
		{[]string{"--classifier", path, "--class", "Bag", "--guidance-scale", "-1"}, "--guidance-scale -1 out of range"},
		{[]string{"--weights", uncond, "--class", "Bag", "--guidance", "cfg"}, "not class-conditional"},
		{[]string{"--class", "Bag", "--guidance", "classifier"}, "needs a classifier of its latents"},
		{[]string{"--class", "Bag", "--guidance", "magic"}, `--guidance "magic": want cfg or classifier`},
		{[]string{"--class", "Bag", "--guidance", "cfg", "--classifier", path}, "does not use --classifier"},
		{[]string{"--class", "Bag", "--weights", fixture}, "needs a classifier of its latents"},
	} {
		err := runSample(append(c.args, "--count", "1", "--nfe", "2", "--out", out, "-q"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
	// --rebind measures a classifier on a model's latents before binding it.
	again := filepath.Join(dir, "again.lsgmc")
	if err := runClassifier([]string{"--rebind", path, "--images", "512", "--out", again, "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	if b2, err := os.ReadFile(again); err != nil || !sameClassifier(t, b, b2) {
		t.Errorf("rebinding to its own model changed the classifier (%v)", err)
	}
	// The shipped model's architecture with random weights: another
	// latent space, where the accuracy falls to chance.
	def, err := weights.Decode(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	rnd, err := weights.Random(&def.Arch, 3)
	if err != nil {
		t.Fatal(err)
	}
	rndPath := filepath.Join(dir, "random.lsgm")
	if err := os.WriteFile(rndPath, must(weights.Encode(rnd)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runClassifier([]string{"--rebind", path, "--weights", rndPath, "--images", "512", "--out", again, "-q", "--blas", "gonum"}); err == nil || !strings.Contains(err.Error(), "is not a classifier of") {
		t.Errorf("rebinding to another model's latents: %v", err)
	}
	if err := runClassifier([]string{"--rebind", "../weights/fmnist-classifier.lsgmc", "--out", again, "-q"}); err == nil || !strings.Contains(err.Error(), "not a noisy classifier") {
		t.Errorf("rebinding the feature classifier: %v", err)
	}
	if err := runClassifier([]string{"--weights", path}); err == nil || !strings.Contains(err.Error(), "--weights is for --noisy") {
		t.Errorf("--weights without --noisy: %v", err)
	}
	// trainer guidebench with it, on a few samples.
	fd := "../weights/fmnist-classifier.lsgmc"
	if err := runGuideBench([]string{"--classifier", path, "--fd-classifier", fd, "--n", "3", "--scales", "0,2", "--sampler", "ddim:2", "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	if err := runGuideBench([]string{"--weights", uncond, "--fd-classifier", fd, "-q"}); err == nil || !strings.Contains(err.Error(), "nothing to guide") {
		t.Errorf("guidebench with nothing to guide: %v", err)
	}
}

// sameClassifier says whether two classifier files hold the same network,
// model binding and recorded accuracies.
func sameClassifier(t *testing.T, a, b []byte) bool {
	t.Helper()
	ca, err := weights.DecodeClassifier(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := weights.DecodeClassifier(b)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(ca, cb)
}
