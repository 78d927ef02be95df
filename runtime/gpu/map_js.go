package gpu

import (
	"fmt"

	"github.com/cogentcore/webgpu/wgpu"
)

// mapRead maps a staging buffer. The js binding's MapAsync waits on the
// browser's promise in this goroutine (so this must not run inside a
// js.FuncOf callback), and its GetMappedRange returns a copy.
func mapRead(d *Device, st *wgpu.Buffer, size uint64) ([]byte, error) {
	if err := st.MapAsync(wgpu.MapModeRead, 0, size, func(wgpu.BufferMapAsyncStatus) {}); err != nil {
		return nil, fmt.Errorf("gpu: mapping the readback: %w", err)
	}
	out := st.GetMappedRange(0, uint(size))
	st.Unmap()
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("gpu: readback returned %d bytes, want %d", len(out), size)
	}
	return out, nil
}
