package weights

import "testing"

// The networks of every shipped config stay within the web page budget of 8 MB
// of f32 weights (issue: "all weights together at most 8 MB in f32").
func TestConfigsFitTheBudget(t *testing.T) {
	for _, c := range []NetConfig{TinyConfig(), DefaultConfig()} {
		a, err := NewArch(c)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		specs, _ := a.Params()
		n := 0
		for _, s := range specs {
			n += Numel(s.Shape)
		}
		t.Logf("%s: %d tensors, %d parameters, %.2f MB in f32, latent %v", c.Name, len(specs), n, float64(4*n)/1e6, a.LatentShape)
		if 4*n > 8<<20 {
			t.Errorf("%s: %d bytes of f32 weights, over 8 MiB", c.Name, 4*n)
		}
	}
}
