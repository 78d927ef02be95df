package sampler

import (
	"fmt"
	"math"

	"github.com/lsgm-go/lsgm/runtime/sde"
)

// Mixed is LSGM's mixed score parameterization (Vahdat et al. 2021, section
// 3.2, lsgm-math.md section 3):
//
//	eps(z_t, t) = (1 - c) * n(z_t, t) + c * eps'(z_t, t),   c = sigmoid(a)
//
// with n the exact noise prediction of an N(0, I) latent. The notes write n as
// sigma_t z_t, exact when m_t^2 + sigma_t^2 = 1 (plain VPSDE); Mixed uses
// n = sigma_t z_t / (m_t^2 + sigma_t^2), exact for every SDE here and equal to
// sigma_t z_t on the VPSDE. Net computes eps'; Coeff holds c per latent element
// (length Dim) and is broadcast over the batch.
type Mixed struct {
	Net   Model
	Coeff []float32
	SDE   sde.SDE
}

// MixingCoeff turns mixing logits a into c = sigmoid(a).
func MixingCoeff(logits []float32) []float32 {
	c := make([]float32, len(logits))
	for i, a := range logits {
		c[i] = float32(1 / (1 + math.Exp(-float64(a))))
	}
	return c
}

// Eps implements Model.
func (m Mixed) Eps(dst, z []float32, t float64) error {
	d := len(m.Coeff)
	if d == 0 || len(z)%d != 0 {
		return fmt.Errorf("sampler: mixing coefficients (%d) do not divide the batch length %d", d, len(z))
	}
	if err := m.Net.Eps(dst, z, t); err != nil {
		return err
	}
	k := sde.Sigma(m.SDE, t) / sde.NormalVar(m.SDE, t)
	for i := range dst {
		c := float64(m.Coeff[i%d])
		dst[i] = float32((1-c)*k*float64(z[i]) + c*float64(dst[i]))
	}
	return nil
}

// CFG is classifier-free guidance (Ho and Salimans 2021, "Classifier-free
// diffusion guidance"): dst = uncond + w (cond - uncond), the noise
// predictions of one network with and without the class. On scores it is
// the score of p(z_t) p(y | z_t)^w with the implicit classifier
// p(y | z_t) = p(z_t | y) / p(z_t): w = 0 is the unconditional model, w = 1
// the conditional one, w > 1 sharpens towards the class. dst may alias
// either input.
func CFG(dst, cond, uncond []float32, w float64) {
	for i := range dst {
		u := float64(uncond[i])
		dst[i] = float32(u + w*(float64(cond[i])-u))
	}
}

// ClassifierGrad writes d log p(y | z_t, t) / dz for the batch z into dst:
// a noise-aware classifier's gradient for the class guided towards.
type ClassifierGrad func(dst, z []float32, t float64) error

// ClassifierGuided is classifier guidance (Dhariwal and Nichol 2021,
// "Diffusion models beat GANs"; Song et al. 2021, section 5): the score
// plus s times the classifier's gradient, the score of p(z_t) p(y | z_t)^s.
// In noise terms eps' = eps - s sigma_t grad. Scale 0 is m itself.
func ClassifierGuided(m Model, grad ClassifierGrad, scale float64, s sde.SDE) Model {
	return ModelFunc(func(dst, z []float32, t float64) error {
		if err := m.Eps(dst, z, t); err != nil {
			return err
		}
		if scale == 0 {
			return nil
		}
		g := make([]float32, len(z))
		if err := grad(g, z, t); err != nil {
			return err
		}
		k := scale * sde.Sigma(s, t)
		for i, v := range g {
			dst[i] = float32(float64(dst[i]) - k*float64(v))
		}
		return nil
	})
}
