package runtime

import "math"

// LogisticBins is the number of grey levels of the discretized logistic.
const LogisticBins = 256

// MinLogScale bounds the decoder's log scale from below, as PixelCNN++ does,
// so a bin's probability cannot collapse into float underflow.
const MinLogScale = -7

// Logistic is -log P(x | mu, ls) under the discretized logistic of Salimans
// et al. (PixelCNN++) with LogisticBins bins on [-1, 1] (x on the bin centres
// 2k/255 - 1, the outer bins open to infinity), and its derivatives by the
// mean and the log scale (0 by the log scale where it is clamped to
// MinLogScale).
//
// With a, b the bin's upper and lower edges standardised by the scale and
// d = a - b = 2 exp(-ls)/255, an inner bin's mass is
// sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(-d)), so
// -log P = softplus(-a) + softplus(b) - log(-expm1(-d)): no difference of
// nearly equal numbers, in the tails or in float32.
func Logistic(mu, ls, x float64) (nll, dmu, dls float64) {
	clamped := ls < MinLogScale
	if clamped {
		ls = MinLogScale
	}
	inv := math.Exp(-ls)
	const half = 1.0 / (LogisticBins - 1)
	c := x - mu
	a, b := inv*(c+half), inv*(c-half)
	var da, db, dd float64 // d(-log P) by a, b, and (through d) by ls
	switch {
	case x < -0.999: // lowest bin: P = sigmoid(a)
		nll = Softplus(-a)
		da = -sigmoid64(-a)
	case x > 0.999: // highest bin: P = 1 - sigmoid(b)
		nll = Softplus(b)
		db = sigmoid64(b)
	default:
		d := a - b
		nll = Softplus(-a) + Softplus(b) - math.Log(-math.Expm1(-d))
		da, db = -sigmoid64(-a), sigmoid64(b)
		// d(-log(1 - e^-d))/d ls = d / expm1(d), since dd/dls = -d
		dd = d / math.Expm1(d)
	}
	// a = inv (c + h), b = inv (c - h): da/dmu = -inv, da/dls = -a.
	dmu = (da + db) * -inv
	dls = -da*a - db*b + dd
	if clamped {
		dls = 0
	}
	return nll, dmu, dls
}

// LogisticNLL writes, per element, -log P(x | mu, ls) (which 0) or dy times
// its derivative by mu (which 1) or by ls (which 2), as Logistic does, but
// computing only what which needs: 7, 3 or 4 transcendental calls an
// element where Logistic makes 10. The trainer calls it once for each (the
// loss and its two gradients), so this is most of the decoder loss's cost.
// TestLogisticNLL holds it to Logistic.
func LogisticNLL(y, mu, ls, x, dy []float32, which int) {
	const half = 1.0 / (LogisticBins - 1)
	for i := range y {
		l := float64(ls[i])
		clamped := l < MinLogScale
		if clamped {
			l = MinLogScale
		}
		inv := math.Exp(-l)
		xi := float64(x[i])
		c := xi - float64(mu[i])
		a, b := inv*(c+half), inv*(c-half)
		lo, hi := xi < -0.999, xi > 0.999
		if which == 0 {
			switch {
			case lo:
				y[i] = float32(Softplus(-a))
			case hi:
				y[i] = float32(Softplus(b))
			default:
				y[i] = float32(Softplus(-a) + Softplus(b) - math.Log(-math.Expm1(-(a - b))))
			}
			continue
		}
		var da, db float64
		if !hi {
			da = -sigmoid64(-a)
		}
		if !lo {
			db = sigmoid64(b)
		}
		if which == 1 {
			y[i] = float32(float64(dy[i]) * (da + db) * -inv)
			continue
		}
		if clamped {
			y[i] = 0
			continue
		}
		dls := -da*a - db*b
		if !lo && !hi {
			d := a - b
			dls += d / math.Expm1(d)
		}
		y[i] = float32(float64(dy[i]) * dls)
	}
}
