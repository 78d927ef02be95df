package optest

import "testing"

// The suite passes on the reference itself (every tolerance holds at zero error).
func TestCPU(t *testing.T) { Run(t, CPU{}) }

// The runtime's fast CPU kernels pass the same suite (natively gonum's
// multiply; under GOOS=js, run by make wasm in Node, the tiled loop).
func TestCPUFast(t *testing.T) { Run(t, &CPUFast{}) }

// The training-op suite passes on the reference itself.
func TestCPUTrain(t *testing.T) { RunTrain(t, CPU{}) }
