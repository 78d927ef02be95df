package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cogentcore/webgpu/wgpu"
)

// Buffer is a storage buffer of f32 (or packed u32) values on the device,
// or a range of one (Slice).
type Buffer struct {
	b    *wgpu.Buffer
	off  int  // first value, in the underlying buffer
	len  int  // values
	view bool // a Slice: Release leaves the buffer alone
}

// SliceAlign is the value offset a Slice must be a multiple of (WebGPU's
// default minStorageBufferOffsetAlignment, 256 bytes).
const SliceAlign = 64

// Slice is values [off, off+n) of b, as a buffer of its own for kernels
// and copies. off must be a multiple of SliceAlign.
func (b *Buffer) Slice(off, n int) (*Buffer, error) {
	if off%SliceAlign != 0 || off < 0 || n < 1 || off+n > b.len {
		return nil, fmt.Errorf("gpu: slice [%d, %d) of a buffer of %d (offsets must be multiples of %d)", off, off+n, b.len, SliceAlign)
	}
	return &Buffer{b: b.b, off: b.off + off, len: n, view: true}, nil
}

// Len is the number of 4-byte values the buffer holds.
func (b *Buffer) Len() int { return b.len }

// Release frees the buffer.
func (b *Buffer) Release() {
	if b != nil && b.b != nil && !b.view {
		b.b.Release()
		b.b = nil
	}
}

// SizeError is NewBuffer's refusal of a buffer beyond the adapter's limit.
type SizeError struct{ Bytes, Limit uint64 }

func (e *SizeError) Error() string {
	return fmt.Sprintf("gpu: a buffer of %d MB exceeds the adapter's %d MB binding limit; use a smaller batch", e.Bytes>>20, e.Limit>>20)
}

// NewBuffer allocates n values, optionally filled from data (len n).
func (d *Device) NewBuffer(n int, data []float32) (*Buffer, error) {
	if n < 1 {
		n = 1
	}
	size := uint64(4 * n)
	if lim := min(d.limits.MaxStorageBufferBindingSize, d.limits.MaxBufferSize); lim > 0 && size > lim {
		return nil, &SizeError{Bytes: size, Limit: lim}
	}
	usage := wgpu.BufferUsageStorage | wgpu.BufferUsageCopyDst | wgpu.BufferUsageCopySrc
	var (
		b   *wgpu.Buffer
		err error
	)
	if data != nil {
		b, err = d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: wgpu.ToBytes(data), Usage: usage})
	} else {
		b, err = d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: size, Usage: usage})
	}
	if err != nil {
		return nil, fmt.Errorf("gpu: allocating %d KB: %w", size>>10, err)
	}
	return &Buffer{b: b, len: n}, nil
}

// NewBytes uploads raw bytes, four to a 32-bit word (little-endian; the
// last word padded with zeros): a dataset's pixels, read by images.wgsl.
func (d *Device) NewBytes(data []byte) (*Buffer, error) {
	n := (len(data) + 3) / 4
	if lim := min(d.limits.MaxStorageBufferBindingSize, d.limits.MaxBufferSize); lim > 0 && uint64(4*n) > lim {
		return nil, &SizeError{Bytes: uint64(4 * n), Limit: lim}
	}
	padded := make([]byte, 4*max(n, 1))
	copy(padded, data)
	b, err := d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: padded, Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopyDst | wgpu.BufferUsageCopySrc})
	if err != nil {
		return nil, fmt.Errorf("gpu: allocating %d KB: %w", len(padded)>>10, err)
	}
	return &Buffer{b: b, len: max(n, 1)}, nil
}

// WriteWords copies 32-bit integers into the buffer from its start.
func (d *Device) WriteWords(b *Buffer, words []uint32) error {
	if len(words) > b.len {
		return fmt.Errorf("gpu: writing %d values into a buffer of %d", len(words), b.len)
	}
	return writeBuffer(d.queue, b.b, uint64(4*b.off), wgpu.ToBytes(words))
}

