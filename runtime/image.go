package runtime

import (
	"fmt"
	"image"
	"math"
)

// Grid lays out n images ([n, C, H, W], values in [0, 1], C = 1 or 3) in a grid
// of cols columns with pad pixels of dark gray between them.
func Grid(imgs []float32, n int, shape []int, cols, pad int) (*image.NRGBA, error) {
	if len(shape) != 3 || (shape[0] != 1 && shape[0] != 3) {
		return nil, fmt.Errorf("runtime: grid needs [1 or 3, H, W] images, got %v", shape)
	}
	if n < 1 || len(imgs) != n*shape[0]*shape[1]*shape[2] {
		return nil, fmt.Errorf("runtime: grid of %d images of %v needs %d values, got %d", n, shape, n*shape[0]*shape[1]*shape[2], len(imgs))
	}
	return GridRGBA(RGBA8(imgs, n, shape), n, shape[1], shape[2], cols, pad)
}

// GridRGBA lays out n RGBA8 images of h x w (as RGBA8 makes them, or the GPU
// reads back) in a grid of cols columns (0: square) with pad pixels of dark
// grey between them.
func GridRGBA(rgba []byte, n, h, w, cols, pad int) (*image.NRGBA, error) {
	if n < 1 || len(rgba) != 4*n*h*w {
		return nil, fmt.Errorf("runtime: grid of %d RGBA images of %dx%d needs %d bytes, got %d", n, h, w, 4*n*h*w, len(rgba))
	}
	if cols < 1 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	rows := (n + cols - 1) / cols
	out := image.NewNRGBA(image.Rect(0, 0, cols*(w+pad)+pad, rows*(h+pad)+pad))
	for i := range out.Pix {
		out.Pix[i] = 40
		if i%4 == 3 {
			out.Pix[i] = 255
		}
	}
	for k := 0; k < n; k++ {
		x0, y0 := pad+(k%cols)*(w+pad), pad+(k/cols)*(h+pad)
		for y := 0; y < h; y++ {
			copy(out.Pix[(y0+y)*out.Stride+4*x0:][:4*w], rgba[4*(k*h*w+y*w):][:4*w])
		}
	}
	return out, nil
}

// Scale enlarges img k times with square pixels (nearest neighbour), as a
// grid of small images is best looked at.
func Scale(img *image.NRGBA, k int) *image.NRGBA {
	if k <= 1 {
		return img
	}
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy(); y++ {
		row := out.Pix[y*k*out.Stride:][:out.Stride]
		for x := 0; x < b.Dx(); x++ {
			px := img.Pix[y*img.Stride+4*x:][:4]
			for i := 0; i < k; i++ {
				copy(row[4*(x*k+i):], px)
			}
		}
		for i := 1; i < k; i++ {
			copy(out.Pix[(y*k+i)*out.Stride:][:out.Stride], row)
		}
	}
	return out
}

// to8 rounds a [0, 1] value to a byte, clamping outside the range.
func to8(v float32) uint8 {
	return uint8(math.Round(255 * math.Min(1, math.Max(0, float64(v)))))
}

// RGBA8 converts n images ([n, C, H, W], values in [0, 1], C = 1 or 3) to
// RGBA bytes, image after image, row-major: the layout of the GPU backend's
// readback and of a canvas's ImageData. Values are rounded like Grid's.
func RGBA8(imgs []float32, n int, shape []int) []byte {
	c, hw := shape[0], shape[1]*shape[2]
	out := make([]byte, 4*n*hw)
	for i := 0; i < n; i++ {
		for q := 0; q < hw; q++ {
			px := out[4*(i*hw+q):][:4]
			src := imgs[i*c*hw+q:]
			px[0] = to8(src[0])
			if c == 3 {
				px[1], px[2] = to8(src[hw]), to8(src[2*hw])
			} else {
				px[1], px[2] = px[0], px[0]
			}
			px[3] = 255
		}
	}
	return out
}
