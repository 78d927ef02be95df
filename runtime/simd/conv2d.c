// conv2d: the browser build's convolution and linear layer, in WebAssembly
// SIMD (128-bit). The plain-Go reference is runtime.Conv2D (and
// runtime.Linear, which is this with a 1x1 image); runtime/optest checks
// this kernel against it.
//
// y [n, o, ho, wo] = bias[o] + w [o, K] . col [K, n ho wo], K = c k k, where
// col is x's im2col. col is never formed: each panel of 8 columns is packed
// from x as it is needed (k-major, 8 floats per k, zero outside the image),
// and every block of 4 output channels multiplies it over the whole of K in
// 8 vector accumulators, reading w's 4 rows in place, one broadcast each.
// The epilogue adds the bias, applies SiLU when act is set, and stores each
// column where y keeps it (a column is one sample's output pixel).
//
// The module imports the Go program's linear memory and must never write
// memory it was not given: it has no data and no stack (the build checks
// that it defines no globals), so every temporary lives in a wasm local.
#include "vexp.h"

#define NR 8 // columns per panel: two vectors

// ws_floats is the workspace conv2d needs, in floats.
__attribute__((export_name("ws_floats"))) int ws_floats(int c, int k) {
	return NR * c * k * k;
}

// pack writes col[p, j0 + q] for p < K and q < NR into bp[p NR + q]
// (columns at or past N are zero).
static void pack(float *bp, const float *x, int j0, int N, int c, int h, int wd,
		 int k, int stride, int pad, int wo, int hw) {
	for (int q = 0; q < NR; q++) {
		int j = j0 + q;
		float *dst = bp + q;
		if (j >= N) {
			for (int p = 0; p < c * k * k; p++)
				dst[p * NR] = 0;
			continue;
		}
		int i = j / hw, r = j % hw;
		int iy0 = (r / wo) * stride - pad, ix0 = (r % wo) * stride - pad;
		const float *xi = x + (long)i * c * h * wd;
		for (int ic = 0; ic < c; ic++) {
			const float *xc = xi + ic * h * wd;
			for (int ky = 0; ky < k; ky++) {
				int iy = iy0 + ky;
				if (iy < 0 || iy >= h) {
					for (int kx = 0; kx < k; kx++, dst += NR)
						*dst = 0;
					continue;
				}
				const float *row = xc + iy * wd;
				for (int kx = 0; kx < k; kx++, dst += NR) {
					int ix = ix0 + kx;
					*dst = (ix >= 0 && ix < wd) ? row[ix] : 0;
				}
			}
		}
	}
}

// store writes 4 columns j..j+3 (those below N) of output channel oc.
static inline void store(float *y, v128_t v, int j, int N, int oc, int o, int hw) {
	int i = j / hw, r = j % hw;
	if (j + 4 <= N && r + 4 <= hw) {
		wasm_v128_store(y + ((long)i * o + oc) * hw + r, v);
		return;
	}
#define LANE(l)                                                          \
	if (j + l < N) {                                                  \
		int jj = j + l;                                           \
		y[((long)(jj / hw) * o + oc) * hw + jj % hw] = wasm_f32x4_extract_lane(v, l); \
	}
	LANE(0) LANE(1) LANE(2) LANE(3)
#undef LANE
}

#define FMA(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))

// conv2d computes y from x [n, c, h, wd], w [o, c, k, k] and bias [o] (bias
// may be 0: no bias), then SiLU when act is set. ws holds ws_floats(c, k)
// floats.
__attribute__((export_name("conv2d"))) void conv2d(float *y, const float *x, const float *w,
						   const float *bias, int n, int c, int h, int wd,
						   int o, int k, int stride, int pad, int act, float *ws) {
	int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
	int hw = ho * wo, K = c * k * k, N = n * hw;
	for (int j0 = 0; j0 < N; j0 += NR) {
		pack(ws, x, j0, N, c, h, wd, k, stride, pad, wo, hw);
		for (int o0 = 0; o0 < o; o0 += 4) {
			// Rows past o repeat the last row; their results are not stored.
			const float *a0 = w + (long)o0 * K;
			const float *a1 = w + (long)(o0 + 1 < o ? o0 + 1 : o - 1) * K;
			const float *a2 = w + (long)(o0 + 2 < o ? o0 + 2 : o - 1) * K;
			const float *a3 = w + (long)(o0 + 3 < o ? o0 + 3 : o - 1) * K;
			v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
			v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
			const float *b = ws;
			for (int p = 0; p < K; p++, b += NR) {
				v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
				v128_t v = wasm_v128_load32_splat(a0 + p);
				FMA(c00, v, b0);
				FMA(c01, v, b1);
				v = wasm_v128_load32_splat(a1 + p);
				FMA(c10, v, b0);
				FMA(c11, v, b1);
				v = wasm_v128_load32_splat(a2 + p);
				FMA(c20, v, b0);
				FMA(c21, v, b1);
				v = wasm_v128_load32_splat(a3 + p);
				FMA(c30, v, b0);
				FMA(c31, v, b1);
			}
#define ROW(r, lo, hi)                                                           \
	if (o0 + r < o) {                                                        \
		v128_t bv = wasm_f32x4_splat(bias ? bias[o0 + r] : 0);           \
		v128_t lv = wasm_f32x4_add(lo, bv), hv = wasm_f32x4_add(hi, bv);  \
		if (act) {                                                       \
			lv = vsilu(lv);                                          \
			hv = vsilu(hv);                                          \
		}                                                                \
		store(y, lv, j0, N, o0 + r, o, hw);                              \
		store(y, hv, j0 + 4, N, o0 + r, o, hw);                          \
	}
			ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
#undef ROW
		}
	}
}
