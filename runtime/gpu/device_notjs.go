//go:build !js

package gpu

import (
	"os"
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

// noAdapterHint follows "no WebGPU adapter was offered" natively.
const noAdapterHint = " (is a Vulkan driver and loader installed? on Debian: mesa-vulkan-drivers libvulkan1, or the GPU vendor's driver)"

// adapterInfo reads the adapter's description; a CPU-type adapter is software.
func adapterInfo(ad *wgpu.Adapter, _ *wgpu.RequestAdapterOptions) (wgpu.AdapterInfo, bool) {
	i := ad.GetInfo()
	return i, i.AdapterType == wgpu.AdapterTypeCPU
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
// Without a session (no XDG_RUNTIME_DIR, no WAYLAND_DISPLAY, as on a server
// or in CI) Vulkan drivers probing for Wayland make libwayland print "error:
// XDG_RUNTIME_DIR is invalid or not set" a few times; the probe cannot
// succeed there, so an absolute WAYLAND_DISPLAY that names nothing lets it
// fail silently. A desktop session, which sets either, is left alone.
func quiet() {
	wgpu.SetLogLevel(wgpu.LogLevelError)
	if os.Getenv("XDG_RUNTIME_DIR") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		os.Setenv("WAYLAND_DISPLAY", "/nonexistent/lsgm-no-wayland-session")
	}
}

// writeBuffer is Queue.WriteBuffer (device_js.go's copies data first).
func writeBuffer(q *wgpu.Queue, b *wgpu.Buffer, off uint64, data []byte) error {
	return q.WriteBuffer(b, off, data)
}
