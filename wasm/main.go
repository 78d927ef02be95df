//go:build js && wasm

// Command wasm is the sampler compiled for the browser (GOOS=js GOARCH=wasm).
// It runs inside a Web Worker (web/lsgm-worker.js), never on the page's main
// thread, and exposes one global object, lsgmGo, to that worker:
//
//	lsgmGo.load(bytes: Uint8Array, backend: "auto"|"gpu"|"cpu") -> Promise<info>
//	lsgmGo.loadClassifier(bytes: Uint8Array) -> Promise<{classes}>  // classifier guidance
//	lsgmGo.sample(opts, onProgress) -> Promise<result>
//	lsgmGo.cancel()   // the running sample rejects with "lsgm: cancelled"
//	lsgmGo.profile(batch) -> Promise<[{net, node, kernel, ms}]>  // WebGPU only
//
// The page talks to the worker through the ES module web/lsgm.js; see there
// for the public API. GPU work blocks its goroutine on the browser's promises,
// so every call runs in a goroutine of its own, never inside the js.FuncOf
// callback itself.
package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/backend"
	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sampler"
)

// state is the loaded model; the worker sends one call at a time, except
// cancel, which arrives while a sample runs (see yield).
var state struct {
	s        *backend.Sampler
	clf      *runtime.Classifier // classifier guidance's, when loaded
	fallback string              // why the CPU runs where the GPU was wanted
	stop     chan struct{}       // closed by cancel; nil between runs
}

// previewEvery spaces the CPU path's live previews: each costs a decoder
// pass, and a few a second make a smooth enough view.
const previewEvery = 250 * time.Millisecond

func main() {
	api := js.Global().Get("Object").New()
	api.Set("load", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeObject {
			return reject("lsgm: load needs the weights as a Uint8Array")
		}
		data := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(data, args[0])
		backend := "auto"
		if len(args) > 1 && args[1].Type() == js.TypeString {
			backend = args[1].String()
		}
		return promise(func() (any, error) { return load(data, backend) })
	}))
	api.Set("loadClassifier", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeObject {
			return reject("lsgm: loadClassifier needs the classifier file as a Uint8Array")
		}
		data := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(data, args[0])
		return promise(func() (any, error) { return loadClassifier(data) })
	}))
	api.Set("sample", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeObject {
			return reject("lsgm: sample needs an options object")
		}
		opts := args[0]
		var progress js.Value
		if len(args) > 1 && args[1].Type() == js.TypeFunction {
			progress = args[1]
		}
		return promise(func() (any, error) { return sample(opts, progress) })
	}))
	api.Set("profile", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeNumber {
			return reject("lsgm: profile needs a batch size")
		}
		n := args[0].Int()
		return promise(func() (any, error) { return profile(n) })
	}))
	api.Set("cancel", js.FuncOf(func(js.Value, []js.Value) any {
		// Close only: state.stop stays set until the cancelled run has
		// returned, so no new sample starts on the model meanwhile.
		if state.stop != nil && !runtime.Stopped(state.stop) {
			close(state.stop)
		}
		return nil
	}))
	js.Global().Set("lsgmGo", api)
	select {}
}

