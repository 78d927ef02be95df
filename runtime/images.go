package runtime

import "github.com/lsgm-go/lsgm/runtime/rng"

// ImageMode is the scale TrainImages writes pixels in.
type ImageMode uint32

// The modes; their numbers are shaders/images.wgsl's.
const (
	ImagesLogistic    ImageMode = iota // the logistic's bin centres, 2k/255 - 1
	ImagesUnit                         // k/255 (a Bernoulli decoder's soft targets)
	ImagesBinarized                    // 1 where a uniform falls below k/255, else 0
	ImagesDequantized                  // (k + u) 2/256 - 1, uniform within the bin (no VAE)
)

// TrainImages writes a training batch: sample i is image idx[i] of data
// (d bytes an image, pixels k in 0..255) in mode's scale. The uniforms of
// the random modes are Philox's for (seed, step, stream), counter
// (element/4, i, step, stream), word element%4 (rng.Uniform23): the same
// numbers on every device. All arithmetic is float32 with exact constants,
// as on the GPU.
func TrainImages(x []float32, data []byte, idx []int, d int, mode ImageMode, seed uint64, step int, stream rng.Stream) {
	key := rng.Key(seed)
	for i, im := range idx {
		px := data[im*d : (im+1)*d]
		out := x[i*d : (i+1)*d]
		var w [4]uint32
		for j, b := range px {
			k := float32(b)
			if mode >= ImagesBinarized && j%4 == 0 {
				w = rng.Philox4x32([4]uint32{uint32(j / 4), uint32(i), uint32(step), uint32(stream)}, key)
			}
			switch mode {
			// float32(...) rounds each product: Go may otherwise fuse a
			// multiply and an add where the GPU does not.
			case ImagesLogistic:
				out[j] = float32(k*float32(2.0/255.0)) - 1
			case ImagesUnit:
				out[j] = k * float32(1.0/255.0)
			case ImagesBinarized:
				out[j] = 0
				if rng.Uniform23(w[j%4]) < float32(k*float32(1.0/255.0)) {
					out[j] = 1
				}
			default:
				out[j] = float32((k+rng.Uniform23(w[j%4]))*float32(2.0/256.0)) - 1
			}
		}
	}
}
