package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
)

// labelledIDX writes a folder of gzipped IDX files, train and t10k, of two
// classes: 0 a bright horizontal bar, 1 a vertical one, at random places.
func labelledIDX(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(8, 8))
	write := func(name string, magic uint32, dims []uint32, body []byte) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		binary.Write(zw, binary.BigEndian, append([]uint32{magic}, dims...))
		zw.Write(body)
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, split := range []string{"train", "t10k"} {
		imgs, labels := make([]byte, n*784), make([]byte, n)
		for i := 0; i < n; i++ {
			labels[i] = byte(i % 2)
			at := r.IntN(22)
			for k := 0; k < 28; k++ {
				for d := 0; d < 6; d++ {
					if labels[i] == 0 {
						imgs[i*784+(at+d)*28+k] = 255
					} else {
						imgs[i*784+k*28+at+d] = 255
					}
				}
			}
		}
		write(split+"-images-idx3-ubyte.gz", 0x803, []uint32{uint32(n), 28, 28}, imgs)
		write(split+"-labels-idx1-ubyte.gz", 0x801, []uint32{uint32(n)}, labels)
	}
	return dir
}

// trainer fit --classes trains a class-conditional model on the data's
// labels (with label dropout); trainer sample --class samples one class with
// guidance, and what cannot work is refused by name.
func TestFitClasses(t *testing.T) {
	dir := labelledIDX(t, 64)
	path := fitModel(t, dir, "--classes", "--likelihood", "bernoulli")
	f := readModel(t, path)
	if strings.Join(f.Arch.Classes, ",") != "0,1" {
		t.Fatalf("classes %v, want 0 and 1", f.Arch.Classes)
	}
	m, err := runtime.New(f)
	if err != nil {
		t.Fatal(err)
	}
	// The class reaches the network: the same noise sampled without guidance
	// (scale 0: the unconditional model) and with the class differ.
	sample := func(scale float64) []float32 {
		res, err := m.Sample(runtime.Request{Sampler: sampler.Config{Name: "ddim", NFE: 3}, Count: 2, Seed: 1, Guide: &runtime.Guide{Class: 1, Scale: scale}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Images
	}
	a, b := sample(0), sample(3)
	diff := 0.0
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
	}
	if diff < 1e-3 {
		t.Errorf("guidance changes no pixel by more than %g", diff)
	}
	out := filepath.Join(t.TempDir(), "g.png")
	if err := runSample([]string{"--weights", path, "--out", out, "--count", "4", "--nfe", "3", "--class", "1", "--guidance-scale", "3", "-q", "--backend", "cpu"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--weights", path, "--class", "2"}, `no class "2"; the classes are 0, 1`},
		{[]string{"--weights", path, "--class", "1", "--guidance-scale", "-1"}, "--guidance-scale -1 out of range"},
		{[]string{"--weights", path, "--class", "1", "--guidance-scale", "50"}, "--guidance-scale 50 out of range"},
		{[]string{"--weights", fixture, "--class", "1"}, "not class-conditional"},
	} {
		err := runSample(append(bad.args, "--out", out, "--count", "1", "--nfe", "2", "-q"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("sample %v: %v, want an error with %q", bad.args, err, bad.want)
		}
	}
	// Fitting: labels are needed, and the label dropout must leave both models.
	if err := runFit(fitArgs(toyIDX(t, 16), filepath.Join(t.TempDir(), "r"), "--classes")); err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Errorf("--classes without labels: %v", err)
	}
	if err := runFit(fitArgs(dir, filepath.Join(t.TempDir(), "r"), "--classes", "--label-drop", "0")); err == nil || !strings.Contains(err.Error(), "--label-drop 0") {
		t.Errorf("--label-drop 0: %v", err)
	}
}
