//go:build !js

package gpu

import "github.com/cogentcore/webgpu/wgpu"

// The binding's device-lost callback passes a Go pointer to C (cgo rejects
// it), so loss is detected through the errors of later calls instead.
func requestDevice(ad *wgpu.Adapter, d *Device) (*wgpu.Device, error) {
	return ad.RequestDevice(&wgpu.DeviceDescriptor{Label: "lsgm"})
}

// adapterKind names the adapter type (cpu, discrete GPU) and the native API.
func adapterKind(i wgpu.AdapterInfo) []string {
	return []string{i.AdapterType.String(), i.BackendType.String()}
}

// wait blocks until the submitted work is done.
func (d *Device) wait() { d.dev.Poll(true, nil) }

// quiet keeps wgpu-native's warnings (no window system, no config) off stderr.
func quiet() { wgpu.SetLogLevel(wgpu.LogLevelError) }
