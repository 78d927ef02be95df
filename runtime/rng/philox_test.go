package rng

import (
	"math"
	"testing"
)

// Known-answer vectors for Philox4x32-10 from the Random123 distribution
// (kat_vectors: zeros, all-ones and the digits of pi).
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Philox4x32(c.ctr, c.key); got != c.want {
			t.Errorf("Philox4x32(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

func TestUniform23Range(t *testing.T) {
	for _, x := range []uint32{0, 1, 255, 256, 0x7fffffff, 0xffffff00, 0xffffffff} {
		u := Uniform23(x)
		if !(u > 0 && u < 1) {
			t.Errorf("Uniform23(%#x) = %v, want in (0,1)", x, u)
		}
	}
}

// The normals must be standard: mean, variance, and a tail frequency, over 2^20
// draws, within five standard errors.
func TestNormalsMoments(t *testing.T) {
	const n = 1 << 20
	buf := make([]float32, n)
	Normals(buf, 42, 3, 7, StreamStep)
	var s, s2, s4 float64
	tail := 0
	for _, v := range buf {
		x := float64(v)
		s += x
		s2 += x * x
		s4 += x * x * x * x
		if math.Abs(x) > 1.959963984540054 {
			tail++
		}
	}
	mean, vr, kurt := s/n, s2/n, s4/n
	if math.Abs(mean) > 5/math.Sqrt(n) {
		t.Errorf("mean %v", mean)
	}
	if math.Abs(vr-1) > 5*math.Sqrt(2.0/n) {
		t.Errorf("variance %v", vr)
	}
	if math.Abs(kurt-3) > 5*math.Sqrt(96.0/n) {
		t.Errorf("fourth moment %v, want 3", kurt)
	}
	p := float64(tail) / n
	if math.Abs(p-0.05) > 5*math.Sqrt(0.05*0.95/n) {
		t.Errorf("P(|x|>1.96) = %v, want 0.05", p)
	}
}

// Noise depends on (seed, sample, step, stream, element) only: splitting a batch
// or changing its size must not change any sample's noise, and every coordinate
// of the counter must matter.
func TestSourceBatchInvariance(t *testing.T) {
	const dim = 13 // odd on purpose: blocks of four straddle samples
	whole := make([]float32, 6*dim)
	Source{Seed: 9, Dim: dim}.Fill(whole, 4, StreamStep)
	part := make([]float32, 2*dim)
	Source{Seed: 9, First: 3, Dim: dim}.Fill(part, 4, StreamStep)
	for i := range part {
		if part[i] != whole[3*dim+i] {
			t.Fatalf("element %d of sample 3 differs between batches: %v vs %v", i, part[i], whole[3*dim+i])
		}
	}
	one := make([]float32, dim)
	Normals(one, 9, 0, 4, StreamStep)
	differ := func(name string, other []float32) {
		same := 0
		for i := range one {
			if one[i] == other[i] {
				same++
			}
		}
		if same > 0 {
			t.Errorf("changing %s left %d of %d elements equal", name, same, dim)
		}
	}
	o := make([]float32, dim)
	Normals(o, 10, 0, 4, StreamStep)
	differ("seed", o)
	Normals(o, 9, 1, 4, StreamStep)
	differ("sample", o)
	Normals(o, 9, 0, 5, StreamStep)
	differ("step", o)
	Normals(o, 9, 0, 4, StreamInit)
	differ("stream", o)
	Normals(o, 9, 0, 4, StreamStep)
	for i := range o {
		if o[i] != one[i] {
			t.Fatalf("same counter gave different noise")
		}
	}
}

func BenchmarkNormals(b *testing.B) {
	buf := make([]float32, 4096)
	b.SetBytes(4 * 4096)
	for i := 0; i < b.N; i++ {
		Normals(buf, 1, uint32(i), 0, StreamStep)
	}
}

// Class is a function of (seed, sample) in [0, k), near uniform (a
// chi-square test over 50,000 draws at k = 10, far past its 0.1% point of
// 27.9 only when broken), and another seed draws other classes.
func TestClass(t *testing.T) {
	const k, n = 10, 50000
	var count [k]int
	same := 0
	for i := uint32(0); i < n; i++ {
		c := Class(7, i, k)
		if c < 0 || c >= k {
			t.Fatalf("Class(7, %d, %d) = %d", i, k, c)
		}
		if c != Class(7, i, k) {
			t.Fatal("Class is not deterministic")
		}
		if c == Class(8, i, k) {
			same++
		}
		count[c]++
	}
	chi2 := 0.0
	for _, c := range count {
		e := float64(n) / k
		chi2 += (float64(c) - e) * (float64(c) - e) / e
	}
	if chi2 > 27.9 {
		t.Errorf("class counts %v: chi-square %.1f with 9 degrees of freedom", count, chi2)
	}
	if same > n/k+n/50 {
		t.Errorf("seeds 7 and 8 agree on %d of %d classes", same, n)
	}
	if Class(1, 0, 1) != 0 {
		t.Error("one class: not 0")
	}
}
