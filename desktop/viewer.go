package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/ebitenutil"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"
	"github.com/lsgm-go/lsgm/desktop/ui"
	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/backend"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

const (
	winW, winH   = ui.WinW, ui.WinH
	gridX, gridY = ui.GridX, ui.GridY
	gridBox      = ui.GridBox
	pad          = ui.Pad
	panelX       = ui.PanelX
	maxSide      = ui.MaxSide
	interpFrames = 24 // frames of a latent interpolation
	frameTicks   = 5  // ticks (1/60 s) a frame is shown
)

// settings are what the user tunes.
type settings struct {
	Sampler     sampler.Config
	Temperature float64
	Seed        uint64
	Side        int
	Class       int     // a class-conditional model's class; -1: none
	Guidance    float64 // its guidance scale
	Strength    float64 // SDEdit's strength (make it real)
	// Classifier, when set, guides by classifier guidance (the shipped
	// model's own noisy classifier, or -classifier); Class is its class.
	Classifier *runtime.Classifier
}

// guide is the request's guidance for the settings (nil: unconditional).
func (s settings) guide() *runtime.Guide {
	if s.Class < 0 {
		return nil
	}
	return &runtime.Guide{Class: s.Class, Scale: s.Guidance, Classifier: s.Classifier}
}

// classes are the classes the settings can guide towards on m.
func (s settings) classes(m *runtime.Model) []string {
	if s.Classifier != nil {
		return s.Classifier.Names()
	}
	return m.Classes()
}

// view is what the image area shows.
type view int

const (
	viewGrid   view = iota // the last grid (or its live preview while sampling)
	viewReplay             // the last run's denoising, step by step, looped
	viewInterp             // a latent interpolation of the selected image, looped
	viewEdit               // the image being edited, large: erase with the mouse
)

// viewer is the ebiten.Game. Sampling runs in a goroutine of its own; it
// hands its results over under mu, and Update turns them into images.
type viewer struct {
	kind, shotPath string
	shotView       view   // what to show before the screenshot (-show)
	wantClass      string // -class, resolved against the first model
	clfPath        string // -classifier

	mu       sync.Mutex
	set      settings
	s        *backend.Sampler
	source   string // where the model came from
	busy     bool
	progress float64
	status   string
	errText  string
	pending  []byte   // RGBA of the next grid to show (final or preview)
	final    []byte   // the last finished grid
	steps    [][]byte // the last run's previews, for the replay
	frames   [][]byte // interpolation frames (RGBA of one image each)
	count    int      // images in pending/final
	done     int      // finished runs
	edits    int      // finished edits

	// The edited image ([C, H, W] in [0, 1]) and its pixels to fill.
	editPx, editMask []float32

	// Game-goroutine state.
	grid     *ebiten.Image
	gridSide int
	show     view
	tick     int
	selected int
	help     bool
	message  string
	msgUntil time.Time
	shotDone bool
	shotErr  error
}

func newViewer(s settings, kind, shot string) *viewer {
	return &viewer{set: s, kind: kind, shotPath: shot, help: true, status: "loading…"}
}

// defaultSource names the embedded default weights.
const defaultSource = "embedded default weights"

// shippedSource names shipped model m (the default keeps defaultSource).
func shippedSource(i int, m weights.Shipped) string {
	if i == 0 {
		return defaultSource
	}
	return "shipped model " + m.Title
}

// open loads weights from a path ("" is the embedded default) in the background.
func (v *viewer) open(path string) {
	if path == "" {
		v.openShipped(0)
		return
	}
	go func() {
		data, err := os.ReadFile(path)
		if err != nil {
			v.fail(fmt.Errorf("cannot read %s: %v", path, err))
			return
		}
		v.load(data, path, nil)
	}()
}

// openShipped loads shipped model i (weights.ShippedModels) in the
// background, with its noisy classifier.
func (v *viewer) openShipped(i int) {
	ms := weights.ShippedModels()
	m := ms[i%len(ms)]
	go v.load(m.Weights(), shippedSource(i%len(ms), m), m.ClassifierFile())
}

// shownShipped is the index of the shipped model shown, -1 for one from a
// file. v.mu is held.
func (v *viewer) shownShipped() int {
	for i, m := range weights.ShippedModels() {
		if v.source == shippedSource(i, m) {
			return i
		}
	}
	return -1
}

