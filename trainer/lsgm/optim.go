package lsgm

import (
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime"
)

// Adam is Adam (Kingma & Ba 2015) or, with Max, Adamax, over a group of
// named parameters, with global-norm gradient clipping and weight decay
// folded into the gradient. Its state is exported for checkpoints.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	Clip                  float64 // max global gradient norm; 0 = none
	Max                   bool    // Adamax
	T                     int     // steps taken
	M, V                  map[string][]float32
}

// NewAdam returns an optimizer with the usual constants.
func NewAdam(lr float64, max bool, clip float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: clip, Max: max, M: map[string][]float32{}, V: map[string][]float32{}}
}

// GradNorm is the global L2 norm of grads (NaN or Inf if any element is).
func GradNorm(grads map[string][]float32) float64 {
	var s float64
	for _, g := range grads {
		for _, v := range g {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// Step applies one update with learning rate lr*scale (scale carries the
// warm-up); norm is GradNorm(grads), which the caller has to hand for
// logging and for checking every group before any is updated. It refuses a
// non-finite norm without touching anything.
func (o *Adam) Step(params, grads map[string][]float32, norm, scale float64) error {
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("lsgm: gradient norm is %v", norm)
	}
	o.T++
	st := runtime.AdamStep{LR: o.LR * scale, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, Max: o.Max,
		C1: runtime.BiasCorrection(o.Beta1, o.T), C2: runtime.BiasCorrection(o.Beta2, o.T), Clip: runtime.ClipFactor(norm, o.Clip)}
	for name, g := range grads {
		p := params[name]
		m, v := o.M[name], o.V[name]
		if m == nil {
			m, v = make([]float32, len(p)), make([]float32, len(p))
			o.M[name], o.V[name] = m, v
		}
		st.Apply(p, m, v, g)
	}
	return nil
}

// EMA keeps an exponential moving average of parameters for sampling.
type EMA struct {
	Decay  float64
	Shadow map[string][]float32
}

// NewEMA starts the average at the current parameters.
func NewEMA(decay float64, params map[string][]float32) *EMA {
	e := &EMA{Decay: decay, Shadow: map[string][]float32{}}
	for n, p := range params {
		e.Shadow[n] = append([]float32(nil), p...)
	}
	return e
}

// Rate is the decay Update uses at step.
func (e *EMA) Rate(step int) float64 { return math.Min(e.Decay, (1+float64(step))/(10+float64(step))) }

// Update moves the average toward params. Early steps use a shorter
// horizon, min(decay, (1+n)/(10+n)), so the average is not stuck at init.
func (e *EMA) Update(params map[string][]float32, step int) {
	d := e.Rate(step)
	for n, p := range params {
		runtime.EMAUpdate(e.Shadow[n], p, d)
	}
}
