//go:build !js

package runtime

import "gonum.org/v1/gonum/blas"

// gemm sets c [m, n] (row stride ldc) to a b, where a is [m, k] (row stride
// lda) and b is [k, n] (with transB, stored [n, k]; row stride ldb).
// Natively it is level3's Sgemm: OpenBLAS's with -tags openblas (make
// sample, make desktop, bin/trainer; its threads per OPENBLAS_NUM_THREADS),
// else gonum's (assembly inner kernels, blocks spread over every core).
func gemm(transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	tb := blas.NoTrans
	if transB {
		tb = blas.Trans
	}
	level3.Sgemm(blas.NoTrans, tb, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
}
