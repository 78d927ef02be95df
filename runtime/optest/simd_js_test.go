package optest

import (
	"os"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
)

// Under GOOS=js, TestCPUFast checks the WebAssembly SIMD kernels only when
// the runner loaded them (runtime/simd/node-exec does, as make wasm runs
// it); in CI a run without them fails here instead of passing on Go loops.
func TestCPUSIMDLoaded(t *testing.T) {
	if ok, why := runtime.SIMDKernels(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
}
