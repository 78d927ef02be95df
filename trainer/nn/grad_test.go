package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// gradCheck compares gorgonia's gradient of L = sum(y * r) (r random) with
// central finite differences at a random subset of every input's elements.
// Tolerance: |analytic - numeric| <= 2e-3 + 1e-2 |numeric|; float32 rounding
// of L over the step h = 1e-2 is about 1e-4 of the gradient's scale.
func gradCheck(t *testing.T, name string, shapes [][]int, build func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, uint64(len(name))))
	data := make([][]float32, len(shapes))
	for i, s := range shapes {
		n := 1
		for _, d := range s {
			n *= d
		}
		data[i] = randSlice(r, n, 1)
	}
	var proj []float32
	eval := func(withGrad bool) (float64, [][]float32) {
		g := G.NewGraph()
		in := make([]*G.Node, len(shapes))
		for i, s := range shapes {
			in[i] = input(g, fmt.Sprintf("%s%d", name, i), s, append([]float32(nil), data[i]...))
		}
		y, err := build(g, in)
		if err != nil {
			t.Fatal(err)
		}
		if proj == nil {
			proj = randSlice(r, y.Shape().TotalSize(), 1)
		}
		rn := input(g, "r", y.Shape(), append([]float32(nil), proj...))
		l := G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
		if withGrad {
			if _, err := G.Grad(l, in...); err != nil {
				t.Fatal(err)
			}
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		var grads [][]float32
		if withGrad {
			for _, n := range in {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				grads = append(grads, append([]float32(nil), gv.Data().([]float32)...))
			}
		}
		return float64(l.Value().Data().(float32)), grads
	}
	_, grads := eval(true)
	const h = 1e-2
	for i := range data {
		for k := 0; k < 12; k++ {
			j := r.IntN(len(data[i]))
			old := data[i][j]
			data[i][j] = old + h
			lp, _ := eval(false)
			data[i][j] = old - h
			lm, _ := eval(false)
			data[i][j] = old
			num := (lp - lm) / (2 * h)
			if d := math.Abs(float64(grads[i][j]) - num); d > 2e-3+1e-2*math.Abs(num) {
				t.Errorf("%s: d/d input%d[%d]: analytic %.5g, numeric %.5g", name, i, j, grads[i][j], num)
			}
		}
	}
}

func TestKernelGradients(t *testing.T) {
	gradCheck(t, "silu", [][]int{{2, 3, 4, 5}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return SiLU(in[0]) })
	gradCheck(t, "upsample", [][]int{{2, 3, 3, 4}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Upsample(in[0], 2) })
	gradCheck(t, "groupnorm", [][]int{{3, 4, 3, 5}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Normalize(in[0], 2, 1e-5) })
	gradCheck(t, "conv2d_bias", [][]int{{2, 3, 5, 6}, {4, 3, 3, 3}, {1, 4, 1, 1}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return Conv2DBias(in[0], in[1], in[2], 1, 1)
	})
	gradCheck(t, "conv2d_bias_strided", [][]int{{2, 3, 7, 7}, {4, 3, 3, 3}, {1, 4, 1, 1}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return Conv2DBias(in[0], in[1], in[2], 2, 1)
	})
	gradCheck(t, "concat", [][]int{{2, 3, 4, 5}, {2, 2, 4, 5}, {2, 1, 4, 5}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Concat(in...) })
	gradCheck(t, "concat2d", [][]int{{3, 4}, {3, 2}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Concat(in...) })
	for _, c := range []struct{ k, s, p, h, w int }{{3, 1, 1, 5, 6}, {3, 2, 1, 7, 7}, {1, 1, 0, 4, 3}, {3, 2, 1, 6, 6}} {
		gradCheck(t, "conv2d", [][]int{{2, 3, c.h, c.w}, {4, 3, c.k, c.k}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
			return Conv2D(in[0], in[1], c.s, c.p)
		})
	}
}

func TestLossGradients(t *testing.T) {
	gradCheck(t, "bernoulli", [][]int{{2, 1, 3, 4}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		x := input(g, "x", []int{2, 1, 3, 4}, []float32{0, 1, 0.3, 0.7, 1, 0, 0, 1, 0.5, 0.2, 1, 1, 0, 0, 1, 0.9, 0.1, 0, 1, 0, 1, 0, 0.4, 0.6})
		return BernoulliNLL(in[0], x)
	})
	// Bin centres from both edges and the middle, with scales from sharp to wide.
	xs := make([]float32, 24)
	for i := range xs {
		xs[i] = float32([]int{0, 255, 1, 254, 17, 128, 200, 64}[i%8])*2/255 - 1
	}
	gradCheck(t, "logistic", [][]int{{2, 1, 3, 4}, {2, 1, 3, 4}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		x := input(g, "x", []int{2, 1, 3, 4}, xs)
		return LogisticNLL(in[0], in[1], x)
	})
}

