// conv2d: the browser build's convolution and linear layer, in WebAssembly
// SIMD (128-bit). The plain-Go reference is runtime.Conv2D (and
// runtime.Linear, which is this with a 1x1 image); runtime/optest checks
// this kernel against it.
//
// y [n, o, ho, wo] = bias[o] + w [o, K] . col [K, columns], K = c k k, where
// col is x's im2col, never formed. Every block of 4 output channels
// multiplies a panel of 8 columns over the whole of K in 8 vector
// accumulators, reading w's 4 rows in place, one broadcast each; the
// epilogue adds the bias, applies SiLU when act is set, and stores each
// column where y keeps it. Two ways to feed the panels:
//
//   - direct (stride 1, a map of at least 16 pixels): each sample is copied
//     once into a zero-padded [c, hp, wp] image. Numbering the outputs
//     m = oy wp + ox (the columns past wo are computed and dropped), col[p, m]
//     is padded[off[p] + m] with off[(ic k + ky) k + kx] = ic hp wp + ky wp + kx,
//     so a panel's 8 columns are two unaligned vector loads from the image,
//     with no packing. For 7x7 maps the dropped columns cost 2/9 of the work.
//   - packed (strides over 1, linear layers): the columns of all samples
//     are numbered together, and each panel is packed from x (k-major, 8
//     floats per k, zero outside the image) before use.
//
// The module imports the Go program's linear memory and must never write
// memory it was not given: it has no data and no stack (the build checks
// that it defines no globals), so every temporary lives in a wasm local or
// in ws.
#include "vexp.h"

#define NR 8 // columns per panel: two vectors

// The three ways, by shape: 0 packed, 1 direct, 2 gathered. Gathering a
// panel pays off over many output channels only (at 4 it was slower).
static int way(int h, int wd, int o, int k, int stride, int pad) {
	int ho = h + 2 * pad - k + 1, wo = wd + 2 * pad - k + 1;
	if (stride != 1 || ho * wo < 16)
		return 0;
	return wo <= 8 && o > 8 ? 2 : 1;
}

// ws_floats is the workspace conv2d needs for n samples, in floats.
__attribute__((export_name("ws_floats"))) int ws_floats(int n, int c, int h, int wd, int o, int k, int stride, int pad) {
	int plane = (h + 2 * pad) * (wd + 2 * pad), K = c * k * k;
	switch (way(h, wd, o, k, stride, pad)) {
	case 1: // one padded image (+ overrun), offsets, a tile
		return c * plane + NR + K + 4 * NR;
	case 2: // every padded image, offsets, a panel
		return n * c * plane + K + NR * K;
	}
	return NR * K;
}

#define FMA(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))

// TILE sets c00..c31 to rows a0..a3 of w times the panel whose k-th row of
// 8 floats starts at BROW (an expression in p).
#define TILE(BROW)                                                      \
	v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00; \
	v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;                 \
	for (int p = 0; p < K; p++) {                                      \
		const float *b = (BROW);                                   \
		v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4); \
		v128_t v = wasm_v128_load32_splat(a0 + p);                 \
		FMA(c00, v, b0);                                           \
		FMA(c01, v, b1);                                           \
		v = wasm_v128_load32_splat(a1 + p);                        \
		FMA(c10, v, b0);                                           \
		FMA(c11, v, b1);                                           \
		v = wasm_v128_load32_splat(a2 + p);                        \
		FMA(c20, v, b0);                                           \
		FMA(c21, v, b1);                                           \
		v = wasm_v128_load32_splat(a3 + p);                        \
		FMA(c30, v, b0);                                           \
		FMA(c31, v, b1);                                           \
	}

// ROWS points a0..a3 at rows o0..o0+3 of w; rows past o repeat the last
// one, and their results are not stored.
#define ROWS                                                              \
	const float *a0 = w + (long)o0 * K;                               \
	const float *a1 = w + (long)(o0 + 1 < o ? o0 + 1 : o - 1) * K;    \
	const float *a2 = w + (long)(o0 + 2 < o ? o0 + 2 : o - 1) * K;    \
	const float *a3 = w + (long)(o0 + 3 < o ? o0 + 3 : o - 1) * K;

