// Package runtime loads a weights file and runs the LSGM sampler: prior noise,
// an SDE solver over the latent score network, then the decoder.
//
// This file is the CPU reference of every op: plain loops over batch-major,
// channel-first float32 arrays ([n, c, h, w]). It is the spec that faster
// backends are tested against, so it favours clarity over speed; reductions
// that need it (group norm statistics) accumulate in float64.
package runtime

import "math"

// Linear computes y[i, o] = b[o] + sum_k x[i, k] w[o, k] for n rows.
func Linear(y, x, w, b []float32, n, in, out int) {
	for i := 0; i < n; i++ {
		xi := x[i*in : (i+1)*in]
		for o := 0; o < out; o++ {
			wo := w[o*in : (o+1)*in]
			acc := b[o]
			for k, v := range xi {
				acc += v * wo[k]
			}
			y[i*out+o] = acc
		}
	}
}

// ConvOut is the output size of a convolution along one axis.
func ConvOut(size, k, stride, pad int) int { return (size+2*pad-k)/stride + 1 }

// Conv2D is a 2-D cross-correlation with zero padding: x [n, c, h, w], weights
// [o, c, k, k], bias [o] -> y [n, o, ho, wo]. The loops run output channel,
// input channel, kernel tap, then output pixels, so the innermost loop walks a
// row of x with a fixed weight.
func Conv2D(y, x, w, b []float32, n, c, h, wd, o, k, stride, pad int) {
	ho, wo := ConvOut(h, k, stride, pad), ConvOut(wd, k, stride, pad)
	for i := 0; i < n; i++ {
		xi := x[i*c*h*wd : (i+1)*c*h*wd]
		for oc := 0; oc < o; oc++ {
			yo := y[(i*o+oc)*ho*wo : (i*o+oc+1)*ho*wo]
			for p := range yo {
				yo[p] = b[oc]
			}
			for ic := 0; ic < c; ic++ {
				xc := xi[ic*h*wd : (ic+1)*h*wd]
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						wv := w[((oc*c+ic)*k+ky)*k+kx]
						// Output columns whose input column ox*stride+kx-pad lies
						// inside the row; the rest read zero padding.
						lo, hi := validRange(wo, wd, kx, stride, pad)
						for oy := 0; oy < ho; oy++ {
							iy := oy*stride + ky - pad
							if iy < 0 || iy >= h {
								continue
							}
							row := xc[iy*wd : (iy+1)*wd]
							out := yo[oy*wo : (oy+1)*wo]
							for ox := lo; ox < hi; ox++ {
								out[ox] += wv * row[ox*stride+kx-pad]
							}
						}
					}
				}
			}
		}
	}
}

// validRange returns the output positions [lo, hi) of a convolution along one
// axis (out outputs, size inputs) whose input position o*stride+tap-pad is in
// [0, size).
func validRange(out, size, tap, stride, pad int) (lo, hi int) {
	lo = max(0, (pad-tap+stride-1)/stride)
	hi = min(out, (size-1+pad-tap)/stride+1)
	if size-1+pad-tap < 0 {
		hi = 0
	}
	return lo, max(lo, hi)
}

// GroupNorm normalizes x [n, c, hw] over each group of c/groups channels (mean
// and biased variance over the group's channels and positions), then scales and
// shifts per channel.
func GroupNorm(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32) {
	cg := c / groups
	for i := 0; i < n; i++ {
		for g := 0; g < groups; g++ {
			off := (i*c + g*cg) * hw
			seg := x[off : off+cg*hw]
			var s, s2 float64
			for _, v := range seg {
				s += float64(v)
				s2 += float64(v) * float64(v)
			}
			cnt := float64(len(seg))
			mean := s / cnt
			vr := math.Max(s2/cnt-mean*mean, 0)
			inv := 1 / math.Sqrt(vr+float64(eps))
			for j := 0; j < cg; j++ {
				ch := g*cg + j
				a := float64(gamma[ch]) * inv
				bb := float64(beta[ch]) - mean*a
				for p := 0; p < hw; p++ {
					q := off + j*hw + p
					y[q] = float32(float64(x[q])*a + bb)
				}
			}
		}
	}
}

// Upsample repeats each pixel of x [n, c, h, w] f times along both axes.
func Upsample(y, x []float32, n, c, h, w, f int) {
	for i := 0; i < n*c; i++ {
		for oy := 0; oy < h*f; oy++ {
			for ox := 0; ox < w*f; ox++ {
				y[(i*h*f+oy)*w*f+ox] = x[(i*h+oy/f)*w+ox/f]
			}
		}
	}
}

// SiLU computes y = x sigmoid(x).
func SiLU(y, x []float32) {
	for i, v := range x {
		y[i] = v / (1 + float32(math.Exp(-float64(v))))
	}
}

// Sigmoid computes y = 1 / (1 + exp(-x)).
func Sigmoid(y, x []float32) {
	for i, v := range x {
		y[i] = 1 / (1 + float32(math.Exp(-float64(v))))
	}
}

// Add computes y = a + b for n samples of size elements each; b has either size
// elements per sample or one per channel (bsize channels, size/bsize positions
// each), broadcast over positions.
func Add(y, a, b []float32, n, size, bsize int) {
	per := size / bsize
	for i := 0; i < n; i++ {
		for j := 0; j < size; j++ {
			y[i*size+j] = a[i*size+j] + b[i*bsize+j/per]
		}
	}
}

// Concat joins per-sample blocks: sample i of y is xs[0]'s sample i, then
// xs[1]'s, and so on; sizes[k] is the per-sample size of xs[k].
func Concat(y []float32, xs [][]float32, sizes []int, n int) {
	total := 0
	for _, s := range sizes {
		total += s
	}
	for i := 0; i < n; i++ {
		off := i * total
		for k, x := range xs {
			copy(y[off:off+sizes[k]], x[i*sizes[k]:(i+1)*sizes[k]])
			off += sizes[k]
		}
	}
}

// TimeEmbed writes the sinusoidal embedding of t[i] (Vaswani et al. 2017, as in
// DDPM): y[i] = [sin(s t f_0..f_{h-1}), cos(s t f_0..f_{h-1})],
// f_j = 10000^(-j/h), h = dim/2, s = scale.
func TimeEmbed(y, t []float32, n, dim int, scale float32) {
	h := dim / 2
	for i := 0; i < n; i++ {
		for j := 0; j < h; j++ {
			f := math.Exp(-math.Log(10000) * float64(j) / float64(h))
			a := float64(scale) * float64(t[i]) * f
			y[i*dim+j] = float32(math.Sin(a))
			y[i*dim+h+j] = float32(math.Cos(a))
		}
	}
}
