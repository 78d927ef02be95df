//go:build js && wasm

// Command wasm is the sampler compiled for the browser (GOOS=js GOARCH=wasm).
// It runs inside a Web Worker (web/lsgm-worker.js), never on the page's main
// thread, and exposes one global object, lsgmGo, to that worker:
//
//	lsgmGo.load(bytes: Uint8Array, backend: "auto"|"gpu"|"cpu") -> Promise<info>
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
	fallback string        // why the CPU runs where the GPU was wanted
	stop     chan struct{} // closed by cancel; nil between runs
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

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// options reads a sample request from a JS object, with the model's
// defaults. Each message names the setting and the value as given.
func options(o js.Value) (runtime.Request, bool, error) {
	d := state.s.CPU.File.Arch.Sampling
	req := runtime.Request{Sampler: sampler.Config{Name: d.Sampler, NFE: d.NFE, EndTime: d.EndTime}, Count: 16, Temperature: 1}
	// num reads a number in [lo, hi] (above lo when open), whole if asked.
	num := func(key, label string, dst *float64, lo, hi float64, open, whole bool) error {
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
	count, nfe, temp := float64(req.Count), float64(req.Sampler.NFE), req.Temperature
	if err := num("count", "count", &count, 1, runtime.MaxCount, false, true); err != nil {
		return req, false, err
	}
	if err := num("nfe", "NFE", &nfe, 1, sampler.MaxNFE, false, true); err != nil {
		return req, false, err
	}
	if err := num("temperature", "temperature", &temp, 0, 10, true, false); err != nil {
		return req, false, err
	}
	req.Count, req.Temperature, req.Sampler.NFE = int(count), temp, int(nfe)
	if v := o.Get("sampler"); !v.IsUndefined() && !v.IsNull() {
		if v.Type() != js.TypeString || !slices.Contains(sampler.Names, v.String()) {
			return req, false, fmt.Errorf("lsgm: unknown sampler %s (want one of %s)", jsText(v), strings.Join(sampler.Names, ", "))
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
			return req, false, fmt.Errorf("lsgm: seed %v must be a whole number in [0, 2^53] (or a decimal string up to 2^64-1)", f)
		}
		req.Seed = uint64(f)
	case js.TypeString:
		s, err := strconv.ParseUint(v.String(), 10, 64)
		if err != nil {
			return req, false, fmt.Errorf("lsgm: seed %q is not a whole number in [0, 2^64-1]", v.String())
		}
		req.Seed = s
	default:
		return req, false, fmt.Errorf("lsgm: seed must be a number or a decimal string, got %s", v.Type())
	}
	// class (a name or an index) and guidanceScale: classifier-free guidance.
	switch v := o.Get("class"); v.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeString, js.TypeNumber:
		if v.Type() == js.TypeString && v.String() == "" {
			break
		}
		c, err := state.s.CPU.ClassIndex(js.Global().Get("String").Invoke(v).String())
		if err != nil {
			return req, false, errors.New("lsgm: " + strings.TrimPrefix(err.Error(), "runtime: "))
		}
		scale := 1.0
		if err := num("guidanceScale", "guidance scale", &scale, 0, runtime.MaxGuidance, false, false); err != nil {
			return req, false, err
		}
		req.Guide = &runtime.Guide{Class: c, Scale: scale}
	default:
		return req, false, fmt.Errorf("lsgm: class must be a class name or index, got %s", v.Type())
	}
	if g := o.Get("guidanceScale"); req.Guide == nil && !g.IsUndefined() && !g.IsNull() {
		return req, false, errors.New("lsgm: a guidance scale needs a class to guide towards")
	}
	preview := true
	if v := o.Get("preview"); v.Type() == js.TypeBoolean {
		preview = v.Bool()
	}
	return req, preview, nil
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
	req, preview, err := options(o)
	if err != nil {
		return nil, err
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
	if g := req.Guide; g != nil {
		out["class"], out["guidanceScale"] = state.s.CPU.Classes()[g.Class], g.Scale
	}
	return out, nil
}

func bytesJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}
