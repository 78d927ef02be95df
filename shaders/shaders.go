// Package shaders holds the WGSL compute shaders of the WebGPU backend, one
// file per op, embedded so the native and browser builds ship the same text.
//
// Conventions shared by every file: binding 0 is the op's uniform parameters;
// the storage buffers follow from binding 1, inputs before outputs; tensors
// are flat f32 arrays, batch-major and channel-first like the CPU reference
// (runtime/ops.go). Elementwise kernels run 64 threads a workgroup and take
// their flat index from a 2-D grid (x + y * groupsX * 64), so a large tensor
// never exceeds the 65535 workgroups a dimension allows.
package shaders

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.wgsl
var files embed.FS

// Source returns the text of an op's shader, by file name without ".wgsl".
func Source(op string) (string, error) {
	b, err := files.ReadFile(op + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shaders: no shader for op %q", op)
	}
	return string(b), nil
}

// Names lists the embedded shaders.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".wgsl"))
	}
	sort.Strings(out)
	return out
}
