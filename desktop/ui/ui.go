// Package ui is the desktop viewer's layout and its display-free pieces
// (spherical interpolation, grid geometry), kept out of package main so that
// tests run where no display exists: Ebiten needs one as soon as it loads.
package ui

import (
	"image/color"
	"math"
)

// Layout, in the window's logical pixels.
const (
	WinW, WinH   = 980, 680
	GridX, GridY = 16, 56 // top-left of the image area
	GridBox      = 600    // the image area is GridBox x GridBox
	Pad          = 2      // pixels between images, as runtime.Grid
	PanelX       = 640    // the settings panel
	MaxSide      = 8      // grid side
)

// ErrBg is the colour of the error box.
var ErrBg = color.RGBA{140, 20, 30, 255}

// Scale is the integer zoom that fits a grid of px pixels in the image area.
func Scale(px int) int { return max(1, GridBox/px) }

// GridPx is the size of a side x side grid of size-pixel images.
func GridPx(side, size int) int { return side*(size+Pad) + Pad }

// Slerp interpolates spherically between a and b (same length) at fraction
// f in [0, 1]: the path between two Gaussian noises along which the norm
// stays typical, where a straight line would pass through low-norm noise the
// model never saw (Shoemake 1985; White 2016, "Sampling generative networks").
func Slerp(dst, a, b []float32, f float64) {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	omega := math.Acos(math.Max(-1, math.Min(1, ab/math.Sqrt(aa*bb))))
	ka, kb := 1-f, f
	if s := math.Sin(omega); s > 1e-6 {
		ka, kb = math.Sin((1-f)*omega)/s, math.Sin(f*omega)/s
	}
	for i := range dst {
		dst[i] = float32(ka*float64(a[i]) + kb*float64(b[i]))
	}
}

// InterpNoise returns the initial noises of frames images along the
// spherical path from image i's noise under seed a to its noise under seed b
// (noise(seed, i) gives the standard normals a request starts from).
func InterpNoise(noise func(seed uint64, i uint32) []float32, a, b uint64, i uint32, frames int) []float32 {
	na, nb := noise(a, i), noise(b, i)
	d := len(na)
	out := make([]float32, frames*d)
	for k := 0; k < frames; k++ {
		f := 0.0
		if frames > 1 {
			f = float64(k) / float64(frames-1)
		}
		Slerp(out[k*d:(k+1)*d], na, nb, f)
	}
	return out
}

// NextClass cycles a class-conditional model's class choice through "none"
// (-1: unconditional) and its n classes, backwards with back.
func NextClass(cur, n int, back bool) int {
	if n <= 0 {
		return -1
	}
	k := cur + 1 // 0 is "none"
	if back {
		k = (k + n) % (n + 1)
	} else {
		k = (k + 1) % (n + 1)
	}
	return k - 1
}

// Guidance bounds and step of the viewer's classifier-free guidance scale.
const (
	MaxGuidance  = 8.0
	GuidanceStep = 0.5
)