// promise runs fn in its own goroutine and settles a JS promise with its
// result; a panic becomes a rejection rather than a dead worker.
func promise(fn func() (any, error)) js.Value {
	var handler js.Func
	handler = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, rej := args[0], args[1]
		go func() {
			defer handler.Release()
			defer func() {
				if r := recover(); r != nil {
					rej.Invoke(js.Global().Get("Error").New(fmt.Sprint("lsgm: internal error: ", r)))
				}
			}()
			v, err := fn()
			if err != nil {
				rej.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(handler)
}

func reject(msg string) js.Value {
	return js.Global().Get("Promise").Call("reject", js.Global().Get("Error").New(msg))
}

func load(data []byte, kind string) (any, error) {
	if !slices.Contains(backend.Kinds, kind) {
		return nil, fmt.Errorf("lsgm: backend %q: want auto, gpu or cpu", kind)
	}
	if state.stop != nil {
		return nil, errors.New("lsgm: cannot load weights while a sample runs (cancel it first)")
	}
	m, err := runtime.Load(data)
	if err != nil {
		return nil, err
	}
	if state.s != nil {
		state.s.Close()
		state.s = nil
	}
	state.clf = nil // it belonged to the old model
	s, err := backend.Open(m, kind)
	if err != nil {
		return nil, err
	}
	s.PreviewEvery = previewEvery
	state.s, state.fallback = s, ""
	name := "cpu"
	if s.GPU != nil {
		name = "webgpu"
	} else if kind != "cpu" {
		state.fallback = "Sampling on the CPU in WebAssembly: " + s.Why + "."
	}
	a := &m.File.Arch
	p := m.File.Provenance
	simd, why := runtime.SIMDKernels()
	return map[string]any{
		"backend":     name,
		"fallback":    state.fallback,
		"simd":        simd,
		"simdNote":    why,
		"adapter":     s.Name(),
		"name":        a.Name,
		"bytes":       len(data),
		"parameters":  m.File.NumParams(),
		"shape":       []any{a.DataShape[0], a.DataShape[1], a.DataShape[2]},
		"samplers":    strs(sampler.Names),
		"gpuSamplers": strs(gpu.Samplers),
		"sampler":     a.Sampling.Sampler,
		"nfe":         a.Sampling.NFE,
		"dataset":     p.Dataset,
		"classes":     strs(a.Classes),
		"steps":       p.Steps,
	}, nil
}

// loadClassifier loads a noisy classifier of the loaded model's latents,
// for classifier guidance (guidance: "classifier").
func loadClassifier(data []byte) (any, error) {
	if state.s == nil {
		return nil, errors.New("lsgm: load a model before its classifier")
	}
	c, err := runtime.LoadClassifier(data)
	if err != nil {
		return nil, errors.New("lsgm: classifier: " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), "runtime: "), "weights: "))
	}
	if err := state.s.CPU.CheckGuide(&runtime.Guide{Classifier: c}); err != nil {
		return nil, errors.New("lsgm: classifier: " + strings.TrimPrefix(err.Error(), "runtime: "))
	}
	state.clf = c
	return map[string]any{"classes": strs(c.Names())}, nil
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// options reads a sample request from a JS object, with the model's
// defaults. Each message names the setting and the value as given.
func options(o js.Value) (runtime.Request, bool, *runtime.EditRequest, error) {
	d := state.s.CPU.File.Arch.Sampling
	req := runtime.Request{Sampler: sampler.Config{Name: d.Sampler, NFE: d.NFE, EndTime: d.EndTime}, Count: 16, Temperature: 1}
	// num reads a number in [lo, hi] (above lo when open), whole if asked.
	num := func(key, label string, dst *float64, lo, hi float64, open, whole bool) error {
		return editNum(o, key, label, dst, lo, hi, open, whole)
	}
	count, nfe, temp := float64(req.Count), float64(req.Sampler.NFE), req.Temperature
	if err := num("count", "count", &count, 1, runtime.MaxCount, false, true); err != nil {
		return req, false, nil, err
	}
	if err := num("nfe", "NFE", &nfe, 1, sampler.MaxNFE, false, true); err != nil {
		return req, false, nil, err
	}
	if err := num("temperature", "temperature", &temp, 0, 10, true, false); err != nil {
		return req, false, nil, err
	}
	req.Count, req.Temperature, req.Sampler.NFE = int(count), temp, int(nfe)
	if v := o.Get("sampler"); !v.IsUndefined() && !v.IsNull() {
		if v.Type() != js.TypeString || !slices.Contains(sampler.Names, v.String()) {
			return req, false, nil, fmt.Errorf("lsgm: unknown sampler %s (want one of %s)", jsText(v), strings.Join(sampler.Names, ", "))
		}
		if v.String() != d.Sampler {
			req.Sampler.EndTime = 0 // the model's end time belongs to its own sampler
		}
		req.Sampler.Name = v.String()
	}
	switch v := o.Get("seed"); v.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeNumber:
		f := v.Float()
		if f < 0 || f != math.Trunc(f) || f > 1<<53 || math.IsNaN(f) {
			return req, false, nil, fmt.Errorf("lsgm: seed %v must be a whole number in [0, 2^53] (or a decimal string up to 2^64-1)", f)
		}
		req.Seed = uint64(f)
	case js.TypeString:
		s, err := strconv.ParseUint(v.String(), 10, 64)
		if err != nil {
			return req, false, nil, fmt.Errorf("lsgm: seed %q is not a whole number in [0, 2^64-1]", v.String())
		}
		req.Seed = s
	default:
		return req, false, nil, fmt.Errorf("lsgm: seed must be a number or a decimal string, got %s", v.Type())
	}
	// class (a name or an index) and guidanceScale: classifier-free
	// guidance, or with guidance "classifier" (the default for a model
	// without classes when a classifier is loaded) classifier guidance.
	useClf := state.clf != nil && len(state.s.CPU.Classes()) == 0
	switch v := o.Get("guidance"); v.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeString:
		switch v.String() {
		case "cfg":
			useClf = false
		case "classifier":
			if state.clf == nil {
				return req, false, nil, errors.New("lsgm: classifier guidance needs a classifier: load one with Sampler.load({classifier: URL})")
			}
			useClf = true
		default:
			return req, false, nil, fmt.Errorf("lsgm: guidance %s: want cfg or classifier", jsText(v))
		}
	default:
		return req, false, nil, fmt.Errorf("lsgm: guidance must be \"cfg\" or \"classifier\", got %s", v.Type())
	}
	switch v := o.Get("class"); v.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeString, js.TypeNumber:
		if v.Type() == js.TypeString && v.String() == "" {
			break
		}
		index := state.s.CPU.ClassIndex
		if useClf {
			index = state.clf.ClassIndex
		}
		c, err := index(js.Global().Get("String").Invoke(v).String())
		if err != nil {
			return req, false, nil, errors.New("lsgm: " + strings.TrimPrefix(err.Error(), "runtime: "))
		}
		scale := 1.0
		if err := num("guidanceScale", "guidance scale", &scale, 0, runtime.MaxGuidance, false, false); err != nil {
			return req, false, nil, err
		}
		req.Guide = &runtime.Guide{Class: c, Scale: scale}
		if useClf {
			req.Guide.Classifier = state.clf
		}
	default:
		return req, false, nil, fmt.Errorf("lsgm: class must be a class name or index, got %s", v.Type())
	}
	if g := o.Get("guidanceScale"); req.Guide == nil && !g.IsUndefined() && !g.IsNull() {
		return req, false, nil, errors.New("lsgm: a guidance scale needs a class to guide towards")
	}
	preview := true
	if v := o.Get("preview"); v.Type() == js.TypeBoolean {
		preview = v.Bool()
	}
	e := o.Get("edit")
	if e.IsUndefined() || e.IsNull() {
		return req, preview, nil, nil
	}
	if m := e.Get("mask"); !m.IsUndefined() && !m.IsNull() { // inpainting runs ddpm (or ddim)
		if o.Get("sampler").IsUndefined() {
			req.Sampler = sampler.Config{Name: "ddpm", NFE: req.Sampler.NFE}
		}
		if o.Get("nfe").IsUndefined() {
			req.Sampler.NFE = 20
		}
	}
	edit, err := editOptions(e, req)
	return req, preview, edit, err
}

