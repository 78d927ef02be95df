// vexp: e^x on four floats, for the activations. Cody-Waite reduction
// x = n ln2 + r (|r| <= ln2/2) and Cephes's degree-6 polynomial for e^r
// (about 1 ulp), scaled by 2^n through the exponent bits. x is clamped to
// [-87.3, 88], where e^x stays a normal float: SiLU and the sigmoid only
// need 1 + e^x to saturate there.
#include <wasm_simd128.h>

#define SPLAT wasm_f32x4_splat
#define ADD wasm_f32x4_add
#define MUL wasm_f32x4_mul

static inline v128_t vexp(v128_t x) {
	x = wasm_f32x4_max(wasm_f32x4_min(x, SPLAT(88.0f)), SPLAT(-87.33f));
	v128_t n = wasm_f32x4_nearest(MUL(x, SPLAT(1.44269504088896341f)));
	v128_t r = ADD(x, MUL(n, SPLAT(-0.693359375f)));
	r = ADD(r, MUL(n, SPLAT(2.12194440e-4f)));
	v128_t p = SPLAT(1.9875691500e-4f);
	p = ADD(MUL(p, r), SPLAT(1.3981999507e-3f));
	p = ADD(MUL(p, r), SPLAT(8.3334519073e-3f));
	p = ADD(MUL(p, r), SPLAT(4.1665795894e-2f));
	p = ADD(MUL(p, r), SPLAT(1.6666665459e-1f));
	p = ADD(MUL(p, r), SPLAT(5.0000001201e-1f));
	p = ADD(ADD(MUL(MUL(p, r), r), r), SPLAT(1.0f));
	v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
	return MUL(p, e);
}

// vsilu: x / (1 + e^-x).
static inline v128_t vsilu(v128_t x) {
	return wasm_f32x4_div(x, ADD(SPLAT(1.0f), vexp(wasm_f32x4_neg(x))));
}
