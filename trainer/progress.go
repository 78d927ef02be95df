package main

import (
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/lsgm-go/lsgm/trainer/data"
)

// meter shows a progress bar with rate, ETA and running losses.
type meter struct {
	total, first int
	start, last  time.Time
	images       int
	// With a time budget (fit --max-time), the bar and ETA follow whichever
	// of steps and time runs out first; before is the time spent in earlier
	// resumes.
	budget, before time.Duration
}

func newMeter(total, done int) *meter {
	now := time.Now()
	return &meter{total: total, first: done, start: now}
}

func (m *meter) rate() float64 {
	s := time.Since(m.start).Seconds()
	if s == 0 {
		return 0
	}
	return float64(m.images) / s
}

func (m *meter) elapsed() time.Duration { return time.Since(m.start) }

func (m *meter) tick(batch, step, epoch int, rec record, quiet bool) {
	m.images += batch
	if quiet || time.Since(m.last) < time.Second && step < m.total {
		return
	}
	m.last = time.Now()
	frac := float64(step) / float64(m.total)
	spent := m.before + time.Since(m.start)
	if m.budget > 0 {
		frac = min(1, max(frac, spent.Seconds()/m.budget.Seconds()))
	}
	const w = 24
	bar := strings.Repeat("=", int(frac*w)) + strings.Repeat(" ", w-int(frac*w))
	eta := "?"
	if done := step - m.first; done > 0 {
		left := time.Duration(float64(time.Since(m.start)) / float64(done) * float64(m.total-step))
		if m.budget > 0 {
			left = max(0, min(left, m.budget-spent))
		}
		eta = left.Round(time.Second).String()
	}
	// A GPU step reads its losses back once per logged step: until the
	// first log there are none to show.
	loss := "losses at the first log"
	switch {
	case rec.NELBO == 0 && rec.Recon == 0:
	case rec.Stage == "sgm": // the data-space model: no decoder, no KL
		loss = fmt.Sprintf("nelbo %.1f", rec.NELBO)
	case rec.Stage == "joint":
		loss = fmt.Sprintf("nelbo %.1f recon %.1f ce %.1f", rec.NELBO, rec.Recon, rec.CE)
	default:
		loss = fmt.Sprintf("nelbo %.1f recon %.1f kl %.1f", rec.NELBO, rec.Recon, rec.KL)
	}
	fmt.Fprintf(os.Stderr, "\r%s epoch %d [%s] %5.1f%% step %d/%d %.0f img/s ETA %s %s   ",
		rec.Stage, epoch+1, bar, 100*frac, step, m.total, m.rate(), eta, loss)
}

// accum averages records between log lines.
type accum struct {
	n   int
	sum record
}

func (a *accum) add(r record) {
	a.n++
	a.sum.Stage = r.Stage
	a.sum.NELBO += r.NELBO
	a.sum.Recon += r.Recon
	a.sum.NegEnt += r.NegEnt
	a.sum.KL += r.KL
	a.sum.CE += r.CE
	a.sum.PriorLoss += r.PriorLoss
	a.sum.GradVAE += r.GradVAE
	a.sum.GradPrior += r.GradPrior
}

func (a *accum) mean() record {
	r := a.sum
	if a.n == 0 {
		return r
	}
	k := 1 / float64(a.n)
	r.NELBO *= k
	r.Recon *= k
	r.NegEnt *= k
	r.KL *= k
	r.CE *= k
	r.PriorLoss *= k
	r.GradVAE *= k
	r.GradPrior *= k
	return r
}

