package gpu

import (
	"fmt"

	"github.com/lsgm-go/lsgm/runtime"
)

// The optimizer's ops (shaders/gradnorm.wgsl, adam.wgsl, ema.wgsl). They
// share two small buffers: the state, which GradNorm writes (the finite
// flag, each group's norm and clipping factor: StateLen values), and the
// hyper buffer, which the host writes before each step (each group's
// learning rate and bias corrections, then the EMA decay: HyperLen values).

// NormParts is the number of partial sums GradPartial leaves per group.
const NormParts = 64

// StateLen is the length of the optimizer state for groups parameter groups.
func StateLen(groups int) int { return 1 + 2*groups }

// HyperLen is the length of the hyper buffer for groups parameter groups.
func HyperLen(groups int) int { return 3*groups + 2 }

// Hyper lays out one step's host-side constants: per group its learning
// rate and bias corrections (from AdamStep: LR, C1, C2), then the EMA
// decay d and 1 - d (rounded from f64: from f32 d it would be off by 1e-5).
func Hyper(steps []runtime.AdamStep, emaDecay float64) []float32 {
	out := make([]float32, 0, HyperLen(len(steps)))
	for _, s := range steps {
		out = append(out, float32(s.LR), float32(s.C1), float32(s.C2))
	}
	return append(out, float32(emaDecay), float32(1-emaDecay))
}

// GradPartial adds the squares of x[:n] into group's NormParts slots of parts.
func (p *Program) GradPartial(parts, x *Buffer, n, group int) error {
	if err := need("gradpartial", x, n, parts, (group+1)*NormParts); err != nil {
		return err
	}
	return p.add(p.d.prep("gradpartial", NormParts, 1, []uint32{uint32(n), uint32(group), 0, NormParts, 0}, x, parts))
}

// GradNorm turns groups' partial sums into the state: the finite flag, the
// norms and the clipping factors for a maximum norm clip (0: none). It
// clears the partial sums for the next step.
func (p *Program) GradNorm(state, parts *Buffer, groups int, clip float64) error {
	if err := need("graddecide", parts, groups*NormParts, state, StateLen(groups)); err != nil {
		return err
	}
	return p.add(p.d.prep("graddecide", 1, 1, []uint32{0, 0, uint32(groups), NormParts, f32bits(clip)}, parts, state))
}

// Adam updates w[:n] and its moments m, v from the gradient g, as group of
// groups (its constants from hyper, its clipping factor and the finite flag
// from state).
func (p *Program) Adam(w, m, v, g, state, hyper *Buffer, n, group, groups int, beta1, beta2, eps float64, max bool) error {
	if err := need("adam", g, n, w, n, m, n, v, n, state, StateLen(groups), hyper, HyperLen(groups)); err != nil {
		return err
	}
	if group >= groups {
		return fmt.Errorf("gpu: adam: group %d of %d", group, groups)
	}
	gx, gy := grid(n)
	return p.add(p.d.prep("adam", gx, gy, []uint32{uint32(n), uint32(group), b2u(max), uint32(groups), f32bits(beta1), f32bits(beta2), f32bits(eps), 0, f32bits(1 - beta1), f32bits(1 - beta2)},
		g, state, hyper, w, m, v))
}

// EMA moves s[:n] toward w with the decay in hyper (after groups' constants).
func (p *Program) EMA(s, w, state, hyper *Buffer, n, groups int) error {
	if err := need("ema", w, n, s, n, state, 1, hyper, HyperLen(groups)); err != nil {
		return err
	}
	gx, gy := grid(n)
	return p.add(p.d.prep("ema", gx, gy, []uint32{uint32(n), uint32(3 * groups)}, w, state, hyper, s))
}