// Write copies host values into the buffer from its start.
func (d *Device) Write(b *Buffer, data []float32) error {
	if len(data) > b.len {
		return fmt.Errorf("gpu: writing %d values into a buffer of %d", len(data), b.len)
	}
	return writeBuffer(d.queue, b.b, uint64(4*b.off), wgpu.ToBytes(data))
}

// uniform makes a small uniform buffer holding words (u32 or f32 bits).
func (d *Device) uniform(words ...uint32) (*wgpu.Buffer, error) {
	for len(words)%4 != 0 || len(words) < 4 {
		words = append(words, 0)
	}
	return d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: wgpu.ToBytes(words), Usage: wgpu.BufferUsageUniform})
}

func f32bits(v float64) uint32 { return math.Float32bits(float32(v)) }

// dynStride is the spacing of dynamic parameter blocks: WebGPU's default
// minUniformBufferOffsetAlignment.
const dynStride = 256

// dispatch is one recorded kernel launch.
type dispatch struct {
	k       *kernel
	bg      *wgpu.BindGroup
	dyn     int // block index into the recorder's dynamic parameters, -1 for none
	x, y, z uint32
	copySrc *wgpu.Buffer // a buffer copy instead of a launch, when set
	copyDst *wgpu.Buffer
	srcOff  uint64 // byte offset into copySrc
	copyOff uint64 // byte offset into copyDst
	copyN   uint64
}

// bind makes a bind group for k: u is the uniform (or the dynamic parameter
// buffer), bufs the storage buffers in binding order (nil binds a dummy).
func (d *Device) bind(k *kernel, u *wgpu.Buffer, bufs ...*Buffer) (*wgpu.BindGroup, error) {
	entries := make([]wgpu.BindGroupEntry, len(k.binds))
	for i, s := range k.binds {
		e := wgpu.BindGroupEntry{Binding: s.at}
		switch {
		case s.kind == bUniform:
			e.Buffer, e.Size = u, wgpu.WholeSize
		case s.kind == bDynUniform:
			e.Buffer, e.Size = u, 64
		case bufs[i-1] == nil:
			e.Buffer, e.Size = d.dummy, wgpu.WholeSize
		default:
			e.Buffer, e.Offset, e.Size = bufs[i-1].b, uint64(4*bufs[i-1].off), uint64(4*bufs[i-1].len)
		}
		entries[i] = e
	}
	bg, err := d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Layout: k.layout, Entries: entries})
	if err != nil {
		return nil, fmt.Errorf("gpu: binding %s: %w", k.name, err)
	}
	return bg, nil
}

// grid returns the workgroup counts for threads 1-D threads at 64 a group,
// folded into a second dimension beyond 65535 groups.
func grid(threads int) (uint32, uint32) {
	g := (threads + 63) / 64
	if g < 1 {
		g = 1
	}
	x := min(g, 65535)
	return uint32(x), uint32((g + x - 1) / x)
}

// recorder collects the launches of one submission. Dynamic parameters go
// into one uniform buffer at 256-byte strides, written just before submit.
type recorder struct {
	d      *Device
	list   []dispatch
	dyn    []byte
	dynBuf *wgpu.Buffer
	cap    int        // dynamic blocks dynBuf holds
	owned  []releaser // bind groups and uniforms made for this run

	submits, reads int
}

type releaser interface{ Release() }

func (d *Device) newRecorder(dynBlocks int) (*recorder, error) {
	dynBlocks = max(dynBlocks, 1)
	b, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: uint64(dynBlocks * dynStride), Usage: wgpu.BufferUsageUniform | wgpu.BufferUsageCopyDst})
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	return &recorder{d: d, dynBuf: b, cap: dynBlocks}, nil
}

func (r *recorder) release() {
	for _, o := range r.owned {
		o.Release()
	}
	r.owned = nil
	if r.dynBuf != nil {
		r.dynBuf.Release()
		r.dynBuf = nil
	}
}

// launch records a static kernel with a prepared bind group.
func (r *recorder) launch(k *kernel, bg *wgpu.BindGroup, x, y, z uint32) {
	r.list = append(r.list, dispatch{k: k, bg: bg, dyn: -1, x: x, y: y, z: max(z, 1)})
}

