package runtime

import (
	goruntime "runtime"
	"syscall/js"
	"unsafe"
)

// The browser build's heavy ops run in the project's WebAssembly SIMD
// module (runtime/simd, built into lsgm-kernels.wasm) when the page's
// worker, or the Node runner of the tests, has instantiated it on this
// program's memory and set globalThis.lsgmKernels to its exports before
// starting Go. Without it they run in Go (gemm_js.go's multiply, ops.go's
// loops), and SIMDKernels says why.
var simd struct {
	conv, wsFloats, groupnorm, silu, sigmoid, add js.Value
	ok                                            bool
	why                                           string
	ws                                            []float32
}

func init() {
	k := js.Global().Get("lsgmKernels")
	if k.Type() != js.TypeObject {
		simd.why = "the WebAssembly SIMD kernels (lsgm-kernels.wasm) were not loaded, so the CPU path runs plain Go"
		return
	}
	fns := map[string]*js.Value{"conv2d": &simd.conv, "ws_floats": &simd.wsFloats, "groupnorm": &simd.groupnorm,
		"silu": &simd.silu, "sigmoid": &simd.sigmoid, "add": &simd.add}
	for name, f := range fns {
		if *f = k.Get(name); f.Type() != js.TypeFunction {
			simd.why = "lsgm-kernels.wasm has no " + name + " (an old build?), so the CPU path runs plain Go"
			return
		}
	}
	simd.ok = true
}

// SIMDKernels reports whether the CPU path runs in WebAssembly SIMD, and if
// not, why.
func SIMDKernels() (bool, string) { return simd.ok, simd.why }

// addr is a slice's address in the linear memory the kernels share (Go's
// WebAssembly pointers are offsets into it, and its collector does not
// move objects); the caller keeps the slice alive over the call.
func addr(s []float32) int {
	if len(s) == 0 {
		return 0
	}
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(s))))
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Each xSIMD runs its op in the module and reports true, or reports false
// when the module is absent or a slice is too short for the shapes (the
// kernels trust their arguments), so the Go path runs and reports misuse.

func convSIMD(y, x, w, b []float32, n, c, h, wd, o, k, stride, pad int, act bool) bool {
	if !simd.ok {
		return false
	}
	ho, wo := ConvOut(h, k, stride, pad), ConvOut(wd, k, stride, pad)
	if ho <= 0 || wo <= 0 || len(y) < n*o*ho*wo || len(x) < n*c*h*wd || len(w) < o*c*k*k || len(b) < o {
		return false
	}
	ws := grow(&simd.ws, simd.wsFloats.Invoke(n, c, h, wd, o, k, stride, pad).Int())
	simd.conv.Invoke(addr(y), addr(x), addr(w), addr(b), n, c, h, wd, o, k, stride, pad, flag(act), addr(ws))
	goruntime.KeepAlive(y)
	goruntime.KeepAlive(x)
	goruntime.KeepAlive(w)
	goruntime.KeepAlive(b)
	goruntime.KeepAlive(ws)
	return true
}

func groupNormSIMD(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32, act bool) bool {
	if !simd.ok || groups <= 0 || c%groups != 0 || len(y) < n*c*hw || len(x) < n*c*hw || len(gamma) < c || len(beta) < c {
		return false
	}
	simd.groupnorm.Invoke(addr(y), addr(x), addr(gamma), addr(beta), n, c, hw, groups, eps, flag(act))
	goruntime.KeepAlive(y)
	goruntime.KeepAlive(x)
	goruntime.KeepAlive(gamma)
	goruntime.KeepAlive(beta)
	return true
}

func siluSIMD(y, x []float32) bool { return unarySIMD(simd.silu, y, x) }

func sigmoidSIMD(y, x []float32) bool { return unarySIMD(simd.sigmoid, y, x) }

func unarySIMD(f js.Value, y, x []float32) bool {
	if !simd.ok || len(y) < len(x) {
		return false
	}
	f.Invoke(addr(y), addr(x), len(x))
	goruntime.KeepAlive(y)
	goruntime.KeepAlive(x)
	return true
}

func addSIMD(y, a, b []float32, n, size, bsize int) bool {
	if !simd.ok || bsize <= 0 || size%bsize != 0 || len(y) < n*size || len(a) < n*size || len(b) < n*bsize {
		return false
	}
	simd.add.Invoke(addr(y), addr(a), addr(b), n, size, bsize)
	goruntime.KeepAlive(y)
	goruntime.KeepAlive(a)
	goruntime.KeepAlive(b)
	return true
}