// nextShipped is the shipped model after (or with back, before) the one
// shown; a model from a file counts as before the first. v.mu is held.
func (v *viewer) nextShipped(back bool) int {
	n, cur := len(weights.ShippedModels()), v.shownShipped()
	switch {
	case back && cur <= 0:
		return n - 1
	case back:
		return cur - 1
	}
	return (cur + 1) % n
}

func (v *viewer) fail(err error) {
	v.mu.Lock()
	v.errText, v.busy = err.Error(), false
	v.mu.Unlock()
}

// loadFailed reports a model that could not be opened; the header says so,
// and which model (if any) is still shown.
func (v *viewer) loadFailed(src string, err error) {
	v.mu.Lock()
	v.status = "could not load " + src
	if v.s != nil {
		v.status += "; still showing " + v.source
	}
	v.mu.Unlock()
	v.fail(fmt.Errorf("%s: %v", src, err))
}

// load replaces the model (keeping the old one when the new one is bad) and
// samples a first grid.
func (v *viewer) load(data []byte, src string, shippedClf []byte) {
	v.mu.Lock()
	if v.busy {
		v.mu.Unlock()
		return
	}
	v.busy, v.status, v.errText = true, "loading "+src+"…", ""
	v.mu.Unlock()
	m, err := runtime.Load(data)
	if err != nil {
		v.loadFailed(src, err)
		return
	}
	s, err := backend.Open(m, v.kind)
	if err != nil {
		v.loadFailed(src, err)
		return
	}
	v.mu.Lock()
	if v.s != nil {
		v.s.Close()
	}
	v.s, v.source, v.busy = s, src, false
	// Classifier guidance: -classifier, or the shipped model's own.
	v.set.Classifier = nil
	var clf []byte
	switch {
	case v.clfPath != "":
		if clf, err = os.ReadFile(v.clfPath); err != nil {
			v.errText = fmt.Sprintf("cannot read the classifier %s: %v", v.clfPath, err)
		}
	case shippedClf != nil:
		clf = shippedClf
	}
	if clf != nil {
		c, err := runtime.LoadClassifier(clf)
		if err == nil {
			err = m.CheckGuide(&runtime.Guide{Classifier: c})
		}
		switch {
		case err == nil:
			v.set.Classifier = c
		case v.clfPath != "":
			v.errText = fmt.Sprintf("classifier %s: %s", v.clfPath, strings.TrimPrefix(err.Error(), "runtime: "))
		}
	}
	if v.set.Sampler.Name == "" {
		v.set.Sampler.Name = m.File.Arch.Sampling.Sampler
	}
	if v.set.Sampler.NFE == 0 {
		v.set.Sampler.NFE = m.File.Arch.Sampling.NFE
	}
	if v.set.Class >= len(v.set.classes(m)) { // a class the new model lacks
		v.set.Class = -1
	}
	if v.wantClass != "" {
		index := m.ClassIndex
		if v.set.Classifier != nil {
			index = v.set.Classifier.ClassIndex
		}
		c, err := index(v.wantClass)
		v.wantClass = ""
		if err != nil {
			v.errText = strings.TrimPrefix(err.Error(), "runtime: ")
			v.mu.Unlock()
			return
		}
		v.set.Class = c
	}
	v.mu.Unlock()
	v.generate()
}

