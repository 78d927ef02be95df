package sampler

import (
	"fmt"
	"math"
	"strings"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Names lists the samplers Run accepts.
var Names = []string{"euler", "heun", "ddim", "ddpm", "dpmpp2m", "rk45", "euler_maruyama", "pc", "ald"}

// MaxNFE bounds the evaluation budget of any request.
const MaxNFE = 10000

// Config selects a sampler and its settings; zero fields take the defaults
// that Defaults fills in.
type Config struct {
	Name     string   // one of Names
	NFE      int      // evaluation budget of a fixed-step sampler (rk45 reports its own)
	Schedule Schedule // time spacing (default logsnr; uniform for ald)
	Rho      float64  // edm schedule exponent (default 7)
	EndTime  float64  // integrate to this t (default 1e-3; rk45: 1e-5, LSGM's ode_eps)
	// StartTime is where the reverse process starts (default 1): below 1
	// for editing, whose state at StartTime is a diffused guide (SDEdit).
	StartTime float64
	Eta       float64 // ddim noise (0 = deterministic); ddpm is ddim with eta 1

	SNR            float64 // pc: corrector target signal-to-noise ratio (default 0.16)
	CorrectorSteps int     // pc: Langevin steps per time step (default 1)

	RTol, ATol float64 // rk45 tolerances (default 1e-5 each)

	StepLR        float64 // ald: step size at the smallest noise level (default 2e-5 sigma_min^2 / 1e-4)
	StepsPerLevel int     // ald: Langevin steps per noise level (default 5)
}

// Defaults returns c with unset fields filled in.
func (c Config) Defaults(s sde.SDE) Config {
	if c.Schedule == "" {
		c.Schedule = ScheduleLogSNR
		if c.Name == "ald" {
			c.Schedule = ScheduleUniform
		}
	}
	if c.Rho == 0 {
		c.Rho = 7
	}
	if c.StartTime == 0 {
		c.StartTime = 1
	}
	if c.EndTime == 0 {
		c.EndTime = 1e-3
		if c.Name == "rk45" {
			c.EndTime = 1e-5
		}
		if c.Name == "ald" {
			c.EndTime = 0 // NCSN's levels run down to sigma_min itself
		}
	}
	if c.Name == "ddpm" {
		c.Eta = 1
	}
	if c.SNR == 0 {
		c.SNR = 0.16
	}
	if c.CorrectorSteps == 0 {
		c.CorrectorSteps = 1
	}
	if c.RTol == 0 {
		c.RTol = 1e-5
	}
	if c.ATol == 0 {
		c.ATol = 1e-5
	}
	if c.StepsPerLevel == 0 {
		c.StepsPerLevel = 5
	}
	if c.StepLR == 0 && s != nil {
		// NCSN: 2e-5 at sigma_min = 0.01, i.e. 0.2 sigma_min^2.
		sm := sde.Sigma(s, 0)
		c.StepLR = 0.2 * sm * sm
	}
	return c
}

// Validate reports the first setting out of range, by name.
func (c Config) Validate(s sde.SDE) error {
	known := false
	for _, n := range Names {
		known = known || n == c.Name
	}
	if !known {
		return fmt.Errorf("sampler: unknown sampler %q (want one of %s)", c.Name, strings.Join(Names, ", "))
	}
	if c.Name != "rk45" && (c.NFE < 1 || c.NFE > MaxNFE) {
		return fmt.Errorf("sampler: NFE %d out of range [1, %d]", c.NFE, MaxNFE)
	}
	if c.Name == "heun" && c.NFE < 2 {
		return fmt.Errorf("sampler: heun takes 2 NFE per step; NFE %d is too few", c.NFE)
	}
	if c.Name == "pc" {
		if c.CorrectorSteps < 0 || c.CorrectorSteps > 100 {
			return fmt.Errorf("sampler: pc corrector steps %d out of range [0, 100]", c.CorrectorSteps)
		}
		if c.NFE < 1+c.CorrectorSteps {
			return fmt.Errorf("sampler: pc needs %d NFE per step; NFE %d is too few", 1+c.CorrectorSteps, c.NFE)
		}
		if !(c.SNR > 0 && c.SNR <= 10) {
			return fmt.Errorf("sampler: pc snr %v out of range (0, 10]", c.SNR)
		}
	}
	if c.Name == "ald" {
		if c.StepsPerLevel < 1 || c.NFE < 2*c.StepsPerLevel {
			return fmt.Errorf("sampler: ald needs at least 2 noise levels of %d steps; NFE %d is too few", c.StepsPerLevel, c.NFE)
		}
	}
	if c.Name == "rk45" && !(c.RTol >= 1e-10 && c.RTol <= 1 && c.ATol >= 1e-10 && c.ATol <= 1) {
		return fmt.Errorf("sampler: rk45 tolerances rtol %v, atol %v out of range [1e-10, 1]", c.RTol, c.ATol)
	}
	if math.IsNaN(c.Eta) || c.Eta < 0 || c.Eta > 1 {
		return fmt.Errorf("sampler: eta %v out of range [0, 1]", c.Eta)
	}
	if math.IsNaN(c.EndTime) || c.EndTime < 0 || c.EndTime >= 0.5 {
		return fmt.Errorf("sampler: end time %v out of range [0, 0.5)", c.EndTime)
	}
	if c.EndTime == 0 && c.Name != "ald" {
		return fmt.Errorf("sampler: end time must be > 0 for %s (the score is singular at t = 0)", c.Name)
	}
	if math.IsNaN(c.StartTime) || c.StartTime <= c.EndTime || c.StartTime > 1 {
		return fmt.Errorf("sampler: start time %v out of range (end time %v, 1]", c.StartTime, c.EndTime)
	}
	if math.IsNaN(c.Rho) || c.Rho <= 0 || c.Rho > 100 {
		return fmt.Errorf("sampler: edm rho %v out of range (0, 100]", c.Rho)
	}
	return nil
}

// TimeGrid fills in c's defaults, validates it, and returns the descending
// time grid its fixed-step sampler walks (nil for rk45, which picks its own
// steps). Every backend's sampler loop starts here.
func TimeGrid(c Config, s sde.SDE) (Config, []float64, error) {
	c = c.Defaults(s)
	if err := c.Validate(s); err != nil {
		return c, nil, err
	}
	steps := c.NFE
	switch c.Name {
	case "heun":
		steps = c.NFE / 2
	case "pc":
		steps = c.NFE / (1 + c.CorrectorSteps)
	case "ald":
		steps = c.NFE/c.StepsPerLevel - 1 // levels = steps + 1
	case "rk45":
		return c, nil, nil
	}
	ts, err := Times(c.Schedule, s, steps, c.StartTime, c.EndTime, c.Rho)
	return c, ts, err
}

// Run validates c and runs the sampler it names on the batch z (n samples of
// dim elements, updated in place). noise may be nil for deterministic samplers.
func Run(c Config, m Model, s sde.SDE, z []float32, dim int, noise Noise, cb Callback) (Stats, error) {
	if dim <= 0 || len(z)%dim != 0 {
		return Stats{}, fmt.Errorf("sampler: batch length %d is not a multiple of the sample size %d", len(z), dim)
	}
	c, ts, err := TimeGrid(c, s)
	if err != nil {
		return Stats{}, err
	}
	switch c.Name {
	case "rk45":
		return RK45(m, s, z, c.StartTime, c.EndTime, RK45Options{RTol: c.RTol, ATol: c.ATol, Dim: dim}, cb)
	case "euler":
		return Euler(m, s, z, ts, cb)
	case "heun":
		return Heun(m, s, z, ts, cb)
	case "ddim", "ddpm":
		return DDIM(m, s, z, ts, c.Eta, noise, cb)
	case "dpmpp2m":
		return DPMSolverPP2M(m, s, z, ts, cb)
	case "euler_maruyama":
		return EulerMaruyama(m, s, z, ts, noise, cb)
	case "pc":
		return PredictorCorrector(m, s, z, ts, Langevin{SNR: c.SNR, Steps: c.CorrectorSteps, Dim: dim}, noise, cb)
	case "ald":
		return AnnealedLangevin(m, s, z, ts, c.StepsPerLevel, c.StepLR, noise, cb)
	}
	panic("unreachable: Validate accepted " + c.Name)
}
