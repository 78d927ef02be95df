//go:build !cgo || !amd64

package nn

// Without cgo on amd64 the SiLU kernels stay in Go (see vec_cgo.go).
const haveVec = false

func vecSiLU(out, x []float32)         { panic("nn: no vector kernels in this build") }
func vecSiLUGrad(out, x, dy []float32) { panic("nn: no vector kernels in this build") }

func vecGroupNorm(out, x []float32, ng, size int, eps float64) {
	panic("nn: no vector kernels in this build")
}

func vecGroupNormGrad(out, x, dy []float32, ng, size int, eps float64) {
	panic("nn: no vector kernels in this build")
}