// generate samples a grid with the current settings in the background.
func (v *viewer) generate() {
	v.mu.Lock()
	if v.busy || v.s == nil {
		v.mu.Unlock()
		return
	}
	set, s := v.set, v.s
	n := set.Side * set.Side
	v.busy, v.progress, v.errText, v.steps = true, 0, "", nil
	v.status = fmt.Sprintf("sampling %d images on %s…", n, s.Name())
	v.mu.Unlock()
	go func() {
		start := time.Now()
		req := runtime.Request{Sampler: set.Sampler, Count: n, Seed: set.Seed, Temperature: set.Temperature, Guide: set.guide()}
		res, err := s.Sample(req, true, func(p backend.Progress) {
			v.mu.Lock()
			v.progress = p.Done
			of := fmt.Sprintf("/%d", p.N)
			if p.N == 0 { // an adaptive solver: no count ahead
				of = ""
			}
			v.status = fmt.Sprintf("step %d%s  t=%.3f  %.1f s", p.I, of, p.T, time.Since(start).Seconds())
			if p.Preview != nil {
				v.pending, v.count = p.Preview, n
				v.steps = append(v.steps, p.Preview)
			}
			v.mu.Unlock()
		})
		if err != nil {
			v.fail(err)
			return
		}
		where := s.Name()
		if !res.OnGPU {
			where = "CPU"
		}
		v.mu.Lock()
		v.pending, v.final, v.count = res.RGBA, res.RGBA, n
		v.busy, v.progress, v.done = false, 1, v.done+1
		v.status = fmt.Sprintf("%d images · %s, %d NFE · T %.2f · seed %d · %.2f s on %s", n, set.Sampler.Name, res.Stats.NFE, set.Temperature, set.Seed, time.Since(start).Seconds(), where)
		if g := set.guide(); g != nil && g.Classifier != nil {
			v.status += fmt.Sprintf(" · %s, classifier guidance %.1f", g.Classifier.Names()[g.Class], g.Scale)
		} else if g != nil {
			v.status += fmt.Sprintf(" · %s, guidance %.1f", s.CPU.Classes()[g.Class], g.Scale)
		}
		if note := firstNonEmpty(res.Note, s.Note); note != "" {
			v.status += "\n" + note
		}
		v.mu.Unlock()
	}()
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// interpolate samples frames along the spherical path between the initial
// noises of image i under seed and seed+1, through the deterministic ODE.
func (v *viewer) interpolate(i int) {
	v.mu.Lock()
	if v.busy || v.s == nil {
		v.mu.Unlock()
		return
	}
	set, s := v.set, v.s
	v.busy, v.progress, v.errText = true, 0, ""
	v.status = fmt.Sprintf("interpolating image %d between seeds %d and %d…", i+1, set.Seed, set.Seed+1)
	v.mu.Unlock()
	go func() {
		m := s.CPU
		cfg := set.Sampler
		if cfg.Name == "ddpm" || cfg.Name == "euler_maruyama" || cfg.Name == "pc" || cfg.Name == "ald" || cfg.Eta > 0 {
			cfg = sampler.Config{Name: "dpmpp2m", NFE: cfg.NFE} // an ODE: the same noise, the same image
		}
		noise := ui.InterpNoise(func(seed uint64, i uint32) []float32 { return m.InitialNoise(seed, i, 1) }, set.Seed, set.Seed+1, uint32(i), interpFrames)
		guide := set.guide()
		if guide == nil {
			// A class-conditional model's unguided image i follows a class
			// drawn for it: every frame keeps that class (frame by frame
			// the draw would change it), so the first frame is the grid's.
			if g := m.Unguided(set.Seed, uint32(i), 1); g != nil {
				guide = &runtime.Guide{Class: g.ImageClasses()[0], Scale: 1}
			}
		}
		res, err := s.Sample(runtime.Request{Sampler: cfg, Count: interpFrames, Temperature: set.Temperature, Noise: noise, Guide: guide}, false, func(p backend.Progress) {
			v.mu.Lock()
			v.progress = p.Done
			v.mu.Unlock()
		})
		if err != nil {
			v.fail(err)
			return
		}
		size := len(res.RGBA) / interpFrames
		v.mu.Lock()
		v.frames = v.frames[:0]
		for k := 0; k < interpFrames; k++ {
			v.frames = append(v.frames, res.RGBA[k*size:(k+1)*size])
		}
		v.busy, v.progress = false, 1
		v.status = fmt.Sprintf("interpolation of image %d, seeds %d -> %d, %s %d NFE (Esc: back to the grid)", i+1, set.Seed, set.Seed+1, cfg.Name, res.Stats.NFE)
		v.mu.Unlock()
	}()
}

// Update handles input and takes over the worker's results.
func (v *viewer) Update() error {
	if v.shotDone {
		return ebiten.Termination
	}
	v.tick++
	v.mu.Lock()
	if v.pending != nil && v.s != nil {
		if g, err := gridImage(v.pending, v.count, v.s.CPU.DataShape()); err != nil {
			v.errText = err.Error()
		} else {
			v.grid, v.gridSide = g, sideOf(v.count)
		}
		v.pending = nil
	}
	busy, loaded := v.busy, v.s != nil
	v.mu.Unlock()

	if files := ebiten.DroppedFiles(); files != nil {
		v.dropped(files)
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyH) {
		v.help = !v.help
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyEscape) {
		v.show = viewGrid
	}
	if !loaded || busy {
		return nil
	}
	if v.show == viewEdit {
		v.updateEdit()
		return nil
	}
	shift := ebiten.IsKeyPressed(ebiten.KeyShift)
	changed := false
	v.mu.Lock()
	st := &v.set
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyTab):
		st.Sampler.Name = cycle(sampler.Names, st.Sampler.Name, shift)
		st.Sampler.EndTime = 0
	case repeat(ebiten.KeyUp):
		st.Sampler.NFE = min(st.Sampler.NFE+step(shift, 1, 5), 1000)
	case repeat(ebiten.KeyDown):
		st.Sampler.NFE = max(st.Sampler.NFE-step(shift, 1, 5), 1)
	case repeat(ebiten.KeyRight):
		st.Temperature = min(st.Temperature+0.05, 2)
	case repeat(ebiten.KeyLeft):
		st.Temperature = max(st.Temperature-0.05, 0.05)
	case repeat(ebiten.KeyBracketRight):
		st.Seed++
		changed = true
	case repeat(ebiten.KeyBracketLeft):
		st.Seed--
		changed = true
	case inpututil.IsKeyJustPressed(ebiten.KeyR):
		st.Seed = rand.Uint64N(1 << 32)
		changed = true
	case inpututil.IsKeyJustPressed(ebiten.KeyC):
		if n := len(st.classes(v.s.CPU)); n > 0 {
			st.Class = ui.NextClass(st.Class, n, shift)
			changed = true
		} else {
			v.message, v.msgUntil = "this model has no classes", time.Now().Add(3*time.Second)
		}
	case repeat(ebiten.KeyV):
		if st.Class >= 0 {
			if shift {
				st.Guidance = max(st.Guidance-ui.GuidanceStep, 0)
			} else {
				st.Guidance = min(st.Guidance+ui.GuidanceStep, ui.MaxGuidance)
			}
			changed = true
		}
	case inpututil.IsKeyJustPressed(ebiten.KeyG):
		st.Side = st.Side%maxSide + 1
		if shift {
			st.Side = (st.Side+maxSide-3)%maxSide + 1
		}
		changed = true
	}
	v.mu.Unlock()
	switch {
	case changed, inpututil.IsKeyJustPressed(ebiten.KeyEnter), inpututil.IsKeyJustPressed(ebiten.KeySpace):
		v.show = viewGrid
		v.generate()
	case inpututil.IsKeyJustPressed(ebiten.KeyD):
		v.show, v.tick = viewReplay, 0
	case inpututil.IsKeyJustPressed(ebiten.KeyI):
		v.show, v.tick = viewInterp, 0
		v.interpolate(v.selected)
	case inpututil.IsKeyJustPressed(ebiten.KeyS) && !shift:
		v.save(false)
	case inpututil.IsKeyJustPressed(ebiten.KeyS) && shift, inpututil.IsKeyJustPressed(ebiten.KeyX):
		v.save(true)
	case inpututil.IsKeyJustPressed(ebiten.KeyE):
		v.startEdit(v.selected)
	case inpututil.IsKeyJustPressed(ebiten.KeyN):
		v.mu.Lock()
		next, cur := v.nextShipped(shift), v.shownShipped()
		if next != cur {
			v.set.Class = -1 // the classes are the old model's
		}
		v.mu.Unlock()
		if next == cur {
			v.message, v.msgUntil = "one model ships with the viewer: drop a .lsgm file on the window to open another", time.Now().Add(4*time.Second)
		} else {
			v.openShipped(next)
		}
	}
	if inpututil.IsMouseButtonJustPressed(ebiten.MouseButtonLeft) {
		if i, ok := v.imageAt(ebiten.CursorPosition()); ok {
			v.selected = i
		}
	}
	return nil
}

