package sampler

import (
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Each schedule returns n+1 descending times from t1 to t0 (n steps), with the
// endpoints exact.

// UniformT spaces the steps evenly in t.
func UniformT(n int, t1, t0 float64) []float64 {
	ts := make([]float64, n+1)
	for i := range ts {
		ts[i] = t1 + (t0-t1)*float64(i)/float64(n)
	}
	ts[n] = t0
	return ts
}

// UniformLogSNR spaces the steps evenly in lambda = log(m/sigma), the spacing
// DPM-Solver recommends.
func UniformLogSNR(s sde.SDE, n int, t1, t0 float64) []float64 {
	l1, l0 := sde.LogSNR(s, t1), sde.LogSNR(s, t0)
	ts := make([]float64, n+1)
	for i := range ts {
		ts[i] = sde.InvLogSNR(s, l1+(l0-l1)*float64(i)/float64(n))
	}
	ts[0], ts[n] = t1, t0
	return ts
}

// EDM spaces the steps by Karras et al. 2022 (eq. 5): sigma_i =
// (smax^(1/rho) + i/n (smin^(1/rho) - smax^(1/rho)))^rho in the EDM noise level
// sigma = sigma_t / m_t; rho = 7 concentrates steps at low noise.
func EDM(s sde.SDE, n int, t1, t0, rho float64) []float64 {
	smax := sde.Sigma(s, t1) / s.Mean(t1)
	smin := sde.Sigma(s, t0) / s.Mean(t0)
	a, b := math.Pow(smax, 1/rho), math.Pow(smin, 1/rho)
	ts := make([]float64, n+1)
	for i := range ts {
		ts[i] = sde.InvEDMSigma(s, math.Pow(a+(b-a)*float64(i)/float64(n), rho))
	}
	ts[0], ts[n] = t1, t0
	return ts
}

// Schedule names a time spacing.
type Schedule string

const (
	ScheduleUniform Schedule = "uniform"
	ScheduleLogSNR  Schedule = "logsnr"
	ScheduleEDM     Schedule = "edm"
)

// Times builds the named schedule (rho is used by "edm" only).
func Times(name Schedule, s sde.SDE, n int, t1, t0, rho float64) ([]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("sampler: a schedule needs at least 1 step, got %d", n)
	}
	if !(t0 >= 0 && t0 < t1 && t1 <= 1) {
		return nil, fmt.Errorf("sampler: schedule needs 0 <= end time < start time <= 1, got %v and %v", t0, t1)
	}
	switch name {
	case ScheduleUniform:
		return UniformT(n, t1, t0), nil
	case ScheduleLogSNR:
		if t0 == 0 {
			return nil, fmt.Errorf("sampler: logsnr schedule needs an end time > 0 (log-SNR is infinite at 0)")
		}
		return UniformLogSNR(s, n, t1, t0), nil
	case ScheduleEDM:
		if !(rho > 0) {
			return nil, fmt.Errorf("sampler: edm schedule needs rho > 0, got %v", rho)
		}
		if t0 == 0 {
			return nil, fmt.Errorf("sampler: edm schedule needs an end time > 0")
		}
		return EDM(s, n, t1, t0, rho), nil
	}
	return nil, fmt.Errorf("sampler: unknown schedule %q (want uniform, logsnr or edm)", name)
}
