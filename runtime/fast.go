package runtime

// Kernels runs the heavy ops of a network on the CPU fast. Natively:
// convolutions as im2col and one matrix multiply over the whole batch,
// linear layers as one matrix multiply, where the multiply is gemm
// (OpenBLAS's or gonum's). In the browser build: the project's WebAssembly
// SIMD kernels (runtime/simd) where the page loaded them, else the same
// im2col with a register-tiled Go multiply (gemm_js.go). act fuses a SiLU
// after the op. The loops in ops.go stay the reference these are tested
// against (runtime/optest's CPUFast backend). A Kernels holds scratch
// space; it is not safe for concurrent use.
type Kernels struct {
	col, out []float32
}

func grow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	return (*b)[:n]
}

// Linear computes what runtime.Linear does: y[i, o] = b[o] + sum_k x[i, k] w[o, k]
// (a 1x1 convolution of a 1x1 image, to the SIMD kernels).
func (kn *Kernels) Linear(y, x, w, b []float32, n, in, out int, act bool) {
	if convSIMD(y, x, w, b, n, in, 1, 1, out, 1, 1, 0, act) {
		return
	}
	gemm(true, n, out, in, x, in, w, in, y, out)
	for i := 0; i < n; i++ {
		row := y[i*out : (i+1)*out]
		for o, v := range b[:out] {
			row[o] += v
		}
	}
	if act {
		SiLU(y[:n*out], y[:n*out])
	}
}

// GroupNorm computes what runtime.GroupNorm does.
func (kn *Kernels) GroupNorm(y, x, gamma, beta []float32, n, c, hw, groups int, eps float32, act bool) {
	if groupNormSIMD(y, x, gamma, beta, n, c, hw, groups, eps, act) {
		return
	}
	GroupNorm(y, x, gamma, beta, n, c, hw, groups, eps)
	if act {
		SiLU(y[:n*c*hw], y[:n*c*hw])
	}
}

// SiLU computes what runtime.SiLU does.
func (kn *Kernels) SiLU(y, x []float32) {
	if !siluSIMD(y, x) {
		SiLU(y, x)
	}
}

// Sigmoid computes what runtime.Sigmoid does.
func (kn *Kernels) Sigmoid(y, x []float32) {
	if !sigmoidSIMD(y, x) {
		Sigmoid(y, x)
	}
}

// Add computes what runtime.Add does.
func (kn *Kernels) Add(y, a, b []float32, n, size, bsize int) {
	if !addSIMD(y, a, b, n, size, bsize) {
		Add(y, a, b, n, size, bsize)
	}
}

// Conv2D computes what runtime.Conv2D does, for x [n, c, h, w], weights
// [o, c, k, k], bias [o] -> y [n, o, ho, wo]: the patches of every sample
// go into one matrix col [c k k, n ho wo] (a 1x1 convolution of one sample
// uses x as it is), out [o, n ho wo] = w col (for one sample, y itself),
// and out is scattered into y with the bias added.
func (kn *Kernels) Conv2D(y, x, w, b []float32, n, c, h, wd, o, k, stride, pad int, act bool) {
	if convSIMD(y, x, w, b, n, c, h, wd, o, k, stride, pad, act) {
		return
	}
	ho, wo := ConvOut(h, k, stride, pad), ConvOut(wd, k, stride, pad)
	hw, K := ho*wo, c*k*k
	if act {
		defer SiLU(y[:n*o*hw], y[:n*o*hw])
	}
	N := n * hw
	var col []float32
	if k == 1 && stride == 1 && pad == 0 && n == 1 {
		col = x[:K*N] // a 1x1 convolution of one sample: x is col already
	} else {
		col = grow(&kn.col, K*N)
		im2col(col, x, n, c, h, wd, k, stride, pad, ho, wo)
	}
	if n == 1 { // [o, hw] is y's own layout for one sample
		gemm(false, o, N, K, w, K, col, N, y, N)
		for oc := 0; oc < o; oc++ {
			addConst(y[oc*hw:(oc+1)*hw], b[oc])
		}
		return
	}
	out := grow(&kn.out, o*N)
	gemm(false, o, N, K, w, K, col, N, out, N)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			dst := y[(i*o+oc)*hw : (i*o+oc+1)*hw]
			src := out[oc*N+i*hw : oc*N+(i+1)*hw]
			bv := b[oc]
			for p, v := range src {
				dst[p] = v + bv
			}
		}
	}
}

func addConst(x []float32, v float32) {
	for i := range x {
		x[i] += v
	}
}

// im2col writes col[(ic k + ky) k + kx, i ho wo + oy wo + ox] =
// x[i, ic, oy s + ky - pad, ox s + kx - pad], zero outside the image.
func im2col(col, x []float32, n, c, h, wd, k, stride, pad, ho, wo int) {
	N := n * ho * wo
	for ic := 0; ic < c; ic++ {
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := col[((ic*k+ky)*k+kx)*N:][:N]
				lo, hi := validRange(wo, wd, kx, stride, pad)
				for i := 0; i < n; i++ {
					xc := x[(i*c+ic)*h*wd:][:h*wd]
					for oy := 0; oy < ho; oy++ {
						dst := row[(i*ho+oy)*wo:][:wo]
						iy := oy*stride + ky - pad
						if iy < 0 || iy >= h {
							clear(dst)
							continue
						}
						src := xc[iy*wd:][:wd]
						clear(dst[:lo])
						clear(dst[hi:])
						if stride == 1 {
							copy(dst[lo:hi], src[lo+kx-pad:])
							continue
						}
						for ox := lo; ox < hi; ox++ {
							dst[ox] = src[ox*stride+kx-pad]
						}
					}
				}
			}
		}
	}
}