// editOptions reads the edit option: {guide, strength} for SDEdit, {guide,
// mask, jumps} for inpainting. guide is one image as bytes, width x height
// grey values or RGBA (an ImageData's data; grey for a grey model); mask
// has width x height bytes, non-zero where the guide is to be filled. The
// request's count edits of the guide are made, with its sampler and seed
// (inpainting: ddpm, 20 steps of 5 jumps, unless asked otherwise).
func editOptions(e js.Value, req runtime.Request) (*runtime.EditRequest, error) {
	if e.Type() != js.TypeObject {
		return nil, fmt.Errorf("lsgm: edit must be an object {guide, strength} or {guide, mask}, got %s", e.Type())
	}
	shape := state.s.CPU.DataShape()
	c, h, w := shape[0], shape[1], shape[2]
	bytes := func(key string) ([]byte, error) {
		v := e.Get(key)
		if v.IsUndefined() || v.IsNull() {
			return nil, nil
		}
		if v.Type() != js.TypeObject || !(v.InstanceOf(js.Global().Get("Uint8Array")) || v.InstanceOf(js.Global().Get("Uint8ClampedArray"))) {
			return nil, fmt.Errorf("lsgm: edit.%s must be a Uint8Array or Uint8ClampedArray", key)
		}
		b := make([]byte, v.Get("length").Int())
		js.CopyBytesToGo(b, v)
		return b, nil
	}
	g, err := bytes("guide")
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, errors.New("lsgm: edit.guide is missing: the image to edit")
	}
	px := h * w
	guide := make([]float32, c*px)
	switch {
	case len(g) == c*px:
		for i, b := range g {
			guide[i] = float32(b) / 255
		}
	case len(g) == 4*px:
		for i := 0; i < px; i++ {
			r, gg, b := g[4*i], g[4*i+1], g[4*i+2]
			if c == 1 {
				if r != gg || gg != b {
					return nil, fmt.Errorf("lsgm: edit.guide has colour at pixel (%d, %d); the model takes grey images", i%w, i/w)
				}
				guide[i] = float32(r) / 255
				continue
			}
			for k, v := range []byte{r, gg, b} {
				guide[k*px+i] = float32(v) / 255
			}
		}
	default:
		return nil, fmt.Errorf("lsgm: edit.guide has %d bytes; the model takes %dx%d images: %d grey values or %d RGBA bytes", len(g), w, h, c*px, 4*px)
	}
	r := &runtime.EditRequest{Sampler: req.Sampler, Count: req.Count, Seed: req.Seed, Guide: req.Guide}
	for range req.Count {
		r.Guides = append(r.Guides, guide...)
	}
	m, err := bytes("mask")
	if err != nil {
		return nil, err
	}
	if m == nil {
		strength := 0.0
		if v := e.Get("strength"); v.IsUndefined() || v.IsNull() {
			return nil, errors.New("lsgm: edit.strength is missing: SDEdit's strength in (0, 1] (or give a mask to inpaint)")
		}
		if err := editNum(e, "strength", "edit strength", &strength, 0, 1, true, false); err != nil {
			return nil, err
		}
		r.Strength = strength
		return r, nil
	}
	if len(m) != px {
		return nil, fmt.Errorf("lsgm: edit.mask has %d bytes; the model's images have %dx%d = %d pixels", len(m), w, h, px)
	}
	mask := make([]float32, px)
	for i, b := range m {
		if b != 0 {
			mask[i] = 1
		}
	}
	for range req.Count {
		r.Mask = append(r.Mask, mask...)
	}
	jumps := 5.0
	if err := editNum(e, "jumps", "edit jumps", &jumps, 1, sampler.MaxJumps, false, true); err != nil {
		return nil, err
	}
	r.Jumps = int(jumps)
	if v := e.Get("strength"); !v.IsUndefined() && !v.IsNull() {
		return nil, errors.New("lsgm: edit.strength is SDEdit's: inpainting (a mask) starts from noise")
	}
	return r, nil
}

