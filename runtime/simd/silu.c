// silu: y = x / (1 + e^-x) over n floats (runtime.SiLU is the reference).
#include "vexp.h"

__attribute__((export_name("silu"))) void silu(float *y, const float *x, int n) {
	int i = 0;
	for (; i + 4 <= n; i += 4)
		wasm_v128_store(y + i, vsilu(wasm_v128_load(x + i)));
	for (; i < n; i++) // the tail, one lane at a time
		y[i] = wasm_f32x4_extract_lane(vsilu(wasm_f32x4_splat(x[i])), 0);
}