// finish adds the bias of channel oc and applies SiLU when act is set.
static inline v128_t finish(v128_t v, const float *bias, int oc, int act) {
	if (bias)
		v = wasm_f32x4_add(v, wasm_f32x4_splat(bias[oc]));
	return act ? vsilu(v) : v;
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
#define LANE(l)                                                                         \
	if (j + l < N) {                                                                \
		int jj = j + l;                                                         \
		y[((long)(jj / hw) * o + oc) * hw + jj % hw] = wasm_f32x4_extract_lane(v, l); \
	}
	LANE(0) LANE(1) LANE(2) LANE(3)
#undef LANE
}

// STORE_TILE finishes and stores a tile of rows o0.. and columns j0..
// (numbered over all samples) where y keeps them.
#define STORE_ROW(r, lo, hi)                                                           \
	if (o0 + r < o) {                                                              \
		store(y, finish(lo, bias, o0 + r, act), j0, N, o0 + r, o, hw);         \
		store(y, finish(hi, bias, o0 + r, act), j0 + 4, N, o0 + r, o, hw);     \
	}
#define STORE_TILE STORE_ROW(0, c00, c01) STORE_ROW(1, c10, c11) STORE_ROW(2, c20, c21) STORE_ROW(3, c30, c31)

// padded copies the h x wd planes of x into img as (h + 2 pad) x
// (wd + 2 pad) planes with a zero border.
static void padded(float *img, const float *x, int planes, int h, int wd, int pad) {
	int wp = wd + 2 * pad, plane = (h + 2 * pad) * wp;
	for (int i = 0; i < planes; i++) {
		float *dst = img + (long)i * plane;
		const float *src = x + (long)i * h * wd;
		for (int q = 0; q < pad * wp; q++)
			dst[q] = dst[plane - 1 - q] = 0;
		for (int iy = 0; iy < h; iy++) {
			float *row = dst + (iy + pad) * wp;
			for (int q = 0; q < pad; q++)
				row[q] = row[wp - 1 - q] = 0;
			for (int q = 0; q < wd; q++)
				row[pad + q] = src[iy * wd + q];
		}
	}
}

static void packed(float *y, const float *x, const float *w, const float *bias, int n, int c, int h,
		   int wd, int o, int k, int stride, int pad, int act, float *ws) {
	int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
	int hw = ho * wo, K = c * k * k, N = n * hw;
	for (int j0 = 0; j0 < N; j0 += NR) {
		pack(ws, x, j0, N, c, h, wd, k, stride, pad, wo, hw);
		for (int o0 = 0; o0 < o; o0 += 4) {
			ROWS
			TILE(ws + p * NR)
			STORE_TILE
		}
	}
}