func step(shift bool, a, b int) int {
	if shift {
		return b
	}
	return a
}

// repeat is true on a key press and then every few ticks while it is held.
func repeat(k ebiten.Key) bool {
	d := inpututil.KeyPressDuration(k)
	return d == 1 || (d > 20 && d%4 == 0)
}

func cycle(names []string, cur string, back bool) string {
	i := 0
	for k, n := range names {
		if n == cur {
			i = k
		}
	}
	if back {
		return names[(i+len(names)-1)%len(names)]
	}
	return names[(i+1)%len(names)]
}

func sideOf(n int) int {
	s := 1
	for s*s < n {
		s++
	}
	return s
}

// dropped loads the first file dropped on the window.
func (v *viewer) dropped(files fs.FS) {
	ents, err := fs.ReadDir(files, ".")
	if err != nil || len(ents) == 0 {
		return
	}
	name := ents[0].Name()
	data, err := fs.ReadFile(files, name)
	if err != nil {
		v.fail(fmt.Errorf("cannot read the dropped %s: %v", name, err))
		return
	}
	v.show = viewGrid
	go v.load(data, name, nil)
}

// gridImage lays n RGBA images out in a side x side grid, as runtime.Grid does.
func gridImage(rgba []byte, n int, shape []int) (*ebiten.Image, error) {
	img, err := runtime.GridRGBA(rgba, n, shape[1], shape[2], sideOf(n), pad)
	if err != nil {
		return nil, err
	}
	return ebiten.NewImageFromImage(img), nil
}

