// Package gpu is the WebGPU backend of the runtime: the sampler loop, the score
// network, the noise and the decoder run as WGSL compute shaders (package
// shaders) through github.com/cogentcore/webgpu, natively on wgpu-native
// (Vulkan, Metal, D3D12) and in a browser (GOOS=js). The compute code is the
// same for both builds; only what the two bindings do differently lives in
// _js.go files.
//
// Weights are uploaded once and stay on the GPU. A sampling run records every
// network evaluation, solver update and noise draw into one command buffer and
// reads back only the final RGBA8 images (and, with a progress callback, a
// preview per step). Everything is sized to WebGPU's default limits, so any
// browser's adapter will do.
package gpu

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/cogentcore/webgpu/wgpu"
	"github.com/lsgm-go/lsgm/shaders"
)

// ErrNoAdapter is wrapped by Open's error when the system offers no WebGPU
// adapter; callers fall back to the CPU path.
var ErrNoAdapter = errors.New("gpu: no WebGPU adapter")

// ErrDeviceLost is wrapped by errors after the device was lost.
var ErrDeviceLost = errors.New("gpu: device lost")

// Device is an open WebGPU device with its compiled kernels.
type Device struct {
	inst    *wgpu.Instance
	adapter *wgpu.Adapter
	dev     *wgpu.Device
	queue   *wgpu.Queue
	info    wgpu.AdapterInfo
	limits  wgpu.Limits
	// software: the adapter renders on the CPU (lavapipe, llvmpipe,
	// SwiftShader, WARP), slower here than the runtime's own CPU path.
	software bool

	mu      sync.Mutex
	kernels map[string]*kernel
	lost    string
	dummy   *wgpu.Buffer // bound to unused kernel inputs
}

// OpenOptions select the adapter.
type OpenOptions struct {
	// Fallback asks for the software adapter (lavapipe, SwiftShader).
	Fallback bool
}

// Open requests an adapter and a device with WebGPU's default limits.
func Open(o OpenOptions) (*Device, error) {
	quiet()
	inst := wgpu.CreateInstance(nil)
	if inst == nil { // the js binding's answer where navigator.gpu is missing
		return nil, fmt.Errorf("%w: this browser does not offer WebGPU (navigator.gpu is missing)", ErrNoAdapter)
	}
	opts := &wgpu.RequestAdapterOptions{
		PowerPreference:      wgpu.PowerPreferenceHighPerformance,
		ForceFallbackAdapter: o.Fallback,
	}
	ad, err := inst.RequestAdapter(opts)
	if err != nil || ad == nil {
		// The bindings' own texts ("no WebGPU adapter avaliable") add nothing.
		inst.Release()
		return nil, fmt.Errorf("%w was offered%s", ErrNoAdapter, noAdapterHint)
	}
	d := &Device{inst: inst, adapter: ad, kernels: map[string]*kernel{}}
	d.info, d.software = adapterInfo(ad, opts)
	dev, err := requestDevice(ad, d)
	if err != nil {
		ad.Release()
		inst.Release()
		return nil, fmt.Errorf("gpu: requesting a device from %s: %w", d.info.Name, err)
	}
	d.dev = dev
	d.queue = dev.GetQueue()
	d.limits = dev.GetLimits().Limits
	if d.dummy, err = d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: 16, Usage: wgpu.BufferUsageStorage}); err != nil {
		d.Close()
		return nil, fmt.Errorf("gpu: %w", err)
	}
	return d, nil
}

func (d *Device) onLost(reason wgpu.DeviceLostReason, msg string) {
	d.mu.Lock()
	d.lost = fmt.Sprintf("%v: %s", reason, msg)
	d.mu.Unlock()
}

// check returns ErrDeviceLost (with the driver's reason) once the device is gone.
func (d *Device) check() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost != "" {
		return fmt.Errorf("%w (%s)", ErrDeviceLost, d.lost)
	}
	return nil
}

