package runtime

import "sync"

// packs holds gemm's packing buffers between calls.
var packs = sync.Pool{New: func() any { return new([2][]float32) }}

// gemm sets c [m, n] (row stride ldc) to a b, where a is [m, k] (row stride
// lda) and b is [k, n] (with transB, stored [n, k]; row stride ldb).
//
// In the browser build: Go's WebAssembly has no SIMD and checks every
// index, so the work is arranged for few memory operations per multiply.
// a is packed into panels of 4 rows and b into panels of 8 columns, both
// k-major and zero-padded, and each 4x8 tile of c is summed in 32 local
// variables over the whole of k: 12 loads per 32 multiply-adds, where a
// row-by-row loop does 2 loads and a store per multiply-add (about 3x
// faster under V8).
func gemm(transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	mp, np := (m+3)/4, (n+7)/8
	bufs := packs.Get().(*[2][]float32)
	defer packs.Put(bufs)
	ap := grow(&bufs[0], mp*4*k)
	bp := grow(&bufs[1], np*8*k)
	clear(ap)
	clear(bp)
	for i := 0; i < m; i++ {
		row := a[i*lda:][:k]
		pan := ap[(i/4)*4*k:]
		for p, v := range row {
			pan[p*4+i%4] = v
		}
	}
	if transB {
		for j := 0; j < n; j++ {
			row := b[j*ldb:][:k]
			pan := bp[(j/8)*8*k:]
			for p, v := range row {
				pan[p*8+j%8] = v
			}
		}
	} else {
		for p := 0; p < k; p++ {
			row := b[p*ldb:][:n]
			for j, v := range row {
				bp[(j/8)*8*k+p*8+j%8] = v
			}
		}
	}
	var t [4][8]float32
	for jb := 0; jb < np; jb++ {
		bpan := bp[jb*8*k:][:8*k]
		for ib := 0; ib < mp; ib++ {
			apan := ap[ib*4*k:][:4*k]
			var c00, c01, c02, c03, c04, c05, c06, c07 float32
			var c10, c11, c12, c13, c14, c15, c16, c17 float32
			var c20, c21, c22, c23, c24, c25, c26, c27 float32
			var c30, c31, c32, c33, c34, c35, c36, c37 float32
			for p := 0; p < k; p++ {
				av := apan[p*4:][:4:4]
				bv := bpan[p*8:][:8:8]
				a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
				b0, b1, b2, b3, b4, b5, b6, b7 := bv[0], bv[1], bv[2], bv[3], bv[4], bv[5], bv[6], bv[7]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c04 += a0 * b4
				c05 += a0 * b5
				c06 += a0 * b6
				c07 += a0 * b7
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				c14 += a1 * b4
				c15 += a1 * b5
				c16 += a1 * b6
				c17 += a1 * b7
				c20 += a2 * b0
				c21 += a2 * b1
				c22 += a2 * b2
				c23 += a2 * b3
				c24 += a2 * b4
				c25 += a2 * b5
				c26 += a2 * b6
				c27 += a2 * b7
				c30 += a3 * b0
				c31 += a3 * b1
				c32 += a3 * b2
				c33 += a3 * b3
				c34 += a3 * b4
				c35 += a3 * b5
				c36 += a3 * b6
				c37 += a3 * b7
			}
			t = [4][8]float32{{c00, c01, c02, c03, c04, c05, c06, c07}, {c10, c11, c12, c13, c14, c15, c16, c17},
				{c20, c21, c22, c23, c24, c25, c26, c27}, {c30, c31, c32, c33, c34, c35, c36, c37}}
			for r := 0; r < 4 && ib*4+r < m; r++ {
				dst := c[(ib*4+r)*ldc+jb*8:]
				for q := 0; q < 8 && jb*8+q < n; q++ {
					dst[q] = t[r][q]
				}
			}
		}
	}
}
