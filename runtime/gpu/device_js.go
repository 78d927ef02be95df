package gpu

import "github.com/cogentcore/webgpu/wgpu"

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