// Name describes the adapter, e.g. "llvmpipe (LLVM 15.0.6, 256 bits), cpu,
// vulkan". The native binding (wgpu-native v22) fills Name and VendorName with
// hex ids and puts the device's name in DriverDescription, so ids are skipped.
func (d *Device) Name() string {
	var parts []string
	for _, s := range []string{d.info.Name, d.info.DriverDescription, d.info.VendorName, d.info.Architecture} {
		s = strings.TrimSpace(s)
		if s != "" && !strings.HasPrefix(s, "0x") && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "WebGPU adapter")
	}
	parts = append(parts, adapterKind(d.info)...)
	return strings.Join(parts, ", ")
}

// Software says whether the adapter is a software renderer: natively one
// whose type is CPU (Mesa's lavapipe), in a browser a fallback adapter
// (Chromium's SwiftShader). Such adapters run every kernel on the CPU's cores
// through an emulation layer and are slower than the plain CPU path, so
// callers choosing automatically should not pick them.
func (d *Device) Software() bool { return d.software }

// Close releases the device; buffers and models made on it must not be used after.
func (d *Device) Close() {
	if d == nil {
		return
	}
	for _, k := range d.kernels {
		k.release()
	}
	d.kernels = nil
	if d.dummy != nil {
		d.dummy.Release()
	}
	if d.queue != nil {
		d.queue.Release()
	}
	if d.dev != nil {
		d.dev.Release()
	}
	d.adapter.Release()
	d.inst.Release()
}

// binding kinds of a kernel's bind group layout.
type bkind int

const (
	bUniform    bkind = iota // static parameters
	bDynUniform              // parameters at a dynamic offset (they change per step)
	bRead                    // read-only storage
	bWrite                   // read-write storage
)

type bslot struct {
	at   uint32
	kind bkind
}