func scaleFor(px int) int { return ui.Scale(px) }

// imageAt maps a window position to the index of the image under it.
func (v *viewer) imageAt(x, y int) (int, bool) {
	if v.grid == nil {
		return 0, false
	}
	px := v.grid.Bounds().Dx()
	sc := scaleFor(px)
	cell := (px - pad) / v.gridSide
	gx, gy := (x-gridX)/sc, (y-gridY)/sc
	if x < gridX || y < gridY || gx >= px || gy >= px {
		return 0, false
	}
	i := (gy/cell)*v.gridSide + gx/cell
	v.mu.Lock()
	defer v.mu.Unlock()
	return i, i < v.count
}

// save writes the grid, or the selected image, as PNG in the working folder.
func (v *viewer) save(single bool) {
	v.mu.Lock()
	final, n, set := v.final, v.count, v.set
	shape := v.s.CPU.DataShape()
	v.mu.Unlock()
	if final == nil {
		return
	}
	var img image.Image
	var name string
	h, w := shape[1], shape[2]
	if single {
		k := min(v.selected, n-1)
		one := image.NewRGBA(image.Rect(0, 0, w, h))
		copy(one.Pix, final[4*k*h*w:][:4*h*w])
		img, name = one, fmt.Sprintf("lsgm-seed%d-image%d.png", set.Seed, k+1)
	} else {
		g := image.NewRGBA(image.Rect(0, 0, v.grid.Bounds().Dx(), v.grid.Bounds().Dy()))
		v.grid.ReadPixels(g.Pix)
		img, name = g, fmt.Sprintf("lsgm-seed%d-grid%d.png", set.Seed, n)
	}
	if err := writePNG(name, img); err != nil {
		v.flash("could not save: " + err.Error())
		return
	}
	v.flash("saved " + name)
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (v *viewer) flash(msg string) { v.message, v.msgUntil = msg, time.Now().Add(4*time.Second) }

var (
	bg     = color.RGBA{24, 24, 28, 255}
	accent = color.RGBA{80, 160, 255, 255}
	errBg  = ui.ErrBg
)

// Draw renders the window; with -screenshot, the first finished grid is
// saved from the screen itself and the viewer quits.
func (v *viewer) Draw(screen *ebiten.Image) {
	screen.Fill(bg)
	v.mu.Lock()
	status, errText, prog, busy, set, src := v.status, v.errText, v.progress, v.busy, v.set, v.source
	frames, steps, done := v.frames, v.steps, v.done
	var shape []int
	var classes []string
	name := "…"
	if v.s != nil {
		shape, name, classes = v.s.CPU.DataShape(), v.s.Name(), set.classes(v.s.CPU)
	}
	v.mu.Unlock()

	ebitenutil.DebugPrintAt(screen, status, gridX, 8)
	vector.FillRect(screen, gridX, 40, gridBox, 6, color.RGBA{60, 60, 66, 255}, false)
	vector.FillRect(screen, gridX, 40, float32(gridBox*prog), 6, accent, false)

	switch {
	case v.show == viewInterp && len(frames) > 0 && shape != nil:
		k := (v.tick / frameTicks) % (2*len(frames) - 2) // ping-pong
		if k >= len(frames) {
			k = 2*len(frames) - 2 - k
		}
		drawSingle(screen, frames[k], shape)
		ebitenutil.DebugPrintAt(screen, fmt.Sprintf("frame %d/%d", k+1, len(frames)), gridX, gridY+gridBox+4)
	case v.show == viewReplay && len(steps) > 0 && shape != nil:
		k := (v.tick / (2 * frameTicks)) % (len(steps) + 3)
		if k < len(steps) {
			if g, err := gridImage(steps[k], v.gridSide*v.gridSide, shape); err == nil {
				drawGrid(screen, g)
				g.Deallocate()
			}
			ebitenutil.DebugPrintAt(screen, fmt.Sprintf("denoising: step %d/%d (decoded prediction)", k+1, len(steps)), gridX, gridY+gridBox+4)
		} else if v.grid != nil {
			drawGrid(screen, v.grid)
		}
	case v.show == viewEdit && v.editPx != nil && shape != nil:
		drawSingle(screen, editRGBA(v.editPx, v.editMask, shape), shape)
		ebitenutil.DebugPrintAt(screen, fmt.Sprintf("editing: drag to erase (red: to fill) · F fill · M make it real at strength %.2f (- / =) · Esc back", set.Strength), gridX, gridY+gridBox+4)
	case v.grid != nil:
		drawGrid(screen, v.grid)
		if px := v.grid.Bounds().Dx(); !busy && v.selected < v.gridSide*v.gridSide {
			sc := float32(scaleFor(px))
			cell := float32((px - pad) / v.gridSide)
			x := gridX + (float32(v.selected%v.gridSide)*cell+pad/2)*sc
			y := gridY + (float32(v.selected/v.gridSide)*cell+pad/2)*sc
			vector.StrokeRect(screen, x, y, cell*sc, cell*sc, 2, accent, false)
		}
	}

	sampName, nfe := set.Sampler.Name, fmt.Sprint(set.Sampler.NFE)
	if src == "" {
		src, name, sampName, nfe = "none loaded", "-", "-", "-"
	}
	panel := fmt.Sprintf("MODEL  %s\nON     %s\n\nsampler      %s\nNFE          %s\ntemperature  %.2f\nseed         %d\ngrid         %d x %d\nselected     image %d",
		src, strings.Join(wrap(name, 40), "\n       "), sampName, nfe, set.Temperature, set.Seed, set.Side, set.Side, v.selected+1)
	if classes != nil {
		c := "any (unconditional)"
		if set.Class >= 0 && set.Class < len(classes) {
			c = fmt.Sprintf("%s, guidance %.1f", classes[set.Class], set.Guidance)
			if set.Classifier != nil {
				c = fmt.Sprintf("%s, classifier guidance %.1f", classes[set.Class], set.Guidance)
			}
		}
		panel += "\nclass        " + c
	}
	panel += fmt.Sprintf("\nstrength     %.2f (edits)", set.Strength)
	if v.help {
		panel += "\n\nKEYS\nTab / Shift+Tab  sampler\nUp / Down        NFE (Shift: 5)\nLeft / Right     temperature\n[ / ]            seed - / +\nR                random seed\nG / Shift+G      grid size\nC / Shift+C      class (guided)\nV / Shift+V      guidance + / -\nEnter, Space     generate\nD                replay the denoising\nclick            select an image\nI                interpolate it (seed -> seed+1)\nE                edit it: drag to erase,\n                 F fill, M make it real,\n                 - / = strength\nEsc              back to the grid\nS                save the grid (PNG)\nShift+S, X       save the selected image\nN / Shift+N      next shipped model\nH                hide these keys\n\nDrop a .lsgm file on the window to open it."
	}
	ebitenutil.DebugPrintAt(screen, panel, panelX, gridY)
	if errText != "" {
		lines := wrap(errText, 90)
		vector.FillRect(screen, gridX, winH-24-16*float32(len(lines)), winW-2*gridX, 16*float32(len(lines))+12, errBg, false)
		ebitenutil.DebugPrintAt(screen, "ERROR: "+strings.Join(lines, "\n"), gridX+8, winH-18-16*len(lines))
	}
	if v.message != "" && time.Now().Before(v.msgUntil) {
		ebitenutil.DebugPrintAt(screen, v.message, panelX, winH-30)
	}
	if v.shotPath != "" && done > 0 && v.shotView == viewInterp && v.show != viewInterp && !busy {
		v.show = viewInterp
		v.interpolate(v.selected) // starts its own goroutine
	}
	if v.shotPath != "" && done > 0 && (v.shotView == viewFill || v.shotView == viewReal) && v.edits == 0 && !busy && v.show != viewEdit {
		v.scriptedEdit()
	}
	ready := (done > 0 && v.grid != nil && v.show == viewGrid && v.shotView == viewGrid) || errText != ""
	if v.shotView == viewFill || v.shotView == viewReal {
		ready = (v.edits > 0 && v.grid != nil && v.show == viewGrid) || errText != ""
	}
	if v.show == viewInterp && v.shotView == viewInterp && len(frames) == interpFrames && !busy {
		ready = v.tick%frameTicks == 0 && (v.tick/frameTicks)%(2*interpFrames-2) == interpFrames-1 // the last frame
	}
	if v.shotPath != "" && !v.shotDone && ready && !busy {
		v.shotErr = screenshot(screen, v.shotPath)
		if v.shotErr == nil && errText != "" { // the picture shows the error; the exit status says it
			v.shotErr = fmt.Errorf("%s (saved %s, which shows the error)", errText, v.shotPath)
		}
		v.shotDone = true
	}
}

// drawGrid draws a grid image at the image area's origin, at integer zoom
// with nearest-neighbour filtering (Ebiten's default).
func drawGrid(screen, g *ebiten.Image) {
	sc := float64(scaleFor(g.Bounds().Dx()))
	op := &ebiten.DrawImageOptions{}
	op.GeoM.Scale(sc, sc)
	op.GeoM.Translate(gridX, gridY)
	screen.DrawImage(g, op)
}

func drawSingle(screen *ebiten.Image, rgba []byte, shape []int) {
	h, w := shape[1], shape[2]
	img := ebiten.NewImage(w, h)
	img.WritePixels(rgba)
	sc := float64(gridBox / max(w, h))
	op := &ebiten.DrawImageOptions{}
	op.GeoM.Scale(sc, sc)
	op.GeoM.Translate(gridX, gridY)
	screen.DrawImage(img, op)
	img.Deallocate()
}

func wrap(s string, width int) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for len(line) > width {
			cut := strings.LastIndex(line[:width], " ")
			if cut <= 0 {
				cut = width
			}
			out = append(out, line[:cut])
			line = strings.TrimLeft(line[cut:], " ")
		}
		out = append(out, line)
	}
	return out
}

