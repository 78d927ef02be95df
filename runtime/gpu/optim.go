package gpu

import (
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime"
)

// The optimizer's ops (shaders/gradnorm.wgsl, adam.wgsl, ema.wgsl,
// stepstats.wgsl). They share small buffers: the state, which GradNorm
// writes each step (the finite flag, each group's norm and clipping factor:
// StateLen values); the counters (runtime.CountersLen values: the
// optimizers' step counts, the skipped steps, the sums for the log); and
// the EMA's rates, which the host writes before each step (EMARates).

// NormParts is the number of partial sums GradPartial leaves per group.
const NormParts = 64

// StateLen is the length of the optimizer state for groups parameter groups.
func StateLen(groups int) int { return 1 + 2*groups }

// EMARates is the EMA's decay d and 1 - d, rounded from f64 (from an f32 d,
// 1 - d would be off by 1e-5).
func EMARates(d float64) []float32 { return []float32{float32(d), float32(1 - d)} }

// GradPartial adds the squares of x[:n] into group's NormParts slots of parts.
func (p *Program) GradPartial(parts, x *Buffer, n, group int) error {
	if err := need("gradpartial", x, n, parts, (group+1)*NormParts); err != nil {
		return err
	}
	return p.add(p.d.prep("gradpartial", NormParts, 1, []uint32{uint32(n), uint32(group), 0, NormParts, 0}, x, parts))
}

// GradNorm turns groups' partial sums into the state: the finite flag, the
// norms and the clipping factors for a maximum norm clip (0: none); on a
// finite step it counts a step of each group's optimizer (the groups are
// gids[i] in the counters). It clears the partial sums for the next step.
func (p *Program) GradNorm(state, parts, counters *Buffer, groups int, gids [2]int, clip float64) error {
	if err := need("graddecide", parts, groups*NormParts, state, StateLen(groups), counters, runtime.CountersLen); err != nil {
		return err
	}
	return p.add(p.d.prep("graddecide", 1, 1, []uint32{0, 0, uint32(groups), NormParts, f32bits(clip), uint32(gids[0]), uint32(gids[1]), 0}, parts, state, counters))
}

// StepStats adds a step's bookkeeping to the counters (runtime.StepStats):
// vals holds its runtime.StepValues values; the state its finite flag and
// the norms of groups (counter groups gids).
func (p *Program) StepStats(counters, vals, state *Buffer, groups int, gids [2]int) error {
	if err := need("stepstats", vals, runtime.StepValues, state, StateLen(groups), counters, runtime.CountersLen); err != nil {
		return err
	}
	return p.add(p.d.prep("stepstats", 1, 1, []uint32{uint32(groups), uint32(gids[0]), uint32(gids[1]), runtime.StepValues}, vals, state, counters))
}

// AdamConfig is an optimizer's fixed settings.
type AdamConfig struct {
	LR, Beta1, Beta2, Eps float64
	Warmup                int
	Max                   bool
}

// Adam updates w[:n] and its moments m, v from the gradient g, as group of
// groups (its clipping factor and the finite flag from state) and counter
// group gid (its step count, which GradNorm has advanced, from counters).
func (p *Program) Adam(w, m, v, g, state, counters *Buffer, n, group, groups, gid int, c AdamConfig) error {
	if err := need("adam", g, n, w, n, m, n, v, n, state, StateLen(groups), counters, runtime.CountersLen); err != nil {
		return err
	}
	if group >= groups {
		return fmt.Errorf("gpu: adam: group %d of %d", group, groups)
	}
	gx, gy := grid(n)
	return p.add(p.d.prep("adam", gx, gy, []uint32{
		uint32(n), uint32(group), b2u(c.Max), uint32(groups),
		f32bits(c.Beta1), f32bits(c.Beta2), f32bits(c.Eps), f32bits(c.LR),
		f32bits(1 - c.Beta1), f32bits(1 - c.Beta2), f32bits(math.Log(c.Beta1)), f32bits(math.Log(c.Beta2)),
		f32bits(float64(max(1, c.Warmup))), uint32(gid), 0, 0},
		g, state, counters, w, m, v))
}

// EMA moves s[:n] toward w with the rates in rates (EMARates).
func (p *Program) EMA(s, w, state, rates *Buffer, n int) error {
	if err := need("ema", w, n, s, n, state, 1, rates, 2); err != nil {
		return err
	}
	gx, gy := grid(n)
	return p.add(p.d.prep("ema", gx, gy, []uint32{uint32(n), 0}, w, state, rates, s))
}
