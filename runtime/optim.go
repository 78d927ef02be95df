package runtime

import "math"

// The optimizer's ops: the trainer's Adam and EMA updates, kept here so the
// CPU trainer and the GPU kernels (shaders/optim.wgsl) share one reference.

// AdamStep is one update's constants: the learning rate (with its warm-up),
// the moments' decays, the bias corrections C1 = 1 - Beta1^t and
// C2 = 1 - Beta2^t, and Clip, the factor the gradient is scaled by
// (global-norm clipping). Max selects Adamax.
type AdamStep struct {
	LR, Beta1, Beta2, Eps float64
	C1, C2, Clip          float64
	Max                   bool
}

// Apply updates p and its moments m and v in place from the gradient g,
// computing in float64 and storing float32.
func (s AdamStep) Apply(p, m, v, g []float32) {
	b1, b2 := s.Beta1, s.Beta2
	for i := range p {
		gi := float64(g[i]) * s.Clip
		mi := b1*float64(m[i]) + (1-b1)*gi
		var vi, step float64
		if s.Max {
			vi = math.Max(b2*float64(v[i]), math.Abs(gi))
			step = s.LR / s.C1 * mi / (vi + s.Eps)
		} else {
			vi = b2*float64(v[i]) + (1-b2)*gi*gi
			step = s.LR * (mi / s.C1) / (math.Sqrt(vi/s.C2) + s.Eps)
		}
		m[i], v[i] = float32(mi), float32(vi)
		p[i] -= float32(step)
	}
}

// EMAUpdate moves the average s toward p: s = d s + (1 - d) p.
func EMAUpdate(s, p []float32, d float64) {
	for i := range p {
		s[i] = float32(d*float64(s[i]) + (1-d)*float64(p[i]))
	}
}

// ClipFactor is global-norm clipping's scale for a gradient of the given
// norm: clip / norm above clip (clip 0: no clipping), 1 otherwise.
func ClipFactor(norm, clip float64) float64 {
	if clip > 0 && norm > clip {
		return clip / norm
	}
	return 1
}
