package data

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// Each toy set is deterministic, lies in [0, 1] and has its shape: the GMM's
// points sit near one of its 8 means, the checkerboard's on filled squares
// only, the swiss roll's within its radii; all 8 modes or squares are used.
func TestToy(t *testing.T) {
	for _, name := range ToyNames {
		s, err := Toy(name, 4000, 7)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Toy(name, 4000, 7)
		other, _ := Toy(name, 4000, 8)
		if !slices.Equal(s.Images, again.Images) || s.SHA256 != again.SHA256 || slices.Equal(s.Images, other.Images) {
			t.Errorf("%s: not a function of its seed", name)
		}
		if s.N != 4000 || !slices.Equal(s.Shape, []int{2, 1, 1}) || s.Source != "toy:"+name {
			t.Errorf("%s: set %d %v %q", name, s.N, s.Shape, s.Source)
		}
		seen := map[int]int{}
		for i := 0; i < s.N; i++ {
			p := s.Image(i)
			if p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1 {
				t.Fatalf("%s: point %v outside [0, 1]", name, p)
			}
			x, y := FromUnit(p[0]), FromUnit(p[1])
			switch name {
			case "gmm":
				k := int(math.Round(math.Atan2(y, x)/(2*math.Pi)*8+8)) % 8
				a := 2 * math.Pi * float64(k) / 8
				if d := math.Hypot(x-math.Cos(a), y-math.Sin(a)); d > 0.5 { // > 6 std
					t.Fatalf("gmm: point (%v, %v) is %v from the nearest mean", x, y, d)
				}
				seen[k]++
			case "checkerboard":
				i, j := int(math.Floor((y+1.2)/0.6)), int(math.Floor((x+1.2)/0.6))
				if (i+j)%2 != 0 || i < 0 || i > 3 || j < 0 || j > 3 {
					t.Fatalf("checkerboard: point (%v, %v) on empty square (%d, %d)", x, y, i, j)
				}
				seen[i*4+j]++
			case "swissroll":
				if r := math.Hypot(x, y); r < 0.3 || r > 1.35 {
					t.Fatalf("swissroll: point (%v, %v) at radius %v", x, y, r)
				}
				seen[0]++
			}
		}
		if name != "swissroll" && len(seen) != 8 {
			t.Errorf("%s: %d modes or squares used, want 8", name, len(seen))
		}
	}
	for _, c := range []struct {
		name string
		n    int
		want string
	}{{"spiral", 10, "unknown toy set"}, {"gmm", 0, "0 points"}} {
		if _, err := Toy(c.name, c.n, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Toy(%q, %d): %v, want %q", c.name, c.n, err, c.want)
		}
	}
}
