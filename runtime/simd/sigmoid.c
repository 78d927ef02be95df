// sigmoid: y = 1 / (1 + e^-x) over n floats (runtime.Sigmoid is the reference).
#include "vexp.h"

static inline v128_t vsigmoid(v128_t x) {
	return wasm_f32x4_div(SPLAT(1.0f), ADD(SPLAT(1.0f), vexp(wasm_f32x4_neg(x))));
}

__attribute__((export_name("sigmoid"))) void sigmoid(float *y, const float *x, int n) {
	int i = 0;
	for (; i + 4 <= n; i += 4)
		wasm_v128_store(y + i, vsigmoid(wasm_v128_load(x + i)));
	for (; i < n; i++)
		y[i] = wasm_f32x4_extract_lane(vsigmoid(wasm_f32x4_splat(x[i])), 0);
}
