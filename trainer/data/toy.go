package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// ToyNames lists the 2-D toy distributions.
var ToyNames = []string{"gmm", "swissroll", "checkerboard"}

// ToyPrefix marks a toy set where a data path is expected: "toy:swissroll".
const ToyPrefix = "toy:"

// Toy draws n points of a 2-D toy distribution, for checks that train in
// minutes. A point is stored as a 2-channel 1x1 image with values in [0, 1]
// (the box [-1.5, 1.5]^2 mapped onto it), so the image path runs unchanged:
// the 8-bit binning of the loaders, the logistic decoder, dequantization.
// The same name, n and seed always give the same set.
//
//	gmm           8 Gaussians (std 0.08) evenly spaced on the circle of radius 1
//	swissroll     a noisy spiral, t in [1.5 pi, 4.5 pi], scaled to radius 1.2
//	checkerboard  uniform on 8 of the 16 squares of a 4x4 board over [-1.2, 1.2]^2
func Toy(name string, n int, seed uint64) (*Set, error) {
	if n < 1 {
		return nil, fmt.Errorf("data: toy set of %d points", n)
	}
	r := rand.New(rand.NewPCG(seed, 0x746f79))
	var draw func() (float64, float64)
	switch name {
	case "gmm":
		draw = func() (float64, float64) {
			a := 2 * math.Pi * float64(r.IntN(8)) / 8
			return math.Cos(a) + 0.08*r.NormFloat64(), math.Sin(a) + 0.08*r.NormFloat64()
		}
	case "swissroll":
		draw = func() (float64, float64) {
			t := 1.5 * math.Pi * (1 + 2*r.Float64())
			k := 1.2 / (4.5 * math.Pi)
			return k*t*math.Cos(t) + 0.03*r.NormFloat64(), k*t*math.Sin(t) + 0.03*r.NormFloat64()
		}
	case "checkerboard":
		draw = func() (float64, float64) {
			i, j := r.IntN(4), r.IntN(2)
			j = 2*j + i%2 // the filled squares alternate by row
			return -1.2 + 0.6*(float64(j)+r.Float64()), -1.2 + 0.6*(float64(i)+r.Float64())
		}
	default:
		return nil, fmt.Errorf("data: unknown toy set %q (want %s)", name, strings.Join(ToyNames, ", "))
	}
	s := &Set{Images: make([]float32, 2*n), Shape: []int{2, 1, 1}, N: n, Source: ToyPrefix + name}
	for i := 0; i < n; i++ {
		x, y := draw()
		s.Images[2*i], s.Images[2*i+1] = toUnit(x), toUnit(y)
	}
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, s.Images)
	s.SHA256 = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// ToyBox is the square of the plane that a toy image's [0, 1] covers.
const ToyBox = 1.5

func toUnit(v float64) float32 {
	return float32(math.Min(1, math.Max(0, (v+ToyBox)/(2*ToyBox))))
}

// FromUnit maps a toy image's value in [0, 1] back to the plane.
func FromUnit(u float32) float64 { return (2*float64(u) - 1) * ToyBox }