func screenshot(screen *ebiten.Image, path string) error {
	b := screen.Bounds()
	img := image.NewRGBA(b)
	screen.ReadPixels(img.Pix)
	return writePNG(path, img)
}

// The screenshot's scripted edits (-show fill, -show real), for tests.
const (
	viewFill view = 100 + iota // erase image 1's left half and fill it
	viewReal                   // make image 1 real
)

// scriptedEdit runs -show's edit on the selected image once the first grid
// is done: the same as E, dragging over the left half, and F (or M).
func (v *viewer) scriptedEdit() {
	v.startEdit(v.selected)
	if v.editPx == nil {
		return
	}
	fill := v.shotView == viewFill
	if fill {
		w := len(v.editMask) / v.s.CPU.DataShape()[1]
		for i := range v.editMask {
			if i%w < w/2 {
				v.erase(i)
			}
		}
	}
	v.runEdit(fill)
}

// startEdit shows image i of the last grid large, to edit.
func (v *viewer) startEdit(i int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.final == nil || i >= v.count {
		v.message, v.msgUntil = "generate a grid first, then click an image and press E", time.Now().Add(4*time.Second)
		return
	}
	shape := v.s.CPU.DataShape()
	c, px := shape[0], shape[1]*shape[2]
	img := v.final[4*i*px : 4*(i+1)*px]
	v.editPx, v.editMask = make([]float32, c*px), make([]float32, px)
	for k := 0; k < px; k++ {
		for ch := 0; ch < c; ch++ {
			v.editPx[ch*px+k] = float32(img[4*k+ch]) / 255
		}
	}
	v.show = viewEdit
}

