//go:build !js

package gpu

import (
	"time"

	"github.com/cogentcore/webgpu/wgpu"
)

// The binding's device-lost callback passes a Go pointer to C (cgo rejects
// it), so loss is detected through the errors of later calls instead.
func requestDevice(ad *wgpu.Adapter, d *Device) (*wgpu.Device, error) {
	return ad.RequestDevice(&wgpu.DeviceDescriptor{Label: "lsgm"})
}

// adapterKind names the adapter type (cpu, discrete GPU) and the native API.
func adapterKind(i wgpu.AdapterInfo) []string {
	return []string{i.AdapterType.String(), i.BackendType.String()}
}

// wait blocks until the submitted work is done. It polls without blocking:
// wgpu-native's blocking poll gives up after 5 s (wgpu-core's
// CLEANUP_WAIT_MS) with a fatal error, and a big batch on a software adapter
// takes longer than that.
func (d *Device) wait() {
	done := false
	d.queue.OnSubmittedWorkDone(func(wgpu.QueueWorkDoneStatus) { done = true })
	poll(d, &done)
}

// poll drives wgpu's callbacks until *done, sleeping a little between polls.
func poll(d *Device, done *bool) {
	for pause := 50 * time.Microsecond; !*done; pause = min(2*pause, 5*time.Millisecond) {
		d.dev.Poll(false, nil)
		if !*done {
			time.Sleep(pause)
		}
	}
}

// quiet keeps wgpu-native's warnings (no window system, no config) off stderr.
func quiet() { wgpu.SetLogLevel(wgpu.LogLevelError) }
