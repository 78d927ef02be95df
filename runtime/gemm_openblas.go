//go:build !js && openblas && cgo

package runtime

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

// gemm sets c [m, n] (row stride ldc) to a b, where a is [m, k] (row stride
// lda) and b is [k, n] (with transB, stored [n, k]; row stride ldb).
// Built with -tags openblas (make trainer, make desktop) it is OpenBLAS's
// sgemm, with its threads (OPENBLAS_NUM_THREADS).
func gemm(transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	tb := blas.NoTrans
	if transB {
		tb = blas.Trans
	}
	netlib.Implementation{}.Sgemm(blas.NoTrans, tb, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
}
