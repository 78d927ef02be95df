package optest

import "testing"

// The suite passes on the reference itself (every tolerance holds at zero error).
func TestCPU(t *testing.T) { Run(t, CPU{}) }