// erase blackens pixel k of the edited image and marks it to fill.
func (v *viewer) erase(k int) {
	px := len(v.editMask)
	for ch := 0; ch*px < len(v.editPx); ch++ {
		v.editPx[ch*px+k] = 0
	}
	v.editMask[k] = 1
}

// updateEdit handles the edit view's mouse and keys.
func (v *viewer) updateEdit() {
	shape := v.s.CPU.DataShape()
	h, w := shape[1], shape[2]
	sc := gridBox / max(w, h)
	if ebiten.IsMouseButtonPressed(ebiten.MouseButtonLeft) {
		x, y := ebiten.CursorPosition()
		fx, fy := float64(x-gridX)/float64(sc), float64(y-gridY)/float64(sc)
		for j := int(fy) - 2; j <= int(fy)+2; j++ {
			for i := int(fx) - 2; i <= int(fx)+2; i++ {
				dx, dy := float64(i)+0.5-fx, float64(j)+0.5-fy
				if i >= 0 && j >= 0 && i < w && j < h && dx*dx+dy*dy <= 2.25 {
					v.erase(j*w + i)
				}
			}
		}
	}
	v.mu.Lock()
	st := &v.set
	switch {
	case repeat(ebiten.KeyEqual):
		st.Strength = min(st.Strength+0.05, 1)
	case repeat(ebiten.KeyMinus):
		st.Strength = max(st.Strength-0.05, 0.05)
	}
	v.mu.Unlock()
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyF):
		v.runEdit(true)
	case inpututil.IsKeyJustPressed(ebiten.KeyM):
		v.runEdit(false)
	}
}

