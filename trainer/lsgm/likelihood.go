package lsgm

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lsgm-go/lsgm/runtime/gpu"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/runtime/sde"
	"github.com/lsgm-go/lsgm/trainer/gpugraph"
	"github.com/lsgm-go/lsgm/trainer/nn"
	"github.com/lsgm-go/lsgm/weights"
)

// ScoreJVP evaluates the prior's noise prediction eps(z, t) (mixed score
// included) and the vector-Jacobian product J^T v, J = d eps / d z, for a
// fixed batch: what Hutchinson's trace estimator needs.
type ScoreJVP struct {
	Batch, Dim int
	SDE        sde.SDE

	vm      G.VM
	z, v    *G.Node
	zd, vd  []float32
	ct      []float32
	t       []float32
	times   []nn.TimeInput
	eps     *G.Node
	hasMix  bool
	inShape []int
	zgrad   *G.Node
	gpu     *gpugraph.Exec // set by UseGPU
}

// NewScoreJVP builds the graph for batch B over the tensors of f.
func NewScoreJVP(f *weights.File, B int) (*ScoreJVP, error) {
	a := &f.Arch
	s, err := sde.New(a.SDE.Kind, a.SDE.Params)
	if err != nil {
		return nil, err
	}
	g := G.NewGraph()
	p, err := nn.NewParams(g, f, func(name string) bool { return !IsVAEParam(name) })
	if err != nil {
		return nil, err
	}
	lat := append([]int{B}, a.LatentShape...)
	j := &ScoreJVP{Batch: B, Dim: weights.Numel(a.LatentShape), SDE: s, inShape: lat}
	var zn, vn, ctn *G.Node
	zn, j.zd = newInput(g, "z", lat...)
	vn, j.vd = newInput(g, "v", lat...)
	tn, _ := newInput(g, "t", B, 1)
	j.t = make([]float32, B)
	ins := map[string]*G.Node{"z": zn, "t": tn}
	if k := len(a.Classes); k > 0 { // the likelihood of the unconditional model
		ins["y"], _ = ClassInput(g, B, k)
	}
	sc, err := nn.Build(g, &a.Score, "score", B, ins, p)
	if err != nil {
		return nil, err
	}
	j.times = sc.Times
	eps := sc.Outputs["eps"]
	if a.MixLogit != "" {
		j.hasMix = true
		ctn, j.ct = newInput(g, "ct", B, 1, 1, 1)
		kz := G.Must(nn.BroadcastMul(zn, ctn))
		c := G.Must(G.Reshape(G.Must(G.Sigmoid(p.Nodes[a.MixLogit])), append(tensor.Shape{1}, a.LatentShape...)))
		eps = G.Must(G.Add(kz, G.Must(nn.BroadcastMul(G.Must(G.Sub(eps, kz)), c))))
	}
	proj := G.Must(G.Sum(G.Must(G.HadamardProd(eps, vn))))
	if j.eps, err = nn.Tap(eps); err != nil {
		return nil, err
	}
	grads, err := G.Grad(proj, zn)
	if err != nil {
		return nil, fmt.Errorf("lsgm: differentiating the score: %w", err)
	}
	j.zgrad = grads[0]
	j.z, j.v = zn, vn
	j.vm = G.NewTapeMachine(g)
	return j, nil
}

// Eval writes eps(z, t) and J^T v for the batch.
func (j *ScoreJVP) Eval(eps, jtv, z, v []float32, t float64) error {
	copy(j.zd, z)
	copy(j.vd, v)
	for i := range j.t {
		j.t[i] = float32(t)
	}
	if j.hasMix {
		k := float32(sde.Sigma(j.SDE, t) / sde.NormalVar(j.SDE, t))
		for i := range j.ct {
			j.ct[i] = k
		}
	}
	nn.FillTimes(j.times, j.t)
	if j.gpu != nil {
		if err := j.gpu.Sync(); err != nil {
			return err
		}
		out, err := j.gpu.Run(j.eps, j.zgrad)
		if err != nil {
			return fmt.Errorf("lsgm: score Jacobian on the GPU: %w", err)
		}
		copy(eps, out[0])
		copy(jtv, out[1])
		return nil
	}
	j.vm.Reset()
	if err := j.vm.RunAll(); err != nil {
		return fmt.Errorf("lsgm: score Jacobian: %w", err)
	}
	copy(eps, j.eps.Value().Data().([]float32))
	gv, err := j.z.Grad()
	if err != nil {
		return err
	}
	copy(jtv, gv.Data().([]float32))
	return nil
}