// launchDyn records a kernel whose parameters (words) change per step.
func (r *recorder) launchDyn(name string, threads int, words []uint32, bufs ...*Buffer) error {
	k, err := r.d.kernel(name)
	if err != nil {
		return err
	}
	blk := len(r.dyn) / dynStride
	if blk >= r.cap {
		return fmt.Errorf("gpu: internal: %d dynamic parameter blocks recorded, %d reserved", blk+1, r.cap)
	}
	b := make([]byte, dynStride)
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	r.dyn = append(r.dyn, b...)
	bg, err := r.d.bind(k, r.dynBuf, bufs...)
	if err != nil {
		return err
	}
	r.owned = append(r.owned, bg)
	x, y := grid(threads)
	r.list = append(r.list, dispatch{k: k, bg: bg, dyn: blk, x: x, y: y, z: 1})
	return nil
}

// copy records a buffer-to-buffer copy of n values.
func (r *recorder) copy(dst, src *Buffer, n int) { r.copyAt(dst, 0, src, n) }

// copyAt records a copy of src's first n values into dst from value off.
func (r *recorder) copyAt(dst *Buffer, off int, src *Buffer, n int) {
	r.list = append(r.list, dispatch{copySrc: src.b, copyDst: dst.b, srcOff: uint64(4 * src.off), copyOff: uint64(4 * (dst.off + off)), copyN: uint64(4 * n)})
}

// submit encodes everything recorded so far into one command buffer and
// submits it; the list is emptied (dynamic blocks keep their places).
func (r *recorder) submit() error {
	if err := r.d.check(); err != nil {
		return err
	}
	if len(r.dyn) > 0 {
		if err := writeBuffer(r.d.queue, r.dynBuf, 0, r.dyn); err != nil {
			return fmt.Errorf("gpu: %w", err)
		}
	}
	enc, err := r.d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	defer enc.Release()
	var pass *wgpu.ComputePassEncoder
	endPass := func() {
		if pass != nil {
			pass.End()
			pass.Release() // before Finish: wgpu-native requires it
			pass = nil
		}
	}
	for _, op := range r.list {
		if op.copySrc != nil {
			endPass()
			if err := enc.CopyBufferToBuffer(op.copySrc, op.srcOff, op.copyDst, op.copyOff, op.copyN); err != nil {
				return fmt.Errorf("gpu: %w", err)
			}
			continue
		}
		if pass == nil {
			pass = enc.BeginComputePass(nil)
		}
		pass.SetPipeline(op.k.pipeline)
		var offs []uint32
		if op.dyn >= 0 {
			offs = []uint32{uint32(op.dyn * dynStride)}
		}
		pass.SetBindGroup(0, op.bg, offs)
		pass.DispatchWorkgroups(op.x, op.y, op.z)
	}
	endPass()
	cb, err := enc.Finish(nil)
	if err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	defer cb.Release()
	r.d.queue.Submit(cb)
	r.submits++
	r.list = r.list[:0]
	return nil
}

// read appends copies of bufs (n[i] values each) into one staging buffer to
// the recorded work, submits it all as one command buffer and maps the
// staging buffer: one submission and one readback however many buffers.
func (r *recorder) read(bufs []*Buffer, n []int) ([][]byte, error) {
	total := 0
	for _, k := range n {
		total += 4 * k
	}
	st, err := r.d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: uint64(total), Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst})
	if err != nil {
		return nil, fmt.Errorf("gpu: staging %d KB: %w", total>>10, err)
	}
	defer st.Release()
	off := uint64(0)
	for i, b := range bufs {
		r.list = append(r.list, dispatch{copySrc: b.b, copyDst: st, srcOff: uint64(4 * b.off), copyOff: off, copyN: uint64(4 * n[i])})
		off += uint64(4 * n[i])
	}
	if err := r.submit(); err != nil {
		return nil, err
	}
	r.reads++
	data, err := mapRead(r.d, st, uint64(total))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(bufs))
	off = 0
	for i := range bufs {
		out[i] = data[off : off+uint64(4*n[i])]
		off += uint64(4 * n[i])
	}
	return out, r.d.check()
}

// floats decodes little-endian f32 values.
func floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
