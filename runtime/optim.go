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

// BiasCorrection is Adam's 1 - beta^t, as -expm1(t ln beta): no
// cancellation at small t.
func BiasCorrection(beta float64, t int) float64 { return -math.Expm1(float64(t) * math.Log(beta)) }

// AdamStepAt is the AdamStep of an optimizer's t-th step (t >= 1): base
// learning rate lr warmed up linearly over warmup steps, min(1, t/warmup).
func AdamStepAt(lr, beta1, beta2, eps, clip float64, t, warmup int, max bool) AdamStep {
	return AdamStep{LR: lr * math.Min(1, float64(t)/float64(warmup)), Beta1: beta1, Beta2: beta2, Eps: eps,
		C1: BiasCorrection(beta1, t), C2: BiasCorrection(beta2, t), Clip: clip, Max: max}
}

// The counters of a device-resident training step (shaders/gradnorm.wgsl,
// adam.wgsl, stepstats.wgsl): each optimizer group's step count (group 0
// the VAE's, 1 the prior's), the skipped steps, the current and the longest
// run of them since the last read, the finite steps since then, and the
// sums over those of StepValues values and of each group's gradient norm.
const (
	CountT         = 0 // + group
	CountSkipped   = 2
	CountStreak    = 3
	CountMaxStreak = 4
	CountFinite    = 5
	CountSums      = 6  // StepValues sums, then the two groups' norms
	StepValues     = 7  // the loss parts, the prior graph's CE, the posterior's statistic
	CountersLen    = 15 // CountSums + StepValues + 2
)

// StepStats is one step's bookkeeping of the counters c: a finite step's
// values and gradient norms (norms[g] for each group g that stepped) added
// and counted, the run of skipped steps cleared; a skipped step counted.
func StepStats(c, vals []float32, norms map[int]float32, finite bool) {
	if !finite {
		c[CountSkipped]++
		c[CountStreak]++
		c[CountMaxStreak] = max(c[CountMaxStreak], c[CountStreak])
		return
	}
	c[CountStreak] = 0
	c[CountFinite]++
	for i, v := range vals {
		c[CountSums+i] += v
	}
	for g, n := range norms {
		c[CountSums+StepValues+g] += n
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
