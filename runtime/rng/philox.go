// Package rng is the project's only source of randomness for sampling: a
// counter-based Philox4x32-10 generator (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011). A draw is a pure function of (seed, counter), so
// the CPU path, the WebGPU shaders and the browser produce the same noise for the
// same seed regardless of batch order, thread count or backend.
package rng

import "math"

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9 // golden ratio
	philoxW1 = 0xBB67AE85 // sqrt(3) - 1
)

// Philox4x32 runs the 10-round Philox4x32 bijection on counter ctr under key.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for i := 0; i < 10; i++ {
		if i > 0 {
			key[0] += philoxW0
			key[1] += philoxW1
		}
		p0 := uint64(philoxM0) * uint64(ctr[0])
		p1 := uint64(philoxM1) * uint64(ctr[2])
		hi0, lo0 := uint32(p0>>32), uint32(p0)
		hi1, lo1 := uint32(p1>>32), uint32(p1)
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
	}
	return ctr
}

// Uniform23 maps the top 23 bits of x to the open interval (0, 1) as (k+0.5)/2^23.
// Every value is exact in float32 (24-bit significand), so a GPU computes the
// same number; with 24 bits the largest would round up to 1.
func Uniform23(x uint32) float32 {
	return (float32(x>>9) + 0.5) * (1.0 / 8388608.0)
}

// BoxMuller turns two uniforms in (0, 1) into two independent standard normals.
// The transcendental functions run in float64 and round once; a float32 GPU
// implementation agrees to a few ulp (the GPU op tests state the tolerance).
func BoxMuller(u1, u2 float32) (float32, float32) {
	r := math.Sqrt(-2 * math.Log(float64(u1)))
	s, c := math.Sincos(2 * math.Pi * float64(u2))
	return float32(r * c), float32(r * s)
}

// Stream names what a block of noise is for, so that two uses of noise at the
// same step never share counters.
type Stream uint32

const (
	StreamInit      Stream = iota // the initial latent z_1
	StreamStep                    // the noise of a stochastic solver step
	StreamCorrector               // Langevin corrector noise (offset by corrector index)

	// Editing's draws, clear of the correctors' offsets.
	StreamGuide Stream = 64 // SDEdit: the guide's diffusion to the start time
	StreamKnown Stream = 65 // RePaint: the known region's diffusion at each step
	StreamJump  Stream = 66 // inpainting: the diffusion back of a resampling jump
	StreamClass Stream = 67 // a class-conditional model's unguided samples: each one's class
)

// Class draws sample's class among k (k >= 1) uniformly, from (seed,
// sample) alone: one Philox block on StreamClass, its first word scaled to
// [0, k) by a multiply and shift (a bias under k/2^32).
func Class(seed uint64, sample uint32, k int) int {
	r := Philox4x32([4]uint32{0, sample, 0, uint32(StreamClass)}, Key(seed))
	return int(uint64(r[0]) * uint64(k) >> 32)
}

// Key splits a 64-bit seed into the Philox key.
func Key(seed uint64) [2]uint32 { return [2]uint32{uint32(seed), uint32(seed >> 32)} }

// Normals fills dst with standard normals for one sample: element i of dst is a
// function of (seed, sample, step, stream, i) only. Counter layout:
// ctr = (i/4, sample, step, stream); each Philox block yields four normals.
func Normals(dst []float32, seed uint64, sample, step uint32, stream Stream) {
	key := Key(seed)
	for blk := 0; 4*blk < len(dst); blk++ {
		r := Philox4x32([4]uint32{uint32(blk), sample, step, uint32(stream)}, key)
		a, b := BoxMuller(Uniform23(r[0]), Uniform23(r[1]))
		c, d := BoxMuller(Uniform23(r[2]), Uniform23(r[3]))
		o := dst[4*blk:]
		if len(o) > 4 {
			o = o[:4]
		}
		for j, v := range [4]float32{a, b, c, d} {
			if j < len(o) {
				o[j] = v
			}
		}
	}
}

// Source draws batched noise for a sampler: a batch of n samples of dim elements,
// sample index offset by First so a large request split into batches draws the
// same noise as one batch.
type Source struct {
	Seed  uint64
	First uint32 // index of the batch's first sample
	Dim   int    // elements per sample
}

// Fill writes noise for every sample of the batch held in dst (len a multiple of Dim).
func (s Source) Fill(dst []float32, step int, stream Stream) {
	for i := 0; i*s.Dim < len(dst); i++ {
		Normals(dst[i*s.Dim:(i+1)*s.Dim], s.Seed, s.First+uint32(i), uint32(step), stream)
	}
}
