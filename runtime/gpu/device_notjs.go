//go:build !js

package gpu

import "github.com/cogentcore/webgpu/wgpu"

// The binding's device-lost callback passes a Go pointer to C (cgo rejects
// it), so loss is detected through the errors of later calls instead.
func requestDevice(ad *wgpu.Adapter, d *Device) (*wgpu.Device, error) {
	wgpu.SetLogLevel(wgpu.LogLevelError)
	return ad.RequestDevice(&wgpu.DeviceDescriptor{Label: "lsgm"})
}

func backendName(b wgpu.BackendType) string { return b.String() }