func TestSoftmaxNLLGradient(t *testing.T) {
	onehot := make([]float32, 3*5)
	for i, c := range []int{2, 0, 4} {
		onehot[i*5+c] = 1
	}
	gradCheck(t, "softmax", [][]int{{3, 5}}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return SoftmaxNLL(in[0], input(g, "y", []int{3, 5}, onehot))
	})
}

// The forward value is -log softmax at the target.
func TestSoftmaxNLLValue(t *testing.T) {
	g := G.NewGraph()
	l := input(g, "l", []int{1, 3}, []float32{1, 2, 3})
	y := input(g, "y", []int{1, 3}, []float32{0, 1, 0})
	out := G.Must(G.Sum(G.Must(SoftmaxNLL(l, y))))
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := -math.Log(math.Exp(2) / (math.Exp(1) + math.Exp(2) + math.Exp(3)))
	if got := float64(out.Value().Data().(float32)); math.Abs(got-want) > 1e-5 {
		t.Errorf("NLL %v, want %v", got, want)
	}
}

// col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)> for any
// x and c, at strides, paddings and kernels that leave edge columns out.
func TestCol2imAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range []struct{ b, ch, h, w, k, s, p int }{
		{2, 3, 5, 6, 3, 1, 1}, {1, 2, 7, 7, 3, 2, 1}, {2, 1, 6, 5, 5, 1, 2}, {1, 3, 6, 6, 3, 2, 0}, {2, 2, 4, 3, 1, 1, 0}, {1, 1, 8, 9, 3, 3, 2},
	} {
		c := convGeom{k: g.k, stride: g.s, pad: g.p}
		ho, wo := (g.h+2*g.p-g.k)/g.s+1, (g.w+2*g.p-g.k)/g.s+1
		x := make([]float64, g.b*g.ch*g.h*g.w)
		cols := make([]float64, g.ch*g.k*g.k*g.b*ho*wo)
		x32, c32 := make([]float32, len(x)), make([]float32, len(cols))
		for i := range x {
			x32[i] = float32(r.NormFloat64())
			x[i] = float64(x32[i])
		}
		for i := range cols {
			c32[i] = float32(r.NormFloat64())
			cols[i] = float64(c32[i])
		}
		ix := make([]float32, len(cols))
		c.im2col(ix, x32, g.b, g.ch, g.h, g.w, ho, wo)
		dx := make([]float32, len(x))
		c.col2im(dx, c32, g.b, g.ch, g.h, g.w, ho, wo)
		var lhs, rhs, scale float64
		for i, v := range ix {
			lhs += float64(v) * cols[i]
			scale += math.Abs(float64(v) * cols[i])
		}
		for i, v := range dx {
			rhs += x[i] * float64(v)
		}
		if math.Abs(lhs-rhs) > 1e-5*scale {
			t.Errorf("%+v: <im2col x, c> = %v, <x, col2im c> = %v", g, lhs, rhs)
		}
	}
}

// The broadcast kernels: a per-channel bias and scale, a per-sample
// embedding added to every pixel, a row bias of a linear layer.
func TestBroadcastGradients(t *testing.T) {
	for _, s := range [][2][]int{
		{{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 3, 4, 5}, {2, 3, 1, 1}}, {{3, 7}, {1, 7}}, {{2, 3, 4, 5}, {2, 1, 1, 1}}, {{2, 3, 4, 5}, {1, 1, 4, 5}},
	} {
		gradCheck(t, fmt.Sprintf("bcast_add%v", s[1]), [][]int{s[0], s[1]}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return BroadcastAdd(in[0], in[1]) })
		gradCheck(t, fmt.Sprintf("bcast_mul%v", s[1]), [][]int{s[0], s[1]}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return BroadcastMul(in[0], in[1]) })
	}
}

// Their values equal gorgonia's own broadcast ops'.
func TestBroadcastValues(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	g := G.NewGraph()
	x := input(g, "x", []int{2, 3, 4, 5}, randSlice(r, 120, 1))
	b := input(g, "b", []int{1, 3, 1, 1}, randSlice(r, 3, 1))
	ours := [2]*G.Node{G.Must(BroadcastAdd(x, b)), G.Must(BroadcastMul(x, b))}
	theirs := [2]*G.Node{G.Must(G.BroadcastAdd(x, b, nil, []byte{0, 2, 3})), G.Must(G.BroadcastHadamardProd(x, b, nil, []byte{0, 2, 3}))}
	var taps [4]*G.Node
	for i := range 2 {
		taps[2*i], taps[2*i+1] = G.Must(Tap(ours[i])), G.Must(Tap(theirs[i]))
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		a, c := taps[2*i].Value().Data().([]float32), taps[2*i+1].Value().Data().([]float32)
		for j := range a {
			if a[j] != c[j] {
				t.Fatalf("op %d element %d: %v, gorgonia %v", i, j, a[j], c[j])
			}
		}
	}
}
