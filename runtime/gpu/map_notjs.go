//go:build !js

package gpu

import (
	"fmt"

	"github.com/cogentcore/webgpu/wgpu"
)

// mapRead maps a staging buffer after its copy was submitted and returns a
// copy of its bytes. Natively the map completes inside Poll.
func mapRead(d *Device, st *wgpu.Buffer, size uint64) ([]byte, error) {
	defer holdGC()()
	status, done := wgpu.BufferMapAsyncStatusUnknown, false
	if err := st.MapAsync(wgpu.MapModeRead, 0, size, func(s wgpu.BufferMapAsyncStatus) { status, done = s, true }); err != nil {
		return nil, fmt.Errorf("gpu: mapping the readback: %w", err)
	}
	poll(d, &done)
	if err := d.check(); err != nil {
		return nil, err
	}
	if !done || status != wgpu.BufferMapAsyncStatusSuccess {
		return nil, fmt.Errorf("gpu: mapping the readback failed (%v)", status)
	}
	out := append([]byte(nil), st.GetMappedRange(0, uint(size))...)
	st.Unmap()
	return out, nil
}
