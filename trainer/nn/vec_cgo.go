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
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

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

// Group norm over ng groups of size floats each. The statistics are sums in
// double, in one pass: the variance as E[x^2] - mean^2 loses only what
// double's 53 bits lose to mean^2 / variance, far below float32's rounding
// for any activation. The per-element work is then one float32 FMA (the
// forward) or two (the gradient), so each kernel reads its inputs twice
// where the two-pass form read them three or four times, all in double.
// The sums may be reassociated (lanes of partial sums), which the
// reductions need to vectorize.
#define REASSOC __attribute__((optimize("associative-math", "no-signed-zeros")))

static inline double gn_rstd(double m, double ss, size_t size, double eps) {
	double var = ss / size - m * m;
	return 1 / __builtin_sqrt((var > 0 ? var : 0) + eps);
}

// The elementwise forms subtract a mean in float32 as its float32 part (exact
// for values near it) and then the rest, before scaling: a constant group
// gives exact zeros, and a mean far above the spread loses nothing to
// float32's rounding of the mean. They are kept apart from the sums'
// reassociation, which would fold the two subtractions into one.
__attribute__((noinline)) CLONES static void gn_apply(float *o, const float *v, size_t size, float mf, float dm, float rf) {
	for (size_t i = 0; i < size; i++) o[i] = ((v[i] - mf) - dm) * rf;
}

__attribute__((noinline)) CLONES static void gn_apply_grad(float *o, const float *v, const float *d, size_t size,
		float mf, float dm, float mdf, float ddm, float a, float b) {
	for (size_t i = 0; i < size; i++) o[i] = a * ((d[i] - mdf) - ddm) + b * ((v[i] - mf) - dm);
}

CLONES REASSOC void nn_groupnorm(float *out, const float *x, size_t ng, size_t size, double eps) {
	for (size_t g = 0; g < ng; g++) {
		const float *v = x + g * size;
		float *o = out + g * size;
		double s = 0, ss = 0;
		for (size_t i = 0; i < size; i++) {
			double xv = v[i];
			s += xv;
			ss += xv * xv;
		}
		double m = s / size, r = gn_rstd(m, ss, size, eps);
		float mf = (float)m;
		gn_apply(o, v, size, mf, (float)(m - mf), (float)r);
	}
}

// dx = rstd (dy - mean(dy) - xhat mean(dy xhat)) per group, with
// mean(dy xhat) = rstd (mean(dy x) - mean mean(dy)): one pass of sums, then
// dx = A (dy - mean(dy)) + B (x - mean).
CLONES REASSOC void nn_groupnorm_grad(float *out, const float *x, const float *dy, size_t ng, size_t size, double eps) {
	for (size_t g = 0; g < ng; g++) {
		const float *v = x + g * size, *d = dy + g * size;
		float *o = out + g * size;
		double s = 0, ss = 0, sd = 0, sdx = 0;
		for (size_t i = 0; i < size; i++) {
			double xv = v[i], dv = d[i];
			s += xv;
			ss += xv * xv;
			sd += dv;
			sdx += dv * xv;
		}
		double m = s / size, r = gn_rstd(m, ss, size, eps);
		double md = sd / size, mdx = r * (sdx / size - m * md);
		float mf = (float)m, mdf = (float)md;
		gn_apply_grad(o, v, d, size, mf, (float)(m - mf), mdf, (float)(md - mdf), (float)r, (float)(-r * r * mdx));
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
