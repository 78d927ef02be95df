package gpu

import (
	"fmt"

	"github.com/cogentcore/webgpu/wgpu"
)

// launch is a prepared static kernel launch: its parameters and buffers are
// fixed when a network is compiled for a batch size, so a sampling run only
// replays them.
type launch struct {
	label string // the network node it computes, for Profile
	k     *kernel
	bg    *wgpu.BindGroup
	u     *wgpu.Buffer
	x, y  uint32
	z     uint32 // 0 or 1: a 2-D grid
}

func (l *launch) release() {
	l.bg.Release()
	l.u.Release()
}

func (l *launch) record(r *recorder) { r.launch(l.k, l.bg, l.x, l.y, l.z) }

// prep compiles name's kernel (once), makes its uniform from words and binds bufs.
func (d *Device) prep(name string, x, y uint32, words []uint32, bufs ...*Buffer) (*launch, error) {
	k, err := d.kernel(name)
	if err != nil {
		return nil, err
	}
	u, err := d.uniform(words...)
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	bg, err := d.bind(k, u, bufs...)
	if err != nil {
		u.Release()
		return nil, err
	}
	return &launch{k: k, bg: bg, u: u, x: x, y: y}, nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// tiles is the number of 32-wide tiles covering n.
func tiles(n int) uint32 { return uint32((n + 31) / 32) }

// maxGroups is WebGPU's default maxComputeWorkgroupsPerDimension.
const maxGroups = 65535

func (d *Device) prepLinear(y, x, w, b *Buffer, n, in, out int, act bool) (*launch, error) {
	if tiles(n) > maxGroups || tiles(out) > maxGroups {
		return nil, fmt.Errorf("gpu: linear %dx%d is beyond the dispatch limit", n, out)
	}
	return d.prep("matmul", tiles(out), tiles(n), []uint32{uint32(n), uint32(out), uint32(in), b2u(act)}, x, w, b, y)
}

// ConvOut as in the runtime: (size + 2 pad - k) / stride + 1.
func convOut(size, k, stride, pad int) int { return (size+2*pad-k)/stride + 1 }

func (d *Device) prepConv(y, x, w, b *Buffer, n, c, h, wd, o, k, stride, pad int, act bool) (*launch, error) {
	ho, wo := convOut(h, k, stride, pad), convOut(wd, k, stride, pad)
	cols := n * ho * wo
	// conv2d.wgsl's tiles: main's are 32 channels by 64 columns; half's,
	// for 5 to 16 channels, 16 by 128; narrow's, for the networks' outputs
	// of up to 4 channels, 4 by 256.
	name, colTiles, rowTiles := "conv2d", uint32((cols+63)/64), tiles(o)
	switch {
	case o <= 4:
		name, colTiles, rowTiles = "conv2d4", uint32((cols+255)/256), 1
	case o <= 16:
		name, colTiles, rowTiles = "conv2d16", uint32((cols+127)/128), 1
	}
	if colTiles > maxGroups || rowTiles > maxGroups {
		return nil, fmt.Errorf("gpu: conv2d with %d output positions is beyond the dispatch limit; use a smaller batch", cols)
	}
	return d.prep(name, colTiles, rowTiles, []uint32{
		uint32(n), uint32(c), uint32(h), uint32(wd), uint32(o), uint32(k), uint32(stride), uint32(pad),
		uint32(ho), uint32(wo), b2u(act), 0}, x, w, b, y)
}

func (d *Device) prepGroupNorm(y, x, gamma, beta *Buffer, n, c, hw, groups int, eps float32, act bool) (*launch, error) {
	if n > maxGroups || groups > maxGroups {
		return nil, fmt.Errorf("gpu: group norm over %d samples is beyond the dispatch limit", n)
	}
	return d.prep("groupnorm", uint32(groups), uint32(n), []uint32{uint32(c), uint32(hw), uint32(groups), b2u(act), f32bits(float64(eps))}, x, gamma, beta, y)
}

func (d *Device) prepUpsample(y, x *Buffer, n, c, h, w, f int) (*launch, error) {
	gx, gy := grid(n * c * h * w * f * f)
	return d.prep("upsample", gx, gy, []uint32{uint32(n * c), uint32(h), uint32(w), uint32(f)}, x, y)
}

// unary ops of unary.wgsl.
const (
	opSiLU    = 0
	opSigmoid = 1
)

func (d *Device) prepUnary(y, x *Buffer, n int, op uint32) (*launch, error) {
	gx, gy := grid(n)
	return d.prep("unary", gx, gy, []uint32{uint32(n), op}, x, y)
}

func (d *Device) prepAdd(y, a, b *Buffer, n, size, bsize int) (*launch, error) {
	gx, gy := grid(n * size)
	return d.prep("add", gx, gy, []uint32{uint32(n), uint32(size), uint32(bsize)}, a, b, y)
}

func (d *Device) prepConcatPart(y, x *Buffer, n, size, total, off int) (*launch, error) {
	gx, gy := grid(n * size)
	return d.prep("concat", gx, gy, []uint32{uint32(n), uint32(size), uint32(total), uint32(off)}, x, y)
}

func (d *Device) prepTimeEmbed(y, t *Buffer, n, dim int, scale float32) (*launch, error) {
	gx, gy := grid(n * dim / 2)
	return d.prep("timeembed", gx, gy, []uint32{uint32(n), uint32(dim), f32bits(float64(scale))}, t, y)
}

// rgba modes of rgba.wgsl.
const (
	rgbaSigmoid = 0
	rgbaSigned  = 1
)

func (d *Device) prepRGBA(y, x *Buffer, n, c, hw int, mode uint32) (*launch, error) {
	gx, gy := grid(n * hw)
	return d.prep("rgba", gx, gy, []uint32{uint32(n), uint32(c), uint32(hw), mode}, x, y)
}

// Dynamic kernels: recorded with their parameters at each use.

// fill sets y[:n] = v.
func (r *recorder) fill(y *Buffer, n int, v float64) error {
	return r.launchDyn("fill", n, []uint32{uint32(n), f32bits(v)}, y)
}

// term is one input of a lincomb.
type term struct {
	c float64
	b *Buffer
}

// lincomb records y = cy y + sum c_i b_i over n values (at most 4 terms; no
// term may be y itself: WebGPU forbids a writable binding that aliases another).
func (r *recorder) lincomb(y *Buffer, n int, cy float64, terms ...term) error {
	if len(terms) > 4 {
		return fmt.Errorf("gpu: internal: lincomb of %d terms", len(terms))
	}
	words := []uint32{uint32(n), f32bits(cy), 0, 0, 0, 0}
	bufs := make([]*Buffer, 5)
	for i, t := range terms {
		if t.b == y {
			return fmt.Errorf("gpu: internal: lincomb input %d aliases its output", i)
		}
		words[2+i], bufs[i] = f32bits(t.c), t.b
	}
	bufs[4] = y
	return r.launchDyn("lincomb", n, words, bufs...)
}

// mixed records eps = (1 - c) k z + c eps over n values of latents of dim.
func (r *recorder) mixed(eps, z, coeff *Buffer, n, dim int, k float64) error {
	return r.launchDyn("mixed", n, []uint32{uint32(n), uint32(dim), f32bits(k)}, z, coeff, eps)
}

// cfg records y = uncond + w (cond - uncond) for eps = [cond; uncond], n
// values a half (classifier-free guidance).
func (r *recorder) cfg(y, eps *Buffer, n int, w float64) error {
	return r.launchDyn("cfg", n, []uint32{uint32(n), f32bits(w)}, eps, y)
}

// noise is the key of a Philox draw (see runtime/rng).
type noise struct {
	seed  uint64
	first uint32
	dim   int
}

// normals records count samples' standard normals for (step, stream) into y.
func (r *recorder) normals(y *Buffer, nz noise, count, step int, stream uint32) error {
	per := (nz.dim + 3) / 4
	return r.launchDyn("normals", count*per, []uint32{uint32(nz.seed), uint32(nz.seed >> 32), nz.first, uint32(nz.dim), uint32(step), stream, uint32(count), 0}, y)
}

// words records the raw Philox words (4 per block) into y, for tests.
func (r *recorder) words(y *Buffer, nz noise, count, step int, stream uint32) error {
	per := (nz.dim + 3) / 4
	return r.launchDyn("words", count*per, []uint32{uint32(nz.seed), uint32(nz.seed >> 32), nz.first, uint32(nz.dim), uint32(step), stream, uint32(count), 0}, y)
}
