package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lsgm-go/lsgm/weights"
)

// runFDPlot draws the Fréchet-distance tables that `trainer fd --record`
// wrote into weights files as one plot of distance against NFE, both axes
// logarithmic: a line per model and fixed-step sampler (dpmpp2m at 5, 10,
// 20, 50), a marker per single setting (rk45's adaptive NFE, heun, ddim),
// and each table's floor as a dashed line.
func runFDPlot(args []string) error {
	fs := flag.NewFlagSet("fdplot", flag.ContinueOnError)
	list := fs.String("weights", "", "comma-separated weights files with recorded FD tables (trainer fd --record), NAME=FILE to label one")
	out := fs.String("out", "fd.png", "PNG to write")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *list == "" {
		return errors.New("trainer fdplot: --weights names no file: give one or more weights files with recorded FD tables")
	}
	var models []fdModel
	for _, item := range strings.Split(*list, ",") {
		name, path, ok := strings.Cut(item, "=")
		if !ok {
			path, name = item, strings.TrimSuffix(filepath.Base(item), filepath.Ext(item))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("trainer fdplot: %v", err)
		}
		f, err := weights.Decode(b)
		if err != nil {
			return fmt.Errorf("trainer fdplot: %s: %v", path, err)
		}
		m, err := fdTable(name, f.Provenance.Metrics)
		if err != nil {
			return fmt.Errorf("trainer fdplot: %s: %v", path, err)
		}
		models = append(models, m)
	}
	return writePNG(*out, plotFD(models))
}

// fdModel is one weights file's recorded table: per sampler, its (NFE, FD)
// points in NFE order.
type fdModel struct {
	name  string
	n     int
	floor float64
	runs  map[string][][2]float64
}

func fdTable(name string, m map[string]float64) (fdModel, error) {
	n, ok := m["fd_n"]
	if !ok {
		return fdModel{}, errors.New("no recorded FD table (trainer fd --record writes one)")
	}
	t := fdModel{name: name, n: int(n), floor: m["fd_floor"], runs: map[string][][2]float64{}}
	for _, r := range fdRows(m) { // in NFE order per sampler
		if r.nfe > 0 && r.fd > 0 { // recon and vae have no NFE
			t.runs[r.name] = append(t.runs[r.name], [2]float64{float64(r.nfe), r.fd})
		}
	}
	if len(t.runs) == 0 {
		return fdModel{}, errors.New("its FD table has no sampler settings")
	}
	return t, nil
}

// plotFD draws the tables on log-log axes with a legend.
func plotFD(models []fdModel) *image.NRGBA {
	const W, H, left, right, top, bottom = 720, 440, 56, 200, 32, 44
	img := image.NewNRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, m := range models {
		for _, pts := range m.runs {
			for _, p := range pts {
				xlo, xhi = math.Min(xlo, p[0]), math.Max(xhi, p[0])
				ylo, yhi = math.Min(ylo, p[1]), math.Max(yhi, p[1])
			}
		}
		if m.floor > 0 {
			ylo = math.Min(ylo, m.floor)
		}
	}
	// Pad to whole decades' ticks a little past the data.
	xlo, xhi = xlo/1.3, xhi*1.3
	ylo, yhi = ylo/1.3, yhi*1.3
	lx, hx, ly, hy := math.Log(xlo), math.Log(xhi), math.Log(ylo), math.Log(yhi)
	px := func(v float64) int { return left + int((math.Log(v)-lx)/(hx-lx)*float64(W-left-right)) }
	py := func(v float64) int { return H - bottom - int((math.Log(v)-ly)/(hy-ly)*float64(H-top-bottom)) }
	grey, axis := color.NRGBA{225, 225, 225, 255}, color.NRGBA{0, 0, 0, 255}
	ticks := func(lo, hi float64, f func(v float64)) {
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for _, k := range []float64{1, 2, 5} {
				if v := k * math.Pow(10, e); v >= lo && v <= hi {
					f(v)
				}
			}
		}
	}
	ticks(xlo, xhi, func(v float64) {
		for y := top; y < H-bottom; y++ {
			img.Set(px(v), y, grey)
		}
		label(img, px(v)-8, H-bottom+16, strconv.FormatFloat(v, 'g', -1, 64))
	})
	ticks(ylo, yhi, func(v float64) {
		for x := left; x < W-right; x++ {
			img.Set(x, py(v), grey)
		}
		label(img, 4, py(v)+4, strconv.FormatFloat(v, 'g', -1, 64))
	})
	for x := left; x < W-right; x++ {
		img.Set(x, H-bottom, axis)
	}
	for y := top; y <= H-bottom; y++ {
		img.Set(left, y, axis)
	}
	ns := map[int]bool{}
	for _, m := range models {
		ns[m.n] = true
	}
	title := "Frechet distance against NFE (log-log)"
	if len(ns) == 1 {
		title += fmt.Sprintf(", n = %d", models[0].n)
	}
	label(img, left, 20, title)
	label(img, (W-right)/2, H-8, "NFE")
	palette := []color.NRGBA{{30, 90, 200, 255}, {210, 80, 40, 255}, {40, 150, 70, 255}, {140, 60, 170, 255}, {120, 120, 120, 255}}
	ly0 := top + 8
	for i, m := range models {
		c := palette[i%len(palette)]
		if m.floor > 0 { // dashed: the floor of this table's n
			for x := left; x < W-right; x++ {
				if (x/6)%2 == 0 {
					img.Set(x, py(m.floor), c)
				}
			}
		}
		names := make([]string, 0, len(m.runs))
		for s := range m.runs {
			names = append(names, s)
		}
		slices.Sort(names)
		for j, s := range names {
			pts := m.runs[s]
			for k := 1; k < len(pts); k++ {
				line(img, px(pts[k-1][0]), py(pts[k-1][1]), px(pts[k][0]), py(pts[k][1]), c)
			}
			for _, p := range pts {
				marker(img, px(p[0]), py(p[1]), j, c)
			}
			marker(img, W-right+14, ly0+4, j, c)
			label(img, W-right+24, ly0+8, m.name+" "+s)
			ly0 += 16
		}
		label(img, W-right+24, ly0+8, fmt.Sprintf("- - floor %.2f", m.floor))
		ly0 += 22
	}
	return img
}

// marker draws a small shape at (x, y): a square, a cross, a triangle or a
// diamond by kind.
func marker(img *image.NRGBA, x, y, kind int, c color.NRGBA) {
	for d := -3; d <= 3; d++ {
		switch kind % 4 {
		case 0:
			for e := -3; e <= 3; e++ {
				if abs(d) == 3 || abs(e) == 3 {
					img.Set(x+d, y+e, c)
				}
			}
		case 1:
			img.Set(x+d, y+d, c)
			img.Set(x+d, y-d, c)
		case 2:
			img.Set(x+d, y+3, c)
			img.Set(x+d/2, y-3+abs(d), c)
		default:
			img.Set(x+d, y+3-abs(d), c)
			img.Set(x+d, y-3+abs(d), c)
		}
	}
}
