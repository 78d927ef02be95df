package gpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
)

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// benchLaunch times a prepared launch, reps of them per submission, and
// reports GFLOP/s for flops per launch.
func benchLaunch(b *testing.B, d *Device, l *launch, flops float64) {
	const reps = 20
	r, err := d.newRecorder(1)
	if err != nil {
		b.Fatal(err)
	}
	defer r.release()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := 0; k < reps; k++ {
			l.record(r)
		}
		if err := r.submit(); err != nil {
			b.Fatal(err)
		}
		d.wait()
	}
	b.ReportMetric(flops*reps*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func upload(b *testing.B, d *Device, xs ...[]float32) []*Buffer {
	out := make([]*Buffer, len(xs))
	for i, x := range xs {
		buf, err := d.NewBuffer(len(x), x)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(buf.Release)
		out[i] = buf
	}
	return out
}

// The default model's linear layers (time-embedding MLP) and convolutions, on
// the GPU and the CPU reference in the same run.
func BenchmarkMatmul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range [][3]int{{64, 256, 256}, {64, 64, 256}, {256, 512, 512}} {
		n, in, out := s[0], s[1], s[2]
		x, w, bias := randn(r, n*in), randn(r, out*in), randn(r, out)
		flops := 2.0 * float64(n*in*out)
		name := fmt.Sprintf("%dx%dx%d", n, in, out)
		b.Run("gpu/"+name, func(b *testing.B) {
			d := device(b)
			bs := upload(b, d, x, w, bias, make([]float32, n*out))
			l, err := d.prepLinear(bs[3], bs[0], bs[1], bs[2], n, in, out, true)
			if err != nil {
				b.Fatal(err)
			}
			defer l.release()
			benchLaunch(b, d, l, flops)
		})
		b.Run("cpu/"+name, func(b *testing.B) {
			y := make([]float32, n*out)
			for i := 0; i < b.N; i++ {
				runtime.Linear(y, x, w, bias, n, in, out)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkConv(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][5]int{{64, 64, 7, 64, 3}, {64, 32, 14, 32, 3}, {64, 32, 28, 16, 3}} {
		n, c, h, o, k := s[0], s[1], s[2], s[3], s[4]
		x, w, bias := randn(r, n*c*h*h), randn(r, o*c*k*k), randn(r, o)
		flops := 2.0 * float64(n*o*h*h*c*k*k)
		name := fmt.Sprintf("n%d_c%d_%dx%d_o%d", n, c, h, h, o)
		b.Run("gpu/"+name, func(b *testing.B) {
			d := device(b)
			bs := upload(b, d, x, w, bias, make([]float32, n*o*h*h))
			l, err := d.prepConv(bs[3], bs[0], bs[1], bs[2], n, c, h, h, o, k, 1, 1, true)
			if err != nil {
				b.Fatal(err)
			}
			defer l.release()
			benchLaunch(b, d, l, flops)
		})
		b.Run("cpu/"+name, func(b *testing.B) {
			y := make([]float32, n*o*h*h)
			for i := 0; i < b.N; i++ {
				runtime.Conv2D(y, x, w, bias, n, c, h, h, o, k, 1, 1)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// Latency of one network evaluation (the shipped model's score network with
// its mixed score) at batch 1, 4 (the browser tests' size), 16 and 64: GPU against the CPU path.
func BenchmarkNFE(b *testing.B) {
	cpu := loadModel(b, "")
	for _, n := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("gpu/batch%d", n), func(b *testing.B) {
			g, _ := gpuModel(b, "")
			d := g.D
			score, err := g.netFor(g.score, g.pScore, n)
			if err != nil {
				b.Fatal(err)
			}
			const reps = 10
			r, err := d.newRecorder(2 * reps)
			if err != nil {
				b.Fatal(err)
			}
			defer r.release()
			u := &run{g: g, r: r, s: cpu.SDE, score: score, n: n, d: cpu.LatentDim(), nd: n * cpu.LatentDim()}
			z, _ := u.buf()
			eps, _ := u.buf()
			defer u.bufs[0].Release()
			defer u.bufs[1].Release()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.dyn = r.dyn[:0]
				for k := 0; k < reps; k++ {
					if err := u.eps(eps, z, 0.5); err != nil {
						b.Fatal(err)
					}
				}
				if err := r.submit(); err != nil {
					b.Fatal(err)
				}
				d.wait()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N*reps), "ms/NFE")
		})
		b.Run(fmt.Sprintf("cpu/batch%d", n), func(b *testing.B) {
			z := randn(rand.New(rand.NewPCG(3, 3)), n*cpu.LatentDim())
			dst := make([]float32, len(z))
			m := cpu.Prior()
			for i := 0; i < b.N; i++ {
				if err := m.Eps(dst, z, 0.5); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/NFE")
		})
	}
}

// Whole requests, noise to RGBA: the shipped model's default sampler at 10 NFE.
func BenchmarkSample(b *testing.B) {
	cpu := loadModel(b, "")
	cfg := sampler.Config{Name: "dpmpp2m", NFE: 10}
	for _, n := range []int{1, 16, 64} {
		req := runtime.Request{Sampler: cfg, Count: n, Seed: 1}
		b.Run(fmt.Sprintf("gpu/batch%d", n), func(b *testing.B) {
			g, _ := gpuModel(b, "")
			for i := 0; i < b.N; i++ {
				if _, err := g.Sample(req, Options{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(fmt.Sprintf("cpu/batch%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := cpu.Sample(req, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// benchProgram times a program that repeats one op: reps launches a
// submission, waited for; GFLOP/s for flops per op.
func benchProgram(b *testing.B, p *Program, flops float64, reps int) {
	if err := p.Run(); err != nil { // pipelines warm
		b.Fatal(err)
	}
	p.d.wait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Run(); err != nil {
			b.Fatal(err)
		}
		p.d.wait()
	}
	b.ReportMetric(flops*float64(reps)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// The training kernels at the shipped network's sizes, batch 64: the
// convolution's forward, input-gradient and weight-gradient passes (the
// score network's 64-channel 7x7 maps, the decoder's 16-channel 28x28 maps,
// the encoder's strided 16 -> 32 downsampling) and the time embedding's
// matrix products with both transposes.
func BenchmarkTrainKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	const reps = 5
	for _, s := range []struct {
		name                          string
		n, c, h, w, o, k, stride, pad int
	}{
		{"score64x7x7", 64, 64, 7, 7, 64, 3, 1, 1},
		{"decoder16x28x28", 64, 16, 28, 28, 16, 3, 1, 1},
		{"encoder16to32s2", 64, 16, 28, 28, 32, 3, 2, 1},
	} {
		ho, wo := convOut(s.h, s.k, s.stride, s.pad), convOut(s.w, s.k, s.stride, s.pad)
		flops := 2.0 * float64(s.n*ho*wo*s.o*s.c*s.k*s.k)
		x, w, dy := randn(r, s.n*s.c*s.h*s.w), randn(r, s.o*s.c*s.k*s.k), randn(r, s.n*s.o*ho*wo)
		for _, pass := range []string{"forward", "data", "filter"} {
			b.Run(s.name+"/"+pass, func(b *testing.B) {
				d := device(b)
				bs := upload(b, d, x, w, dy, make([]float32, len(x)), make([]float32, len(w)), make([]float32, len(dy)))
				p := d.NewProgram()
				defer p.Release()
				for k := 0; k < reps; k++ {
					var err error
					switch pass {
					case "forward":
						err = p.Conv2D(bs[5], bs[0], bs[1], s.n, s.c, s.h, s.w, s.o, s.k, s.stride, s.pad)
					case "data":
						err = p.Conv2DData(bs[3], bs[2], bs[1], s.n, s.c, s.h, s.w, s.o, s.k, s.stride, s.pad)
					default:
						err = p.Conv2DFilter(bs[4], bs[0], bs[2], s.n, s.c, s.h, s.w, s.o, s.k, s.stride, s.pad)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				benchProgram(b, p, flops, reps)
			})
		}
	}
	for _, s := range [][3]int{{64, 256, 64}, {64, 256, 256}} {
		m, n, k := s[0], s[1], s[2]
		a, bb := randn(r, m*k), randn(r, k*n)
		for _, tr := range [][2]bool{{false, true}, {true, false}, {false, false}} {
			b.Run(fmt.Sprintf("matmul%dx%dx%d/ta=%v,tb=%v", m, n, k, tr[0], tr[1]), func(b *testing.B) {
				d := device(b)
				bs := upload(b, d, a, bb, make([]float32, m*n))
				p := d.NewProgram()
				defer p.Release()
				for i := 0; i < reps; i++ {
					if err := p.MatMul(bs[2], bs[0], bs[1], m, n, k, tr[0], tr[1]); err != nil {
						b.Fatal(err)
					}
				}
				benchProgram(b, p, 2*float64(m*n*k), reps)
			})
		}
	}
}
