package gpu

import "github.com/cogentcore/webgpu/wgpu"

// The js binding has no device-lost callback and ignores the descriptor's
// limits; the browser's defaults are what this package is sized for.
func requestDevice(ad *wgpu.Adapter, d *Device) (*wgpu.Device, error) {
	return ad.RequestDevice(nil)
}

func adapterKind(wgpu.AdapterInfo) []string { return []string{"browser WebGPU"} }

// wait is a no-op: the browser offers no blocking wait; a readback is the
// only synchronisation, and the page's progress uses previews.
func (d *Device) wait() {}

func quiet() {}
