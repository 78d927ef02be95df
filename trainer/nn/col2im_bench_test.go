package nn

import "testing"

// BenchmarkCol2im: the score network's 3x3 convolution at 64 channels on
// 7x7, batch 64, and the decoder's 16 channels at 28x28.
func BenchmarkCol2im(b *testing.B) {
	for _, g := range []struct {
		name         string
		ch, h, batch int
	}{{"64ch7x7", 64, 7, 64}, {"16ch28x28", 16, 28, 64}} {
		b.Run(g.name, func(b *testing.B) {
			c := convGeom{k: 3, stride: 1, pad: 1}
			cols := make([]float32, g.ch*9*g.batch*g.h*g.h)
			dx := make([]float32, g.batch*g.ch*g.h*g.h)
			for i := 0; i < b.N; i++ {
				c.col2im(dx, cols, g.batch, g.ch, g.h, g.h, g.h, g.h)
			}
		})
	}
}
