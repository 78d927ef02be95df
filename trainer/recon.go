package main

import (
	"flag"
	"fmt"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/weights"
)

// runRecon is `trainer recon`: test images beside their VAE reconstructions
// (the posterior means decoded), the picture of what the decoder keeps.
func runRecon(args []string) error {
	fs := flag.NewFlagSet("recon", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (default: the shipped model)")
	dir := fs.String("data", data.DefaultDir, "folder with the t10k IDX files (or mnist)")
	n := fs.Int("n", 16, "test images, from the first")
	out := fs.String("out", "recon.png", "PNG to write: pairs of columns, the image then its reconstruction")
	scale := fs.Int("scale", 3, "pixels a model pixel, 1 to 16")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 || *n > 1024 {
		return fmt.Errorf("trainer recon: --n %d out of range [1, 1024]", *n)
	}
	if *scale < 1 || *scale > 16 {
		return fmt.Errorf("trainer recon: --scale %d out of range [1, 16]", *scale)
	}
	m, name, _, err := loadModel("trainer recon", *path)
	if err != nil {
		return err
	}
	if m.File.Arch.Likelihood == "none" {
		return fmt.Errorf("trainer recon: %s has no VAE to reconstruct with", name)
	}
	var test *data.Set
	if *dir == "mnist" {
		test, err = data.MNIST("test")
	} else {
		test, err = data.FashionMNIST(*dir, "test")
	}
	if err != nil {
		return fmt.Errorf("trainer recon: %v", err)
	}
	if !weights.EqualShape(test.Shape, m.DataShape()) {
		return fmt.Errorf("trainer recon: test images are %v, %s's %v", test.Shape, name, m.DataShape())
	}
	k := min(*n, test.N)
	d := weights.Numel(test.Shape)
	x := test.Images[:k*d]
	z, err := m.Latents(x, k)
	if err != nil {
		return fmt.Errorf("trainer recon: %v", err)
	}
	rec, err := m.Decode(z, k)
	if err != nil {
		return fmt.Errorf("trainer recon: %v", err)
	}
	var pairs []float32
	for i := 0; i < k; i++ {
		pairs = append(append(pairs, x[i*d:(i+1)*d]...), rec[i*d:(i+1)*d]...)
	}
	cols := 8
	if 2*k < cols {
		cols = 2 * k
	}
	g, err := runtime.Grid(pairs, 2*k, test.Shape, cols, 2)
	if err != nil {
		return err
	}
	if err := writePNG(*out, runtime.Scale(g, *scale)); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d test images, each followed by its reconstruction by %s\n", *out, k, m.File.Arch.Name)
	return nil
}
