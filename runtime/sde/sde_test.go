package sde

import (
	"math"
	"testing"
)

func all() []SDE {
	return []SDE{NewVP(), VP{B0: 0.1, B1: 20, Sigma2_0: 1e-3}, NewGeometricVP(), NewVE(), NewSubVP()}
}

// The closed forms must be the marginals of the SDE they claim: dm/dt = f m and
// d var/dt = 2 f var + g^2 (the moment equations of the linear SDE), checked by
// central differences. A wrong coefficient in any closed form fails here.
func TestMomentEquations(t *testing.T) {
	const h = 1e-6
	for _, s := range all() {
		for _, tt := range []float64{0.01, 0.1, 0.3, 0.5, 0.77, 0.99} {
			dm := (s.Mean(tt+h) - s.Mean(tt-h)) / (2 * h)
			if want := s.F(tt) * s.Mean(tt); math.Abs(dm-want) > 1e-6*math.Max(1, math.Abs(want)) {
				t.Errorf("%s t=%v: dm/dt = %v, f m = %v", s.Name(), tt, dm, want)
			}
			dv := (s.Var(tt+h) - s.Var(tt-h)) / (2 * h)
			want := 2*s.F(tt)*s.Var(tt) + s.G2(tt)
			if math.Abs(dv-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("%s t=%v: dvar/dt = %v, 2 f var + g2 = %v", s.Name(), tt, dv, want)
			}
		}
	}
}

func TestInverses(t *testing.T) {
	for _, s := range all() {
		for _, tt := range []float64{0.001, 0.05, 0.3, 0.5, 0.9, 1} {
			if got := s.InvVar(s.Var(tt)); math.Abs(got-tt) > 1e-9 {
				t.Errorf("%s: InvVar(Var(%v)) = %v", s.Name(), tt, got)
			}
			if got := InvLogSNR(s, LogSNR(s, tt)); math.Abs(got-tt) > 1e-9 {
				t.Errorf("%s: InvLogSNR(LogSNR(%v)) = %v", s.Name(), tt, got)
			}
			if got := InvEDMSigma(s, Sigma(s, tt)/s.Mean(tt)); math.Abs(got-tt) > 1e-9 {
				t.Errorf("%s: InvEDMSigma at %v = %v", s.Name(), tt, got)
			}
		}
	}
}

// Values from the math notes: the endpoints of each SDE.
func TestEndpoints(t *testing.T) {
	vp := NewVP()
	if v := vp.Var(1); math.Abs(v-(1-math.Exp(-10.05))) > 1e-12 {
		t.Errorf("vpsde var(1) = %v", v)
	}
	if PriorStd(vp) != 1 {
		t.Errorf("vpsde prior std %v, want exactly 1", PriorStd(vp))
	}
	g := NewGeometricVP()
	if v := g.Var(0); math.Abs(v-3e-5) > 1e-15 {
		t.Errorf("geometric var(0) = %v, want sigma2_0", v)
	}
	if v := g.Var(1); math.Abs(v-(0.999-3e-5+3e-5)) > 1e-12 {
		t.Errorf("geometric var(1) = %v, want sigma2_max", v)
	}
	// Its selling point: g2/var is constant in t (the ll weight is flat up to the
	// (1 - var) factor) -> g2 (1 - var) / var = log(ratio) when sigma2_0 = sigma2_min.
	for _, tt := range []float64{0.1, 0.5, 0.9} {
		if r := g.G2(tt) * (1 - g.Var(tt)) / g.Var(tt); math.Abs(r-math.Log(g.Sigma2Max/g.Sigma2Min)) > 1e-9 {
			t.Errorf("geometric g2(1-var)/var at %v = %v", tt, r)
		}
	}
	ve := NewVE()
	if s := Sigma(ve, 1); math.Abs(s-50) > 1e-12 {
		t.Errorf("vesde sigma(1) = %v", s)
	}
}

func TestNewValidates(t *testing.T) {
	good := map[string]map[string]float64{
		"vpsde":           {"beta_start": 0.1, "beta_end": 20},
		"geometric_vpsde": nil,
		"vesde":           {"sigma_max": 10},
		"subvpsde":        nil,
	}
	for k, p := range good {
		s, err := New(k, p)
		if err != nil || s.Name() != k {
			t.Errorf("New(%q, %v) = %v, %v", k, p, s, err)
		}
	}
	bad := []struct {
		kind string
		p    map[string]float64
	}{
		{"vpsde", map[string]float64{"beta_start": -1}},
		{"vpsde", map[string]float64{"beta_end": math.NaN()}},
		{"geometric_vpsde", map[string]float64{"sigma2_max": 2}},
		{"vesde", map[string]float64{"sigma_min": 5, "sigma_max": 1}},
		{"cosine", nil},
	}
	for _, b := range bad {
		if _, err := New(b.kind, b.p); err == nil {
			t.Errorf("New(%q, %v) accepted", b.kind, b.p)
		}
	}
}