// editNum reads the number o[key] in [lo, hi] (above lo when open), whole
// if asked; an absent one leaves dst as it is. Messages name the setting
// and the value as given.
func editNum(o js.Value, key, label string, dst *float64, lo, hi float64, open, whole bool) error {
	v := o.Get(key)
	if v.IsUndefined() || v.IsNull() {
		return nil
	}
	if v.Type() != js.TypeNumber {
		return fmt.Errorf("lsgm: %s must be a number, got %s %s", label, v.Type(), jsText(v))
	}
	f := v.Float()
	if math.IsNaN(f) {
		return fmt.Errorf("lsgm: %s must be a number, got NaN", label)
	}
	if whole && f != math.Trunc(f) {
		return fmt.Errorf("lsgm: %s %s must be a whole number", label, jsText(v))
	}
	if f < lo || open && f == lo || f > hi {
		l := "["
		if open {
			l = "("
		}
		return fmt.Errorf("lsgm: %s %s out of range %s%v, %v]", label, jsText(v), l, lo, hi)
	}
	*dst = f
	return nil
}

// jsText shows a JS value as a message quotes it: strings quoted, others as
// JavaScript prints them.
func jsText(v js.Value) string {
	if v.Type() == js.TypeString {
		return strconv.Quote(v.String())
	}
	return js.Global().Get("String").Invoke(v).String()
}

