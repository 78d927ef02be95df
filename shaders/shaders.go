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

// Source returns the text of an op's shader, by file name without ".wgsl",
// with each line "//#include NAME" replaced by the file NAME.inc.wgsl: WGSL
// has no includes, and a helper two ops need (sincos2pi) is kept once.
func Source(op string) (string, error) {
	b, err := files.ReadFile(op + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shaders: no shader for op %q", op)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "//#include "); ok {
			inc, err := files.ReadFile(name + ".inc.wgsl")
			if err != nil {
				return "", fmt.Errorf("shaders: %s.wgsl includes %q, which does not exist", op, name)
			}
			lines[i] = string(inc)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// Names lists the embedded shaders (not the included helpers).
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".inc.wgsl") {
			continue
		}
		out = append(out, strings.TrimSuffix(e.Name(), ".wgsl"))
	}
	sort.Strings(out)
	return out
}