// kernelSpecs describes every kernel: the shader file, its entry point and the
// bindings it uses, so layouts are explicit (the js binding cannot derive them).
var kernelSpecs = map[string]struct {
	file, entry string
	binds       []bslot
}{
	"matmul":    {"matmul", "main", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"conv2d":    {"conv2d", "main", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"conv2d4":   {"conv2d", "narrow", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"conv2d16":  {"conv2d", "half", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"groupnorm": {"groupnorm", "main", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"upsample":  {"upsample", "main", slots(bUniform, bRead, bWrite)},
	"unary":     {"unary", "main", slots(bUniform, bRead, bWrite)},
	"add":       {"add", "main", slots(bUniform, bRead, bRead, bWrite)},
	"concat":    {"concat", "main", slots(bUniform, bRead, bWrite)},
	"timeembed": {"timeembed", "main", slots(bUniform, bRead, bWrite)},
	"rgba":      {"rgba", "main", slots(bUniform, bRead, bWrite)},
	"fill":      {"fill", "main", slots(bDynUniform, bWrite)},
	"lincomb":   {"lincomb", "main", slots(bDynUniform, bRead, bRead, bRead, bRead, bWrite)},
	"mixed":     {"mixed", "main", slots(bDynUniform, bRead, bRead, bWrite)},
	"cfg":       {"cfg", "main", slots(bDynUniform, bRead, bWrite)},
	"normals":   {"philox", "normals", slots(bDynUniform, bWrite)},
	// The same draw with fixed parameters, for a Program (trainer noise).
	"normals_static": {"philox", "normals", slots(bUniform, bWrite)},
	"images":         {"images", "main", slots(bUniform, bRead, bRead, bWrite)},
	"times":          {"times", "main", slots(bUniform, bRead, bWrite)},
	// The training ops (Program).
	"map":            {"map", "main", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"sum":            {"reduce", "serial", slots(bUniform, bRead, bWrite)},
	"sumwide":        {"reduce", "wide", slots(bUniform, bRead, bWrite)},
	"gemm":           {"gemm", "main", slots(bUniform, bRead, bRead, bWrite)},
	"col2im":         {"col2im", "main", slots(bUniform, bRead, bWrite)},
	"conv2d_dw":      {"conv2d_dw", "main", slots(bUniform, bRead, bRead, bWrite)},
	"groupnorm_grad": {"groupnorm_grad", "main", slots(bUniform, bRead, bRead, bWrite)},
	"upsample_grad":  {"upsample_grad", "main", slots(bUniform, bRead, bWrite)},
	"logistic":       {"logistic", "main", slots(bUniform, bRead, bRead, bRead, bRead, bWrite)},
	"adam":           {"adam", "main", slots(bUniform, bRead, bRead, bRead, bWrite, bWrite, bWrite)},
	"ema":            {"ema", "main", slots(bUniform, bRead, bRead, bRead, bWrite)},
	"gradpartial":    {"gradnorm", "partial", slots(bUniform, bRead, bWrite)},
	"graddecide":     {"gradnorm", "decide", []bslot{{0, bUniform}, {2, bWrite}, {3, bWrite}, {4, bWrite}}},
	"stepstats":      {"stepstats", "main", slots(bUniform, bRead, bRead, bWrite)},
	"words":          {"philox", "words", []bslot{{0, bDynUniform}, {2, bWrite}}},
}

func slots(kinds ...bkind) []bslot {
	out := make([]bslot, len(kinds))
	for i, k := range kinds {
		out[i] = bslot{uint32(i), k}
	}
	return out
}

type kernel struct {
	name     string
	binds    []bslot
	layout   *wgpu.BindGroupLayout
	playout  *wgpu.PipelineLayout
	pipeline *wgpu.ComputePipeline
}

func (k *kernel) release() {
	k.pipeline.Release()
	k.playout.Release()
	k.layout.Release()
}

// kernel compiles (once) and returns the named kernel.
func (d *Device) kernel(name string) (*kernel, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if k := d.kernels[name]; k != nil {
		return k, nil
	}
	spec, ok := kernelSpecs[name]
	if !ok {
		return nil, fmt.Errorf("gpu: no kernel %q", name)
	}
	src, err := shaders.Source(spec.file)
	if err != nil {
		return nil, err
	}
	mod, err := d.module(spec.file+".wgsl", src)
	if err != nil {
		return nil, err
	}
	defer mod.Release()
	entries := make([]wgpu.BindGroupLayoutEntry, len(spec.binds))
	for i, b := range spec.binds {
		e := wgpu.BindGroupLayoutEntry{Binding: b.at, Visibility: wgpu.ShaderStageCompute}
		switch b.kind {
		case bUniform:
			e.Buffer.Type = wgpu.BufferBindingTypeUniform
		case bDynUniform:
			e.Buffer.Type = wgpu.BufferBindingTypeUniform
			e.Buffer.HasDynamicOffset = true
		case bRead:
			e.Buffer.Type = wgpu.BufferBindingTypeReadOnlyStorage
		case bWrite:
			e.Buffer.Type = wgpu.BufferBindingTypeStorage
		}
		entries[i] = e
	}
	k := &kernel{name: name, binds: spec.binds}
	if k.layout, err = d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: name, Entries: entries}); err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: %w", name, err)
	}
	if k.playout, err = d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: name, BindGroupLayouts: []*wgpu.BindGroupLayout{k.layout}}); err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: %w", name, err)
	}
	if k.pipeline, err = d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{
		Layout:  k.playout,
		Compute: wgpu.ProgrammableStageDescriptor{Module: mod, EntryPoint: spec.entry},
	}); err != nil {
		return nil, fmt.Errorf("gpu: kernel %s (shaders/%s.wgsl): %w", name, spec.file, err)
	}
	d.kernels[name] = k
	return k, nil
}

// wgslPos finds the position in a compiler report ("┌─ wgsl:3:7").
var wgslPos = regexp.MustCompile(`wgsl:(\d+):(\d+)`)

// module compiles WGSL; the error carries the compiler's report, which names
// the file, line and column.
func (d *Device) module(label, src string) (*wgpu.ShaderModule, error) {
	mod, err := d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{
		Label:          label,
		WGSLDescriptor: &wgpu.ShaderModuleWGSLDescriptor{Code: src},
	})
	if err != nil {
		where := ""
		if m := wgslPos.FindStringSubmatch(err.Error()); m != nil {
			where = fmt.Sprintf(" at line %s, column %s", m[1], m[2])
		}
		return nil, fmt.Errorf("gpu: compiling shaders/%s%s: %v", label, where, err)
	}
	return mod, nil
}
