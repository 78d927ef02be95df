//go:build cgo && amd64

package nn

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
// Floating-point comparisons may be if-converted (no trap is ever enabled),
// which the clamps need to vectorize.
#pragma GCC optimize("no-trapping-math")
#include <stddef.h>
#include <string.h>

// e^x for float32 as expf in ops.go (Cephes' expf: x = k ln 2 + r, a
// degree-6 polynomial for e^r, 2^k through the exponent bits), written
// without branches so that the loops below vectorize; x is clamped to
// [-87.3, 88.7], where 2^k stays a normal number.
static inline float vexpf(float x) {
	x = x < -87.33654f ? -87.33654f : x;
	x = x > 88.72283f ? 88.72283f : x;
	float k = (x * 1.442695f + 12582912.f) - 12582912.f; // round to an integer
	float r = x - k * 0.693359375f + k * 2.12194440e-4f;
	float z = r * r;
	float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
	int bits = ((int)k + 127) << 23;
	float s;
	memcpy(&s, &bits, 4);
	return (p * z + r + 1) * s;
}

// Each function has an AVX2/FMA clone and a baseline one; the loader picks
// by the CPU (GCC's target_clones, through an ifunc).
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))

CLONES void nn_silu(float *out, const float *x, size_t n) {
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		out[i] = v / (1 + vexpf(-v));
	}
}

CLONES void nn_silu_grad(float *out, const float *x, const float *dy, size_t n) {
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		float s = 1 / (1 + vexpf(-v));
		out[i] = dy[i] * s * (1 + v * (1 - s));
	}
}

// Group norm over ng groups of size floats each, statistics in double as
// the Go kernels and the runtime keep them. The sums may be reassociated
// (lanes of partial sums), which the reductions need to vectorize.
#define REASSOC __attribute__((optimize("associative-math", "no-signed-zeros")))

static inline void gn_stats(const float *x, size_t size, double eps, double *mean, double *rstd) REASSOC;
static inline void gn_stats(const float *x, size_t size, double eps, double *mean, double *rstd) {
	double s = 0, ss = 0;
	for (size_t i = 0; i < size; i++) s += x[i];
	double m = s / size;
	for (size_t i = 0; i < size; i++) {
		double d = x[i] - m;
		ss += d * d;
	}
	*mean = m;
	*rstd = 1 / __builtin_sqrt(ss / size + eps);
}

CLONES REASSOC void nn_groupnorm(float *out, const float *x, size_t ng, size_t size, double eps) {
	for (size_t g = 0; g < ng; g++) {
		const float *v = x + g * size;
		float *o = out + g * size;
		double m, r;
		gn_stats(v, size, eps, &m, &r);
		for (size_t i = 0; i < size; i++) o[i] = (float)((v[i] - m) * r);
	}
}

// dx = rstd (dy - mean(dy) - xhat mean(dy xhat)) per group.
CLONES REASSOC void nn_groupnorm_grad(float *out, const float *x, const float *dy, size_t ng, size_t size, double eps) {
	for (size_t g = 0; g < ng; g++) {
		const float *v = x + g * size, *d = dy + g * size;
		float *o = out + g * size;
		double m, r, sd = 0, sdx = 0;
		gn_stats(v, size, eps, &m, &r);
		for (size_t i = 0; i < size; i++) {
			double xh = (v[i] - m) * r;
			sd += d[i];
			sdx += d[i] * xh;
		}
		sd /= size;
		sdx /= size;
		for (size_t i = 0; i < size; i++) {
			double xh = (v[i] - m) * r;
			o[i] = (float)(r * (d[i] - sd - xh * sdx));
		}
	}
}
*/
import "C"

import "unsafe"

// vecSiLU and vecSiLUGrad run SiLU and its gradient in C, vectorized by
// the compiler (8 lanes with AVX2): the scalar Go loops cost 5-8 ns an
// element, a fifth of a training step. NaN inputs give NaN as in Go.
// vecGroupNorm and vecGroupNormGrad do the same for group norm.
const haveVec = true

func vecSiLU(out, x []float32) {
	if len(x) == 0 {
		return
	}
	C.nn_silu((*C.float)(unsafe.Pointer(&out[0])), (*C.float)(unsafe.Pointer(&x[0])), C.size_t(len(x)))
}

func vecSiLUGrad(out, x, dy []float32) {
	if len(x) == 0 {
		return
	}
	C.nn_silu_grad((*C.float)(unsafe.Pointer(&out[0])), (*C.float)(unsafe.Pointer(&x[0])), (*C.float)(unsafe.Pointer(&dy[0])), C.size_t(len(x)))
}

func vecGroupNorm(out, x []float32, ng, size int, eps float64) {
	if ng == 0 || size == 0 {
		return
	}
	C.nn_groupnorm((*C.float)(unsafe.Pointer(&out[0])), (*C.float)(unsafe.Pointer(&x[0])), C.size_t(ng), C.size_t(size), C.double(eps))
}

func vecGroupNormGrad(out, x, dy []float32, ng, size int, eps float64) {
	if ng == 0 || size == 0 {
		return
	}
	C.nn_groupnorm_grad((*C.float)(unsafe.Pointer(&out[0])), (*C.float)(unsafe.Pointer(&x[0])), (*C.float)(unsafe.Pointer(&dy[0])), C.size_t(ng), C.size_t(size), C.double(eps))
}
