// add: y = a + b for n samples of size floats; b has size floats per sample
// or one per channel (bsize channels of size/bsize positions), broadcast
// over positions (runtime.Add is the reference).
#include <wasm_simd128.h>

__attribute__((export_name("add"))) void add(float *y, const float *a, const float *b, int n, int size, int bsize) {
	int per = size / bsize;
	for (int i = 0; i < n; i++) {
		for (int ch = 0; ch < bsize; ch++) {
			long off = (long)i * size + (long)ch * per;
			const float *ap = a + off;
			float *yp = y + off;
			if (per == 1) { // b is per element: one run over the sample
				const float *bp = b + (long)i * bsize;
				int q = 0;
				for (; q + 4 <= size; q += 4)
					wasm_v128_store(yp + q, wasm_f32x4_add(wasm_v128_load(ap + q), wasm_v128_load(bp + q)));
				for (; q < size; q++)
					yp[q] = ap[q] + bp[q];
				break;
			}
			float bs = b[(long)i * bsize + ch];
			v128_t bv = wasm_f32x4_splat(bs);
			int q = 0;
			for (; q + 4 <= per; q += 4)
				wasm_v128_store(yp + q, wasm_f32x4_add(wasm_v128_load(ap + q), bv));
			for (; q < per; q++)
				yp[q] = ap[q] + bs;
		}
	}
}