// yield lets the worker's event loop run (a cancel message, the page's
// progress messages) between CPU steps: Go's wasm build is one thread, and
// it returns to JavaScript only when every goroutine is blocked. It goes
// through a MessageChannel: setTimeout(0) from inside a timer's callback
// is clamped to 4 ms after five levels, which at batch 1 doubled a step.
func yield() {
	ch := make(chan struct{})
	yielder.wake = ch
	yielder.port.Call("postMessage", 0)
	<-ch
}

var yielder struct {
	port js.Value
	wake chan struct{}
}

func init() {
	mc := js.Global().Get("MessageChannel").New()
	mc.Get("port1").Set("onmessage", js.FuncOf(func(js.Value, []js.Value) any {
		if yielder.wake != nil {
			close(yielder.wake)
			yielder.wake = nil
		}
		return nil
	}))
	yielder.port = mc.Get("port2")
}

// profile times each WebGPU launch of the loaded model alone at batch n
// (gpu.Model.Profile), for the benchmark page.
func profile(n int) (any, error) {
	switch {
	case state.s == nil:
		return nil, errors.New("lsgm: no model loaded (call load first)")
	case state.s.GPU == nil:
		return nil, errors.New("lsgm: per-kernel times need the WebGPU backend; this sampler runs on the CPU")
	case state.stop != nil:
		return nil, errors.New("lsgm: a sample is running on this sampler (cancel it, or wait)")
	case n < 1 || n > runtime.MaxCount:
		return nil, fmt.Errorf("lsgm: profile batch %d out of range [1, %d]", n, runtime.MaxCount)
	}
	ks, err := state.s.GPU.Profile(n, 3)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = map[string]any{"net": k.Net, "node": k.Node, "kernel": k.Kernel, "ms": k.MS}
	}
	return out, nil
}

