package gpu

import (
	"syscall/js"

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
