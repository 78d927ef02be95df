package runtime

import "math"

// The training ops: the backward passes of the network's layers and the
// likelihoods, which the trainer's GPU path runs. Like the rest of this
// package they are the plain reference the GPU kernels are tested against
// (runtime/optest); the sampler never calls them.

// Conv2DData is the convolution's input gradient: dx [n, c, h, w] from the
// output gradient dy [n, o, ho, wo] and the weights w [o, c, k, k], the
// adjoint of Conv2D without its bias.
func Conv2DData(dx, dy, w []float32, n, c, h, wd, o, k, stride, pad int) {
	ho, wo := ConvOut(h, k, stride, pad), ConvOut(wd, k, stride, pad)
	clear(dx[:n*c*h*wd])
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			g := dy[(i*o+oc)*ho*wo : (i*o+oc+1)*ho*wo]
			for ic := 0; ic < c; ic++ {
				plane := dx[(i*c+ic)*h*wd : (i*c+ic+1)*h*wd]
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						wv := w[((oc*c+ic)*k+ky)*k+kx]
						lo, hi := validRange(wo, wd, kx, stride, pad)
						for oy := 0; oy < ho; oy++ {
							iy := oy*stride + ky - pad
							if iy < 0 || iy >= h {
								continue
							}
							for ox := lo; ox < hi; ox++ {
								plane[iy*wd+ox*stride+kx-pad] += wv * g[oy*wo+ox]
							}
						}
					}
				}
			}
		}
	}
}

// Conv2DFilter is the convolution's weight gradient: dw [o, c, k, k] =
// sum over images and output positions of dy times the input under the tap.
// Sums run in float64.
func Conv2DFilter(dw, x, dy []float32, n, c, h, wd, o, k, stride, pad int) {
	ho, wo := ConvOut(h, k, stride, pad), ConvOut(wd, k, stride, pad)
	for oc := 0; oc < o; oc++ {
		for ic := 0; ic < c; ic++ {
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					lo, hi := validRange(wo, wd, kx, stride, pad)
					var s float64
					for i := 0; i < n; i++ {
						g := dy[(i*o+oc)*ho*wo : (i*o+oc+1)*ho*wo]
						plane := x[(i*c+ic)*h*wd : (i*c+ic+1)*h*wd]
						for oy := 0; oy < ho; oy++ {
							iy := oy*stride + ky - pad
							if iy < 0 || iy >= h {
								continue
							}
							for ox := lo; ox < hi; ox++ {
								s += float64(g[oy*wo+ox]) * float64(plane[iy*wd+ox*stride+kx-pad])
							}
						}
					}
					dw[((oc*c+ic)*k+ky)*k+kx] = float32(s)
				}
			}
		}
	}
}

// GroupNormGrad is the input gradient of group normalisation without its
// affine part (GroupNorm with gamma 1 and beta 0): per group,
// dx = rstd (dy - mean(dy) - xhat mean(dy xhat)), statistics in float64.
func GroupNormGrad(dx, x, dy []float32, n, c, hw, groups int, eps float32) {
	size := c / groups * hw
	for g := 0; g < n*groups; g++ {
		xs, ds := x[g*size:(g+1)*size], dy[g*size:(g+1)*size]
		var s, s2 float64
		for _, v := range xs {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		mean := s / float64(size)
		rstd := 1 / math.Sqrt(math.Max(s2/float64(size)-mean*mean, 0)+float64(eps))
		var sd, sdx float64
		for i, v := range xs {
			xh := (float64(v) - mean) * rstd
			sd += float64(ds[i])
			sdx += float64(ds[i]) * xh
		}
		sd /= float64(size)
		sdx /= float64(size)
		for i, v := range xs {
			xh := (float64(v) - mean) * rstd
			dx[g*size+i] = float32(rstd * (float64(ds[i]) - sd - xh*sdx))
		}
	}
}

// UpsampleGrad sums each f x f block of dy [n, c, h f, w f] into dx [n, c, h, w].
func UpsampleGrad(dx, dy []float32, n, c, h, w, f int) {
	for i := 0; i < n*c; i++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var s float32
				for dy0 := 0; dy0 < f; dy0++ {
					for dx0 := 0; dx0 < f; dx0++ {
						s += dy[(i*h*f+y*f+dy0)*w*f+x*f+dx0]
					}
				}
				dx[(i*h+y)*w+x] = s
			}
		}
	}
}

// SumAxis sums x [outer, k, inner] over its middle axis into y [outer, inner],
// in float64.
func SumAxis(y, x []float32, outer, k, inner int) {
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			var s float64
			for j := 0; j < k; j++ {
				s += float64(x[(o*k+j)*inner+i])
			}
			y[o*inner+i] = float32(s)
		}
	}
}

// MatMul computes c [m, n] = op(a) op(b) with op a transpose where ta (tb)
// is set: a is [m, k] or, transposed, [k, m]; b is [k, n] or [n, k].
func MatMul(c, a, b []float32, m, n, k int, ta, tb bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				av, bv := a[i*k+p], b[p*n+j]
				if ta {
					av = a[p*m+i]
				}
				if tb {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			c[i*n+j] = s
		}
	}
}