static void directly(float *y, const float *x, const float *w, const float *bias, int n, int c,
		     int h, int wd, int o, int k, int pad, int act, float *ws) {
	int hp = h + 2 * pad, wp = wd + 2 * pad, ho = hp - k + 1, wo = wp - k + 1;
	int K = c * k * k, M = (ho - 1) * wp + wo, plane = hp * wp;
	float *img = ws;                         // [c, hp, wp], then NR floats read past it
	int *off = (int *)(ws + c * plane + NR); // [K]
	float *tile = ws + c * plane + NR + K;   // [4, NR]
	for (int ic = 0, p = 0; ic < c; ic++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
				off[p++] = ic * plane + ky * wp + kx;
	for (int q = c * plane; q < c * plane + NR; q++)
		img[q] = 0; // the overrun of the last panel: finite, and dropped
	for (int i = 0; i < n; i++) {
		const float *xi = x + (long)i * c * h * wd;
		float *yi = y + (long)i * o * ho * wo;
		padded(img, xi, c, h, wd, pad);
		for (int m0 = 0; m0 < M; m0 += NR) {
			int oy = m0 / wp, ox = m0 % wp;
			int whole = ox + NR <= wo; // all 8 columns are outputs of one row
			for (int o0 = 0; o0 < o; o0 += 4) {
				ROWS
				TILE(img + m0 + off[p])
#define ROW(r, lo, hi)                                                                  \
	if (o0 + r < o) {                                                               \
		v128_t l = finish(lo, bias, o0 + r, act), u = finish(hi, bias, o0 + r, act); \
		if (whole) {                                                            \
			float *d = yi + ((long)(o0 + r) * ho + oy) * wo + ox;            \
			wasm_v128_store(d, l);                                          \
			wasm_v128_store(d + 4, u);                                      \
		} else {                                                                \
			wasm_v128_store(tile + r * NR, l);                              \
			wasm_v128_store(tile + r * NR + 4, u);                          \
		}                                                                       \
	}
				ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
#undef ROW
				if (whole)
					continue;
				for (int q = 0, yy = oy, xx = ox; q < NR && m0 + q < M; q++, xx++) {
					if (xx == wp)
						xx = 0, yy++;
					if (xx >= wo)
						continue;
					for (int r = 0; r < 4 && o0 + r < o; r++)
						yi[((long)(o0 + r) * ho + yy) * wo + xx] = tile[r * NR + q];
				}
			}
		}
	}
}

static void gathered(float *y, const float *x, const float *w, const float *bias, int n, int c,
		     int h, int wd, int o, int k, int pad, int act, float *ws) {
	int hp = h + 2 * pad, wp = wd + 2 * pad, ho = hp - k + 1, wo = wp - k + 1;
	int hw = ho * wo, K = c * k * k, N = n * hw, plane = hp * wp;
	float *img = ws;                         // [n, c, hp, wp]
	int *off = (int *)(ws + n * c * plane);  // [K]
	float *bp = ws + n * c * plane + K;      // [K, NR]
	for (int ic = 0, p = 0; ic < c; ic++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
				off[p++] = ic * plane + ky * wp + kx;
	padded(img, x, n * c, h, wd, pad);
	for (int j0 = 0; j0 < N; j0 += NR) {
		// Where each of the 8 columns' window starts (past N: the last column's).
#define BASE(q)                                                                 \
	int b##q;                                                               \
	{                                                                       \
		int j = j0 + q < N ? j0 + q : N - 1, r = j % hw;                \
		b##q = (j / hw) * c * plane + (r / wo) * wp + r % wo;           \
	}
		BASE(0) BASE(1) BASE(2) BASE(3) BASE(4) BASE(5) BASE(6) BASE(7)
#undef BASE
		for (int p = 0; p < K; p++) {
			const float *s = img + off[p];
			wasm_v128_store(bp + p * NR, wasm_f32x4_make(s[b0], s[b1], s[b2], s[b3]));
			wasm_v128_store(bp + p * NR + 4, wasm_f32x4_make(s[b4], s[b5], s[b6], s[b7]));
		}
		for (int o0 = 0; o0 < o; o0 += 4) {
			ROWS
			TILE(bp + p * NR)
			STORE_TILE
		}
	}
}

// conv2d computes y from x [n, c, h, wd], w [o, c, k, k] and bias [o] (bias
// may be 0: no bias), then SiLU when act is set. ws holds
// ws_floats(n, c, h, wd, o, k, stride, pad) floats.
__attribute__((export_name("conv2d"))) void conv2d(float *y, const float *x, const float *w,
						   const float *bias, int n, int c, int h, int wd,
						   int o, int k, int stride, int pad, int act, float *ws) {
	switch (way(h, wd, o, k, stride, pad)) {
	case 1:
		directly(y, x, w, bias, n, c, h, wd, o, k, pad, act, ws);
		break;
	case 2:
		gathered(y, x, w, bias, n, c, h, wd, o, k, pad, act, ws);
		break;
	default:
		packed(y, x, w, bias, n, c, h, wd, o, k, stride, pad, act, ws);
	}
}