func sample(o js.Value, progress js.Value) (any, error) {
	if state.s == nil {
		return nil, errors.New("lsgm: no model loaded (call load first)")
	}
	if state.stop != nil {
		return nil, errors.New("lsgm: a sample is already running on this sampler (cancel it, or wait)")
	}
	req, preview, edit, err := options(o)
	if err != nil {
		return nil, err
	}
	if edit != nil && edit.Mask != nil {
		return inpaint(edit, progress)
	}
	if edit != nil { // SDEdit: a sampling request from the diffused guide, on any backend
		if req, err = state.s.CPU.SDEditRequest(*edit); err != nil {
			return nil, errors.New("lsgm: " + strings.TrimPrefix(err.Error(), "runtime: "))
		}
	}
	shape := state.s.CPU.DataShape()
	stop := make(chan struct{})
	state.stop, req.Stop = stop, stop
	defer func() {
		if state.stop == stop {
			state.stop = nil
		}
	}()
	start := time.Now()
	last := start
	// The GPU path returns to the event loop at each step's wait anyway;
	// an extra yield there broke its uniform uploads in Chromium (a
	// writeBuffer "too large"), so only the CPU path yields.
	cpu := !state.s.OnGPU(req)
	var cb func(backend.Progress)
	if !progress.IsUndefined() {
		cb = func(p backend.Progress) {
			now := time.Now()
			v := map[string]any{"step": p.I, "steps": p.N, "t": p.T, "done": p.Done, "ms": float64(now.Sub(last).Microseconds()) / 1e3}
			if p.Preview != nil {
				v["preview"] = bytesJS(p.Preview)
			}
			progress.Invoke(v)
			if cpu {
				yield()
			}
			last = time.Now() // a step's time, not the page's
		}
	}
	res, err := state.s.Sample(req, preview, cb)
	if errors.Is(err, runtime.ErrCancelled) {
		return nil, errors.New("lsgm: cancelled")
	}
	if err != nil {
		return nil, err
	}
	name, note := "cpu", state.fallback
	simd, _ := runtime.SIMDKernels()
	if res.OnGPU {
		simd = false
		name = "webgpu"
	} else if res.Note != "" {
		note = res.Note + " in WebAssembly."
	}
	out := map[string]any{
		"rgba":     bytesJS(res.RGBA),
		"count":    req.Count,
		"width":    shape[2],
		"height":   shape[1],
		"nfe":      res.Stats.NFE,
		"steps":    res.Stats.Steps,
		"sampler":  req.Sampler.Defaults(state.s.CPU.SDE).Name,
		"seed":     strconv.FormatUint(req.Seed, 10),
		"ms":       float64(time.Since(start).Microseconds()) / 1e3,
		"backend":  name,
		"fallback": note,
		"simd":     simd,
	}
	if g := req.Guide; g != nil && g.Classifier != nil {
		out["class"], out["guidanceScale"], out["guidance"] = g.Classifier.Names()[g.Class], g.Scale, "classifier"
	} else if g != nil {
		out["class"], out["guidanceScale"], out["guidance"] = state.s.CPU.Classes()[g.Class], g.Scale, "cfg"
	}
	return out, nil
}

// inpaint runs an inpainting edit on the CPU (its projection decodes and
// encodes each step, which the GPU path does not do).
func inpaint(edit *runtime.EditRequest, progress js.Value) (any, error) {
	stop := make(chan struct{})
	state.stop, edit.Stop = stop, stop
	defer func() {
		if state.stop == stop {
			state.stop = nil
		}
	}()
	start := time.Now()
	last := start
	var cb sampler.Callback
	if !progress.IsUndefined() {
		cb = func(st sampler.Step) {
			now := time.Now()
			progress.Invoke(map[string]any{"step": st.I, "steps": st.N, "t": st.T, "done": float64(st.I) / float64(st.N), "ms": float64(now.Sub(last).Microseconds()) / 1e3})
			yield()
			last = time.Now()
		}
	}
	m := state.s.CPU
	res, err := m.Edit(*edit, cb)
	if errors.Is(err, runtime.ErrCancelled) {
		return nil, errors.New("lsgm: cancelled")
	}
	if err != nil {
		return nil, errors.New("lsgm: " + strings.TrimPrefix(err.Error(), "runtime: "))
	}
	shape := m.DataShape()
	simd, _ := runtime.SIMDKernels()
	note := ""
	if state.s.GPU != nil {
		note = "Inpainting runs on the CPU in WebAssembly (each step decodes and encodes)."
	}
	return map[string]any{
		"rgba":       bytesJS(runtime.RGBA8(res.Images, edit.Count, shape)),
		"count":      edit.Count,
		"width":      shape[2],
		"height":     shape[1],
		"nfe":        res.Stats.NFE,
		"steps":      res.Stats.Steps,
		"sampler":    edit.Sampler.Defaults(m.SDE).Name,
		"seed":       strconv.FormatUint(edit.Seed, 10),
		"ms":         float64(time.Since(start).Microseconds()) / 1e3,
		"backend":    "cpu",
		"fallback":   note,
		"simd":       simd,
		"knownError": res.KnownError,
	}, nil
}

func bytesJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}
