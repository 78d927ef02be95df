package gpu

import (
	"reflect"
	"syscall/js"
	"unsafe"

	"github.com/cogentcore/webgpu/jsx"
	"github.com/cogentcore/webgpu/wgpu"
)

// noAdapterHint follows "no WebGPU adapter was offered" in a browser.
const noAdapterHint = " (WebGPU may be turned off, or the GPU blocklisted, in this browser)"

// adapterInfo asks the browser for the adapter's description: the js binding
// leaves GetInfo empty. requestAdapter with the same options names the same
// adapter. isFallbackAdapter sits on GPUAdapterInfo in current browsers and
// on the adapter itself in older ones; SwiftShader sets it.
func adapterInfo(_ *wgpu.Adapter, o *wgpu.RequestAdapterOptions) (wgpu.AdapterInfo, bool) {
	gpu := js.Global().Get("navigator").Get("gpu")
	if !gpu.Truthy() {
		return wgpu.AdapterInfo{}, false
	}
	opts := map[string]any{"powerPreference": "high-performance", "forceFallbackAdapter": o.ForceFallbackAdapter}
	ad, ok := jsx.Await(gpu.Call("requestAdapter", opts))
	if !ok || !ad.Truthy() {
		return wgpu.AdapterInfo{}, false
	}
	str := func(v js.Value, key string) string {
		if f := v.Get(key); f.Type() == js.TypeString {
			return f.String()
		}
		return ""
	}
	info := ad.Get("info")
	if !info.Truthy() {
		info = js.ValueOf(map[string]any{})
	}
	i := wgpu.AdapterInfo{Name: str(info, "device"), DriverDescription: str(info, "description"),
		VendorName: str(info, "vendor"), Architecture: str(info, "architecture")}
	soft := info.Get("isFallbackAdapter").Truthy() || ad.Get("isFallbackAdapter").Truthy() ||
		i.Architecture == "swiftshader" || i.VendorName == "swiftshader"
	return i, soft
}

// The js binding has no device-lost callback and ignores the descriptor's
// limits; the browser's defaults are what this package is sized for.
func requestDevice(ad *wgpu.Adapter, d *Device) (*wgpu.Device, error) {
	return ad.RequestDevice(nil)
}

func adapterKind(wgpu.AdapterInfo) []string { return []string{"browser WebGPU"} }

// wait blocks this goroutine on the queue's onSubmittedWorkDone promise (so
// it must not run inside a js.FuncOf callback).
func (d *Device) wait() { d.queue.OnSubmittedWorkDone(func(wgpu.QueueWorkDoneStatus) {}) }

func quiet() {}

// writeBuffer is Queue.WriteBuffer from a copy of data in JS memory. The
// js binding hands writeBuffer a view of the WebAssembly memory, then makes
// Go calls (which allocate) before the browser reads it; when one of them
// grows the memory, the view's buffer is detached and Chromium throws
// "Number of bytes to write is too large" (TestBrowserClassifierGuidance
// hit it on a loaded machine). A copy cannot be detached.
func writeBuffer(q *wgpu.Queue, b *wgpu.Buffer, off uint64, data []byte) error {
	qv, ok1 := jsValueOf(q)
	bv, ok2 := jsValueOf(b)
	if !ok1 || !ok2 { // a binding without the field: its own path
		return q.WriteBuffer(b, off, data)
	}
	if len(data) == 0 {
		return nil
	}
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	qv.Call("writeBuffer", bv, off, arr)
	return nil
}

// jsValueOf reads the JS object behind a binding type (its unexported
// jsValue field, which the binding offers no accessor for).
func jsValueOf[T any](p *T) (js.Value, bool) {
	f := reflect.ValueOf(p).Elem().FieldByName("jsValue")
	if !f.IsValid() || f.Type() != reflect.TypeOf(js.Value{}) {
		return js.Value{}, false
	}
	return *(*js.Value)(unsafe.Pointer(f.UnsafeAddr())), true
}