// runEdit fills the erased pixels (inpainting, on the CPU) or makes the
// image real (SDEdit at the strength, where sampling runs), side x side
// edits with the seed, and shows them as the grid.
func (v *viewer) runEdit(fill bool) {
	if fill && !slices.Contains(v.editMask, 1) {
		v.flash("nothing erased: drag over the part to fill first")
		return
	}
	v.mu.Lock()
	if v.busy || v.s == nil {
		v.mu.Unlock()
		return
	}
	set, s := v.set, v.s
	n := set.Side * set.Side
	req := runtime.EditRequest{Count: n, Seed: set.Seed, Guide: set.guide()}
	for range n {
		req.Guides = append(req.Guides, v.editPx...)
		if fill {
			req.Mask = append(req.Mask, v.editMask...)
		}
	}
	what := fmt.Sprintf("made real at strength %.2f", set.Strength)
	if fill {
		req.Sampler, req.Jumps = sampler.Config{Name: "ddpm", NFE: 20}, 5
		what = "filled (ddpm, 20 steps of 5 jumps)"
	} else {
		req.Sampler, req.Strength = set.Sampler, set.Strength
	}
	v.busy, v.progress, v.errText, v.steps = true, 0, "", nil
	v.status = fmt.Sprintf("editing: %d images %s…", n, what)
	v.mu.Unlock()
	go func() {
		start := time.Now()
		var rgba []byte
		var nfe int
		where := "CPU"
		if fill {
			res, err := s.CPU.Edit(req, func(st sampler.Step) {
				v.mu.Lock()
				v.progress = float64(st.I) / float64(st.N)
				v.status = fmt.Sprintf("filling: step %d/%d  %.1f s", st.I, st.N, time.Since(start).Seconds())
				v.mu.Unlock()
			})
			if err != nil {
				v.fail(err)
				return
			}
			rgba, nfe = runtime.RGBA8(res.Images, n, s.CPU.DataShape()), res.Stats.NFE
			what += fmt.Sprintf(", known pixels kept (decoded within %.1f grey levels)", 255*res.KnownError)
		} else {
			r, err := s.CPU.SDEditRequest(req)
			if err != nil {
				v.fail(err)
				return
			}
			res, err := s.Sample(r, false, func(p backend.Progress) {
				v.mu.Lock()
				v.progress = p.Done
				v.mu.Unlock()
			})
			if err != nil {
				v.fail(err)
				return
			}
			rgba, nfe = res.RGBA, res.Stats.NFE
			if res.OnGPU {
				where = s.Name()
			}
		}
		v.mu.Lock()
		v.pending, v.final, v.count = rgba, rgba, n
		v.busy, v.progress, v.edits = false, 1, v.edits+1
		v.show = viewGrid
		v.status = fmt.Sprintf("%d edits %s · %d NFE · seed %d · %.2f s on %s (E: edit one again)", n, what, nfe, set.Seed, time.Since(start).Seconds(), where)
		v.mu.Unlock()
	}()
}

// editRGBA shows the edited image, its pixels to fill tinted red.
func editRGBA(px, mask []float32, shape []int) []byte {
	n := shape[1] * shape[2]
	out := make([]byte, 4*n)
	for k := 0; k < n; k++ {
		for ch := 0; ch < 3; ch++ {
			out[4*k+ch] = byte(255*px[min(ch, shape[0]-1)*n+k] + 0.5)
		}
		if mask[k] == 1 {
			out[4*k] = 110
		}
		out[4*k+3] = 255
	}
	return out
}

// Layout keeps the logical size fixed; Ebiten scales it to the window.
func (v *viewer) Layout(int, int) (int, int) { return winW, winH }
