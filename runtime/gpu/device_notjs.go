//go:build !js

package gpu

import (
	"runtime/debug"
	"sync"
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
	defer holdGC()()
	done := false
	d.queue.OnSubmittedWorkDone(func(wgpu.QueueWorkDoneStatus) { done = true })
	poll(d, &done)
}

// gcHold counts the callbacks in flight; see holdGC.
var gcHold struct {
	sync.Mutex
	n, percent int
}

// holdGC stops the garbage collector until the returned function is called.
// The binding hands wgpu-native the address of a Go variable holding the
// callback's cgo.Handle (MapAsync, OnSubmittedWorkDone) and keeps nothing
// else pointing at it: a collection before the callback fires can free and
// reuse that word, and the callback then panics with "misuse of an invalid
// Handle" (seen in the window tests, about one run in five). Polls last
// milliseconds, so the heap grows little meanwhile.
func holdGC() (release func()) {
	gcHold.Lock()
	if gcHold.n == 0 {
		gcHold.percent = debug.SetGCPercent(-1)
	}
	gcHold.n++
	gcHold.Unlock()
	return func() {
		gcHold.Lock()
		if gcHold.n--; gcHold.n == 0 {
			debug.SetGCPercent(gcHold.percent)
		}
		gcHold.Unlock()
	}
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
