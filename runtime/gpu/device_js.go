package gpu

import "github.com/cogentcore/webgpu/wgpu"

// The js binding has no device-lost callback and ignores the descriptor's
// limits; the browser's defaults are what this package is sized for.
func requestDevice(ad *wgpu.Adapter, d *Device) (*wgpu.Device, error) {
	return ad.RequestDevice(nil)
}

func backendName(wgpu.BackendType) string { return "browser WebGPU" }
