package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/weights"
)

// runOne builds a one-node graph over input "x" [C,H,W] (and "y" when the op
// takes two) and returns the gorgonia output and the runtime reference.
func runOne(t *testing.T, nd weights.Node, xs, ys []int, B int) (got, want []float32) {
	t.Helper()
	gr := &weights.Graph{Inputs: []weights.Input{{Name: "x", Shape: xs}}, Nodes: []weights.Node{nd}, Outputs: []weights.Port{{Name: "out", Node: nd.Name}}}
	if ys != nil {
		gr.Inputs = append(gr.Inputs, weights.Input{Name: "y", Shape: ys})
	}
	shapes, specs, err := gr.Shapes("score")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, uint64(len(nd.Op))))
	f := &weights.File{}
	for _, s := range specs {
		f.Tensors = append(f.Tensors, weights.Tensor{Name: s.Name, Shape: s.Shape, Data: randSlice(r, weights.Numel(s.Shape), 0.5)})
	}
	g := G.NewGraph()
	p := &Params{Nodes: map[string]*G.Node{}}
	for _, tt := range f.Tensors {
		p.Nodes[tt.Name] = input(g, tt.Name, tt.Shape, append([]float32(nil), tt.Data...))
	}
	x := randSlice(r, B*weights.Numel(xs), 1)
	ins := map[string]*G.Node{"x": input(g, "x", append([]int{B}, xs...), append([]float32(nil), x...))}
	var y []float32
	if ys != nil {
		y = randSlice(r, B*weights.Numel(ys), 1)
		ins["y"] = input(g, "y", append([]int{B}, ys...), append([]float32(nil), y...))
	}
	net, err := Build(g, gr, "score", B, ins, p)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got = net.Outputs["out"].Value().Data().([]float32)
	want = make([]float32, B*weights.Numel(shapes[nd.Name]))
	w := func(which string) []float32 {
		if tt := f.Find(weights.ParamName("score", nd.Name, which)); tt != nil {
			return tt.Data
		}
		return nil
	}
	switch nd.Op {
	case "linear":
		runtime.Linear(want, x, w("weight"), w("bias"), B, xs[0], nd.Out)
	case "conv2d":
		runtime.Conv2D(want, x, w("weight"), w("bias"), B, xs[0], xs[1], xs[2], nd.Out, nd.Kernel, nd.Stride, nd.Pad)
	case "groupnorm":
		runtime.GroupNorm(want, x, w("weight"), w("bias"), B, xs[0], xs[1]*xs[2], nd.Groups, float32(nd.Eps))
	case "upsample":
		runtime.Upsample(want, x, B, xs[0], xs[1], xs[2], nd.Factor)
	case "silu":
		runtime.SiLU(want, x)
	case "add":
		runtime.Add(want, x, y, B, weights.Numel(xs), weights.Numel(ys))
	case "concat":
		runtime.Concat(want, [][]float32{x, y}, []int{weights.Numel(xs), weights.Numel(ys)}, B)
	}
	return got, want
}

func TestOpsMatchRuntime(t *testing.T) {
	cases := []struct {
		nd     weights.Node
		xs, ys []int
	}{
		{weights.Node{Name: "n", Op: "linear", In: []string{"x"}, Out: 5}, []int{7}, nil},
		{weights.Node{Name: "n", Op: "conv2d", In: []string{"x"}, Out: 4, Kernel: 3, Stride: 1, Pad: 1}, []int{3, 5, 6}, nil},
		{weights.Node{Name: "n", Op: "conv2d", In: []string{"x"}, Out: 4, Kernel: 3, Stride: 2, Pad: 1}, []int{3, 7, 7}, nil},
		{weights.Node{Name: "n", Op: "conv2d", In: []string{"x"}, Out: 2, Kernel: 1, Stride: 1, Pad: 0}, []int{3, 4, 4}, nil},
		{weights.Node{Name: "n", Op: "groupnorm", In: []string{"x"}, Groups: 2, Eps: 1e-5}, []int{4, 3, 5}, nil},
		{weights.Node{Name: "n", Op: "upsample", In: []string{"x"}, Factor: 2}, []int{2, 3, 4}, nil},
		{weights.Node{Name: "n", Op: "silu", In: []string{"x"}}, []int{2, 3, 4}, nil},
		{weights.Node{Name: "n", Op: "add", In: []string{"x", "y"}}, []int{2, 3, 4}, []int{2, 3, 4}},
		{weights.Node{Name: "n", Op: "add", In: []string{"x", "y"}}, []int{2, 3, 4}, []int{2}},
		{weights.Node{Name: "n", Op: "concat", In: []string{"x", "y"}}, []int{2, 3, 4}, []int{3, 3, 4}},
	}
	for _, c := range cases {
		for _, B := range []int{1, 3} {
			got, want := runOne(t, c.nd, c.xs, c.ys, B)
			if e := relErr(got, want); e > 1e-5 {
				t.Errorf("%s %v B=%d: relative error %.2g", c.nd.Op, c.xs, B, e)
			}
		}
	}
}