// writeLossCurve plots the logged NELBO (nats per image) against the step:
// stage 1 in grey, stage 2 in blue, on a log-scaled y axis with grid lines
// at powers of ten and their halves.
func writeLossCurve(path string, recs []record) error {
	const W, H, pad = 640, 360, 48
	img := image.NewNRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	if len(recs) < 2 {
		return writePNG(path, img)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	maxStep := 1
	for _, r := range recs {
		if r.NELBO > 0 && !math.IsInf(r.NELBO, 0) {
			lo, hi = math.Min(lo, r.NELBO), math.Max(hi, r.NELBO)
		}
		maxStep = max(maxStep, r.Step)
	}
	if !(hi > lo) {
		hi = lo * 1.1
	}
	ly, hy := math.Log(lo), math.Log(hi)
	y := func(v float64) int { return H - pad - int((math.Log(v)-ly)/(hy-ly)*float64(H-2*pad)) }
	x := func(s int) int { return pad + int(float64(s)/float64(maxStep)*float64(W-2*pad)) }
	grey := color.NRGBA{220, 220, 220, 255}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 1.5, 2, 3, 5, 7} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			for px := pad; px < W-pad; px++ {
				img.Set(px, y(v), grey)
			}
			label(img, 2, y(v)+4, fmt.Sprintf("%g", v))
		}
	}
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		s := int(f * float64(maxStep))
		label(img, x(s)-12, H-pad+16, fmt.Sprint(s))
	}
	label(img, pad+8, 16, "NELBO, nats per image (log scale); grey: VAE stage, blue: with the SGM")
	label(img, W/2-20, H-6, "step")
	axis := color.NRGBA{0, 0, 0, 255}
	for px := pad; px < W-pad; px++ {
		img.Set(px, H-pad, axis)
	}
	for py := pad; py <= H-pad; py++ {
		img.Set(pad, py, axis)
	}
	for i := 1; i < len(recs); i++ {
		a, b := recs[i-1], recs[i]
		if !(a.NELBO > 0) || !(b.NELBO > 0) {
			continue
		}
		c := color.NRGBA{30, 90, 200, 255}
		if b.Stage == "vae" {
			c = color.NRGBA{120, 120, 120, 255}
		}
		line(img, x(a.Step), y(a.NELBO), x(b.Step), y(b.NELBO), c)
	}
	return writePNG(path, img)
}

func line(img *image.NRGBA, x0, y0, x1, y1 int, c color.NRGBA) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		img.Set(x0+(x1-x0)*i/n, y0+(y1-y0)*i/n, c)
		img.Set(x0+(x1-x0)*i/n, y0+(y1-y0)*i/n+1, c)
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

// version is stamped by `make trainer` (-ldflags -X main.version=...: git
// describe of the tree it was built from).
var version string

// codeVersion is the source version the binary was built from: the stamp,
// else the VCS revision or module version Go recorded, else a note saying
// how to get one.
func codeVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			return rev[:min(12, len(rev))] + dirty
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "unstamped (build with `make trainer` to record the git revision)"
}

// label writes s with its baseline at (x, y) in the basic 7x13 font.
func label(img *image.NRGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.NRGBA{60, 60, 60, 255}), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// isPoints tells a model of 2-D points (the toy sets) from one of images.
func isPoints(shape []int) bool {
	return len(shape) == 3 && shape[0] == 2 && shape[1] == 1 && shape[2] == 1
}

// writeScatter plots toy points (pairs of values in [0, 1], as the runtime
// returns them) on the plane they came from, darker where they pile up.
func writeScatter(path string, pts []float32, title string) error {
	const S, pad = 512, 24
	img := image.NewNRGBA(image.Rect(0, 0, S, S+pad))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	px := func(v float64) int { return int((v/data.ToyBox + 1) / 2 * (S - 1)) }
	grey := color.NRGBA{225, 225, 225, 255}
	for v := -1.0; v <= 1; v++ {
		for i := 0; i < S; i++ {
			img.Set(px(v), pad+i, grey)
			img.Set(i, pad+S-1-px(v), grey)
		}
	}
	hits := make([]int, S*S)
	for i := 0; i+1 < len(pts); i += 2 {
		x, y := px(data.FromUnit(pts[i])), S-1-px(data.FromUnit(pts[i+1]))
		for dy := 0; dy < 2; dy++ {
			for dx := 0; dx < 2; dx++ {
				if xx, yy := x+dx, y+dy; xx >= 0 && xx < S && yy >= 0 && yy < S {
					hits[yy*S+xx]++
				}
			}
		}
	}
	for i, h := range hits {
		if h > 0 {
			// One point gives a mid blue; piles darken towards navy.
			f := 0.45 * math.Pow(0.7, float64(h-1))
			img.Set(i%S, pad+i/S, color.NRGBA{uint8(20 + 235*f), uint8(60 + 195*f), uint8(140 + 115*f), 255})
		}
	}
	label(img, 6, 16, fmt.Sprintf("%s (%d points; grid lines at -1, 0, 1)", title, len(pts)/2))
	return writePNG(path, img)
}
