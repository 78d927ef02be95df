package main

import (
	"fmt"
	"os"

	"github.com/lsgm-go/lsgm/runtime/gpu"
)

// trainDevice opens where training (or evaluation) runs for --device kind:
// "gpu" takes any WebGPU adapter, software renderers too, and fails without
// one; "auto" takes a hardware adapter only (lavapipe is slower than the
// CPU here) and otherwise says why it stays on the CPU; "cpu" returns nil.
// The choice is printed either way.
func trainDevice(cmd, kind string) (*gpu.Device, error) {
	switch kind {
	case "cpu":
		fmt.Fprintf(os.Stderr, "%s: device: the CPU (--device cpu)\n", cmd)
		return nil, nil
	case "auto", "gpu":
	default:
		return nil, fmt.Errorf("%s: --device %q: want auto, gpu or cpu", cmd, kind)
	}
	d, err := gpu.Open(gpu.OpenOptions{})
	switch {
	case err != nil && kind == "gpu":
		return nil, fmt.Errorf("%s: --device gpu: %v", cmd, err)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: device: the CPU (%v)\n", cmd, err)
		return nil, nil
	case kind == "auto" && d.Software():
		fmt.Fprintf(os.Stderr, "%s: device: the CPU (the only WebGPU adapter, %s, is a software renderer, slower than the CPU; --device gpu uses it anyway)\n", cmd, d.Name())
		d.Close()
		return nil, nil
	}
	fmt.Fprintf(os.Stderr, "%s: device: %s\n", cmd, d.Name())
	return d, nil
}
