package gpu

import (
	"fmt"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
)

// KernelTime is one launch of a network and the time it takes alone.
type KernelTime struct {
	Net    string  // "score" or "decoder"
	Node   string  // the network node (with "+silu" where a SiLU is fused in)
	Kernel string  // the WGSL kernel
	MS     float64 // milliseconds a launch, alone on the device
}

// Profile times every launch of the score network and the decoder at batch
// n: each is submitted reps times in one command buffer, alone, and waited
// for, so a launch's time includes no other kernel's (nor, with reps large
// enough, much of the submission's fixed cost). It works on every adapter,
// where timestamp queries are an optional feature that browsers also
// coarsen.
func (g *Model) Profile(n, reps int) ([]KernelTime, error) {
	if n < 1 || reps < 1 {
		return nil, fmt.Errorf("gpu: profile needs a batch and repetitions of at least 1, got %d and %d", n, reps)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []KernelTime
	for _, part := range []struct {
		name string
		p    *runtime.Plan
		ps   params
	}{{"score", g.score, g.pScore}, {"decoder", g.dec, g.pDec}} {
		if part.p == nil { // no VAE: no decoder
			continue
		}
		nt, err := g.netFor(part.p, part.ps, n)
		if err != nil {
			return nil, err
		}
		r, err := g.D.newRecorder(1)
		if err != nil {
			return nil, err
		}
		// Once through the whole network first: pipelines and memory warm.
		nt.record(r)
		if err := r.submit(); err != nil {
			r.release()
			return nil, err
		}
		g.D.wait()
		for _, l := range nt.launches {
			for i := 0; i < reps; i++ {
				l.record(r)
			}
			start := time.Now()
			if err := r.submit(); err != nil {
				r.release()
				return nil, err
			}
			g.D.wait()
			ms := float64(time.Since(start).Microseconds()) / 1e3 / float64(reps)
			out = append(out, KernelTime{Net: part.name, Node: l.label, Kernel: l.k.name, MS: ms})
		}
		r.release()
	}
	return out, nil
}

// Profile times each launch of the program alone, as Model.Profile does:
// reps copies in one submission, waited for. Copies are not timed.
func (p *Program) Profile(reps int) ([]KernelTime, error) {
	if reps < 1 {
		return nil, fmt.Errorf("gpu: profile needs at least 1 repetition, got %d", reps)
	}
	if err := p.Run(); err != nil { // pipelines and memory warm
		return nil, err
	}
	p.d.wait()
	r, err := p.d.newRecorder(1)
	if err != nil {
		return nil, err
	}
	defer r.release()
	var out []KernelTime
	for i, s := range p.steps {
		if s.l == nil {
			continue
		}
		for j := 0; j < reps; j++ {
			s.l.record(r)
		}
		start := time.Now()
		if err := r.submit(); err != nil {
			return nil, err
		}
		p.d.wait()
		ms := float64(time.Since(start).Microseconds()) / 1e3 / float64(reps)
		out = append(out, KernelTime{Net: "program", Node: fmt.Sprint(i), Kernel: s.l.k.name, MS: ms})
	}
	return out, nil
}
