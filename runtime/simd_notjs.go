//go:build !js

package runtime

// SIMDKernels concerns the browser build (simd_js.go); natively the CPU
// path's multiply is level3's Sgemm.
func SIMDKernels() (bool, string) { return false, "native build: the CPU path uses level3's Sgemm" }

// The SIMD kernels exist only in the browser build: natively every
// xSIMD declines and the Go path runs.

func convSIMD(y, x, w, b []float32, n, c, h, wd, o, k, stride, pad int, act bool) bool { return false }

func groupNormSIMD(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32, act bool) bool {
	return false
}

func siluSIMD(y, x []float32) bool { return false }

func sigmoidSIMD(y, x []float32) bool { return false }

func addSIMD(y, a, b []float32, n, size, bsize int) bool { return false }
