package gpu

import (
	"os"
	"sync"
	"testing"

	"github.com/lsgm-go/lsgm/runtime/optest"
	"github.com/lsgm-go/lsgm/shaders"
)

var (
	devOnce sync.Once
	dev     *Device
	devErr  error
)

// device opens the test device once. Under CI=true a missing adapter fails
// the test (CI installs lavapipe); elsewhere it skips, saying what is missing.
func device(t testing.TB) *Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = Open(OpenOptions{}) })
	if devErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no WebGPU device under CI (install mesa-vulkan-drivers libvulkan1): %v", devErr)
		}
		t.Skipf("no WebGPU device (install mesa-vulkan-drivers libvulkan1 for lavapipe): %v", devErr)
	}
	return dev
}

func TestOps(t *testing.T) { optest.Run(t, Host{device(t)}) }

// Every embedded shader belongs to a kernel, and every kernel compiles.
func TestEveryShaderCompiles(t *testing.T) {
	d := device(t)
	used := map[string]bool{}
	for name, spec := range kernelSpecs {
		used[spec.file] = true
		if _, err := d.kernel(name); err != nil {
			t.Error(err)
		}
	}
	for _, f := range shaders.Names() {
		if !used[f] {
			t.Errorf("shaders/%s.wgsl is embedded but no kernel uses it", f)
		}
	}
}

// The training ops (backward passes, the generic tensor ops) against the
// CPU reference.
func TestTrainOps(t *testing.T) { optest.RunTrain(t, Host{device(t)}) }