// UseGPU compiles the evaluation for d: from then on Eval runs there, one
// submission and one readback an evaluation.
func (j *ScoreJVP) UseGPU(d *gpu.Device) error {
	e, err := gpugraph.Compile(d, j.z.Graph(), []*G.Node{j.eps, j.zgrad}, nil)
	if err != nil {
		return fmt.Errorf("lsgm: compiling the score Jacobian for the GPU: %w", err)
	}
	j.gpu = e
	return nil
}

// Close releases the graph.
func (j *ScoreJVP) Close() {
	j.vm.Close()
	if j.gpu != nil {
		j.gpu.Release()
		j.gpu = nil
	}
}

// LogLikelihood returns log p(z) per sample of the prior at time t0 (LSGM's
// ode_eps) by integrating the probability-flow ODE
// dz/dt = a(t) z + b(t) eps(z, t) from t0 to 1 together with its divergence
// D a + b tr(d eps/dz), the trace by Hutchinson's estimator v^T J v with the
// fixed Gaussian probes v (lsgm-math.md 5):
//
//	log p_t0(z) = log N(z_1; 0, P^2 I) + int_t0^1 div dt,  P^2 = m_1^2 + var(1).
//
// z holds Batch samples; rtol, atol as for RK45. It returns the NFE.
func LogLikelihood(j *ScoreJVP, z, v []float32, t0, rtol, atol float64) ([]float64, int, error) {
	B, D := j.Batch, j.Dim
	if len(z) != B*D || len(v) != B*D {
		return nil, 0, fmt.Errorf("lsgm: likelihood needs %d latent values, got %d and %d", B*D, len(z), len(v))
	}
	// State per sample: [z (D), integral of div (1)].
	y := make([]float64, B*(D+1))
	for b := 0; b < B; b++ {
		for i := 0; i < D; i++ {
			y[b*(D+1)+i] = float64(z[b*D+i])
		}
	}
	zs, eps, jtv := make([]float32, B*D), make([]float32, B*D), make([]float32, B*D)
	f := func(dst []float64, t float64, y []float64) error {
		for b := 0; b < B; b++ {
			for i := 0; i < D; i++ {
				zs[b*D+i] = float32(y[b*(D+1)+i])
			}
		}
		if err := j.Eval(eps, jtv, zs, v, t); err != nil {
			return err
		}
		a, c := sampler.Velocity(j.SDE, t)
		for b := 0; b < B; b++ {
			var vjv float64
			for i := 0; i < D; i++ {
				k := b*D + i
				dst[b*(D+1)+i] = a*y[b*(D+1)+i] + c*float64(eps[k])
				vjv += float64(v[k]) * float64(jtv[k])
			}
			dst[b*(D+1)+D] = float64(D)*a + c*vjv
		}
		return nil
	}
	_, nfe, err := sampler.DormandPrince(f, y, t0, 1, sampler.RK45Options{RTol: rtol, ATol: atol, Dim: D + 1}, nil)
	if err != nil {
		return nil, nfe, err
	}
	p2 := sde.NormalVar(j.SDE, 1)
	out := make([]float64, B)
	for b := 0; b < B; b++ {
		var sq float64
		for i := 0; i < D; i++ {
			x := y[b*(D+1)+i]
			sq += x * x
		}
		out[b] = -0.5*float64(D)*math.Log(2*math.Pi*p2) - sq/(2*p2) + y[b*(D+1)+D]
	}
	return out, nfe, nil
}
