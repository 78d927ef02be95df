// groupnorm: y = gamma (x - mean) / sqrt(var + eps) + beta per sample and
// group of x [n, c, hw], then SiLU when act is set (runtime.GroupNorm, then
// runtime.SiLU, is the reference). The statistics are one pass in double
// precision, as the reference's; the affine map is in float.
#include "vexp.h"

__attribute__((export_name("groupnorm"))) void groupnorm(float *y, const float *x, const float *gamma,
							 const float *beta, int n, int c, int hw, int groups,
							 float eps, int act) {
	int cg = c / groups, len = cg * hw;
	for (int i = 0; i < n; i++) {
		for (int g = 0; g < groups; g++) {
			long off = ((long)i * c + g * cg) * hw;
			const float *seg = x + off;
			v128_t s = wasm_f64x2_splat(0), s2 = s;
			int q = 0;
			for (; q + 4 <= len; q += 4) {
				v128_t v = wasm_v128_load(seg + q);
				v128_t lo = wasm_f64x2_promote_low_f32x4(v);
				v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 2, 3));
				s = wasm_f64x2_add(s, wasm_f64x2_add(lo, hi));
				s2 = wasm_f64x2_add(s2, wasm_f64x2_add(wasm_f64x2_mul(lo, lo), wasm_f64x2_mul(hi, hi)));
			}
			double sum = wasm_f64x2_extract_lane(s, 0) + wasm_f64x2_extract_lane(s, 1);
			double sum2 = wasm_f64x2_extract_lane(s2, 0) + wasm_f64x2_extract_lane(s2, 1);
			for (; q < len; q++) {
				sum += seg[q];
				sum2 += (double)seg[q] * seg[q];
			}
			double mean = sum / len, vr = sum2 / len - mean * mean;
			if (!(vr > 0))
				vr = 0;
			double inv = 1 / __builtin_sqrt(vr + eps);
			for (int j = 0; j < cg; j++) {
				int ch = g * cg + j;
				double a = gamma[ch] * inv;
				v128_t av = wasm_f32x4_splat((float)a), bv = wasm_f32x4_splat((float)(beta[ch] - mean * a));
				const float *src = seg + j * hw;
				float *dst = y + off + j * hw;
				int p = 0;
				for (; p + 4 <= hw; p += 4) {
					v128_t v = ADD(MUL(wasm_v128_load(src + p), av), bv);
					wasm_v128_store(dst + p, act ? vsilu(v) : v);
				}
				for (; p < hw; p++) {
					v128_t v = ADD(MUL(wasm_f32x4_splat(src[p]), av), bv);
					dst[p] = wasm_f32x4_extract_lane(act ? vsilu(v) : v, 0);
				}
			}
		}
	}
}
