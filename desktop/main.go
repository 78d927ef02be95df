// Command desktop is the offline LSGM viewer: it samples a model with the
// native runtime (the GPU through WebGPU when there is one, the CPU
// otherwise) and shows the grid, a live denoising view, and latent
// interpolations, in a window drawn with Ebiten. No network is needed.
//
//	go run ./desktop                      # the embedded default weights
//	go run ./desktop model.lsgm           # or any weights file (or drop one on the window)
//
// Keys are listed in the window (H hides them).
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/lsgm-go/lsgm/desktop/ui"
	"github.com/lsgm-go/lsgm/runtime/backend"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func main() {
	fs := flag.NewFlagSet("desktop", flag.ExitOnError)
	weightsPath := fs.String("weights", "", "weights file (default: the embedded Fashion-MNIST model; a file argument works too)")
	model := fs.String("model", "", "a shipped model by id (N cycles them): "+shippedIDs())
	kind := fs.String("backend", "auto", "where to sample: auto, gpu or cpu")
	name := fs.String("sampler", "", "sampler (default: the model's)")
	nfe := fs.Int("nfe", 0, "network evaluations (default: the model's)")
	temp := fs.Float64("temp", 1, "temperature")
	seed := fs.Uint64("seed", 1, "seed")
	side := fs.Int("grid", 4, "grid side: side x side images (1 to 8)")
	class := fs.String("class", "", "a class, by name or index (default: unconditional; C cycles): a class-conditional model's, or its classifier's")
	clf := fs.String("classifier", "", "a noisy classifier of the model's latents for classifier guidance (trainer classifier --noisy; the embedded model has its own)")
	guidance := fs.Float64("guidance", 2, "with a class: the classifier-free guidance scale, 0 to 8 (V / Shift+V)")
	strength := fs.Float64("strength", 0.9, "edits: SDEdit's strength in (0, 1] (- / = in the edit view)")
	shot := fs.String("screenshot", "", "save the window as PNG once the first grid is done, then quit (for tests)")
	show := fs.String("show", "grid", "with -screenshot: grid, interp (the selected image's interpolation, its last frame), fill (image 1's left half erased and filled) or real (image 1 made real)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: desktop [flags] [weights.lsgm]")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 && *weightsPath == "" {
		*weightsPath = fs.Arg(0)
	}
	if *side < 1 || *side > maxSide {
		fmt.Fprintf(os.Stderr, "desktop: -grid %d out of range [1, %d]\n", *side, maxSide)
		os.Exit(2)
	}
	if !(*temp > 0 && *temp <= 10) {
		fmt.Fprintf(os.Stderr, "desktop: -temp %v out of range (0, 10]\n", *temp)
		os.Exit(2)
	}
	if *nfe < 0 || *nfe > sampler.MaxNFE {
		fmt.Fprintf(os.Stderr, "desktop: -nfe %d out of range [1, %d] (0: the model's)\n", *nfe, sampler.MaxNFE)
		os.Exit(2)
	}
	if !(*guidance >= 0 && *guidance <= ui.MaxGuidance) {
		fmt.Fprintf(os.Stderr, "desktop: -guidance %v out of range [0, %g]\n", *guidance, ui.MaxGuidance)
		os.Exit(2)
	}
	if !(*strength > 0 && *strength <= 1) {
		fmt.Fprintf(os.Stderr, "desktop: -strength %v out of range (0, 1]\n", *strength)
		os.Exit(2)
	}
	if !slices.Contains(backend.Kinds, *kind) {
		fmt.Fprintf(os.Stderr, "desktop: -backend %q: want auto, gpu or cpu\n", *kind)
		os.Exit(2)
	}
	v := newViewer(settings{Sampler: sampler.Config{Name: *name, NFE: *nfe}, Temperature: *temp, Seed: *seed, Side: *side, Class: -1, Guidance: *guidance, Strength: *strength}, *kind, *shot)
	v.wantClass, v.clfPath = *class, *clf
	switch *show {
	case "grid":
	case "interp":
		v.shotView = viewInterp
	case "fill":
		v.shotView = viewFill
	case "real":
		v.shotView = viewReal
	default:
		fmt.Fprintf(os.Stderr, "desktop: -show %q: want grid, interp, fill or real\n", *show)
		os.Exit(2)
	}
	switch {
	case *model != "" && *weightsPath != "":
		fmt.Fprintln(os.Stderr, "desktop: -model and a weights file both name a model: give one")
		os.Exit(2)
	case *model != "":
		i := slices.IndexFunc(weights.ShippedModels(), func(m weights.Shipped) bool { return m.ID == *model })
		if i < 0 {
			fmt.Fprintf(os.Stderr, "desktop: -model %q: the shipped models are %s\n", *model, shippedIDs())
			os.Exit(2)
		}
		v.openShipped(i)
	default:
		v.open(*weightsPath)
	}
	ebiten.SetWindowTitle("LSGM viewer")
	ebiten.SetWindowSize(winW, winH)
	ebiten.SetWindowResizingMode(ebiten.WindowResizingModeEnabled)
	if err := ebiten.RunGame(v); err != nil {
		fmt.Fprintln(os.Stderr, "desktop:", err)
		os.Exit(1)
	}
	if v.shotErr != nil {
		fmt.Fprintln(os.Stderr, "desktop:", v.shotErr)
		os.Exit(1)
	}
}

// shippedIDs lists the shipped models' ids.
func shippedIDs() string {
	var ids []string
	for _, m := range weights.ShippedModels() {
		ids = append(ids, m.ID)
	}
	return strings.Join(ids, ", ")
}
