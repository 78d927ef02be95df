package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny.lsgm")

func tiny(t testing.TB) *File {
	t.Helper()
	a, err := NewArch(TinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	f, err := Random(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// micro is the smallest valid file: a data-space score model of one 1x1 conv.
func micro() *File {
	return &File{
		Arch: Arch{
			Name: "micro", DataShape: []int{1, 2, 2}, LatentShape: []int{1, 2, 2}, Likelihood: "none",
			SDE: SDESpec{Kind: "vpsde"},
			Score: Graph{
				Inputs:  []Input{{"z", []int{1, 2, 2}}, {"t", []int{1}}},
				Nodes:   []Node{{Name: "c", Op: "conv2d", In: []string{"z"}, Out: 1, Kernel: 1, Stride: 1}},
				Outputs: []Port{{"eps", "c"}},
			},
		},
		Tensors: []Tensor{
			{Name: "score/c.weight", Shape: []int{1, 1, 1, 1}, Data: []float32{0.5}},
			{Name: "score/c.bias", Shape: []int{1}, Data: []float32{-0.25}, Half: true},
		},
		Provenance: Provenance{Dataset: "none", Command: "micro"},
	}
}

func mustEncode(t testing.TB, f *File) []byte {
	t.Helper()
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fixture is written by a deterministic generator: regenerating it gives
// the committed bytes, which the current decoder still reads.
func TestFixtureIsReproducible(t *testing.T) {
	b := mustEncode(t, tiny(t))
	path := filepath.Join("testdata", "tiny.lsgm")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./weights -run Fixture -update)", err)
	}
	if !bytes.Equal(b, committed) {
		t.Fatalf("regenerated fixture differs from %s (%d vs %d bytes): the generator or the format changed; if intended, rerun with -update", path, len(b), len(committed))
	}
	if _, err := Decode(committed); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	f := tiny(t)
	f.Tensors[3].Half = true
	f.Provenance.Metrics = map[string]float64{"nelbo": 123.5}
	b := mustEncode(t, f)
	g, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Arch.Name != f.Arch.Name || len(g.Tensors) != len(f.Tensors) || g.Provenance.Metrics["nelbo"] != 123.5 {
		t.Fatalf("round trip lost data: %+v", g.Provenance)
	}
	for i, ft := range f.Tensors {
		gt := g.Tensors[i]
		if gt.Name != ft.Name || !equal(gt.Shape, ft.Shape) || gt.Half != ft.Half {
			t.Fatalf("tensor %d: %s %v vs %s %v", i, gt.Name, gt.Shape, ft.Name, ft.Shape)
		}
		for j := range ft.Data {
			// f16 keeps 11 significant bits: relative error <= 2^-11.
			tol := 0.0
			if ft.Half {
				tol = math.Abs(float64(ft.Data[j])) * math.Pow(2, -11)
			}
			if d := math.Abs(float64(gt.Data[j] - ft.Data[j])); d > tol {
				t.Fatalf("%s[%d] = %v, wrote %v", ft.Name, j, gt.Data[j], ft.Data[j])
			}
		}
	}
	if !bytes.Equal(b, mustEncode(t, g)) && !f.Tensors[3].Half {
		t.Error("re-encoding a decoded file changed its bytes")
	}
}

func TestForeignAndVersion(t *testing.T) {
	cases := []struct {
		data []byte
		want error
		say  string
	}{
		{[]byte("\x89PNG\r\n\x1a\n0000000000"), ErrNotWeights, "PNG"},
		{[]byte("<!doctype html><p>404 not found</p>"), ErrNotWeights, "HTML"},
		{[]byte("PK\x03\x04 pytorch zip......."), ErrNotWeights, "zip"},
		{nil, ErrNotWeights, "empty"},
		{[]byte("LSGM"), ErrTruncated, "header"},
	}
	for _, c := range cases {
		_, err := Decode(c.data)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.say) {
			t.Errorf("Decode(%q) = %v, want %v mentioning %q", c.data, err, c.want, c.say)
		}
	}
	b := mustEncode(t, micro())
	binary.LittleEndian.PutUint32(b[len(Magic):], Version+1)
	if _, err := Decode(b); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "2") {
		t.Errorf("newer version: %v", err)
	}
}

// Every truncation is an error, never a panic or a success.
func TestTruncations(t *testing.T) {
	b := mustEncode(t, tiny(t))
	r := rand.New(rand.NewPCG(1, 2))
	lengths := []int{len(b) - 1, len(b) - 2, len(b) / 2}
	for n := 0; n < 200; n++ {
		lengths = append(lengths, n, r.IntN(len(b)))
	}
	for _, n := range lengths {
		if _, err := Decode(b[:n]); err == nil {
			t.Fatalf("a file truncated to %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := Decode(b[:len(b)-100]); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated file: %v, want ErrTruncated", err)
	}
	if _, err := Decode(append(append([]byte{}, b...), 0, 1)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing bytes: %v", err)
	}
}

// A flipped bit in tensor data fails the checksum.
func TestChecksum(t *testing.T) {
	b := mustEncode(t, micro())
	i := bytes.Index(b, []byte{0x00, 0x00, 0x00, 0x3f}) // 0.5 as f32 little-endian
	if i < 0 {
		t.Fatal("tensor bytes not found")
	}
	b[i+1] ^= 0x10
	if _, err := Decode(b); !errors.Is(err, ErrChecksum) {
		t.Fatalf("corrupt tensor byte: %v, want ErrChecksum", err)
	}
}

// EncoderSHA256 names the latent space: it ignores the provenance and the
// other networks' tensors, and follows every encoder value.
func TestEncoderSHA256(t *testing.T) {
	f := tiny(t)
	sum := f.EncoderSHA256()
	if len(sum) != 64 {
		t.Fatalf("EncoderSHA256 = %q", sum)
	}
	g, err := Decode(mustEncode(t, f))
	if err != nil {
		t.Fatal(err)
	}
	g.Provenance.Notes = "recorded later"
	for i := range g.Tensors {
		if !strings.HasPrefix(g.Tensors[i].Name, "encoder/") {
			g.Tensors[i].Data[0] += 1
		}
	}
	if g.EncoderSHA256() != sum {
		t.Error("the checksum changed with the provenance or a decoder or score tensor")
	}
	changed := false
	for i := range g.Tensors {
		if strings.HasPrefix(g.Tensors[i].Name, "encoder/") {
			g.Tensors[i].Data[len(g.Tensors[i].Data)-1] += 1e-3
			changed = true
			break
		}
	}
	if !changed || g.EncoderSHA256() == sum {
		t.Errorf("an encoder value changed (%v) and the checksum did not", changed)
	}
	if s := micro().EncoderSHA256(); s != "" {
		t.Errorf("a model without an encoder: %q, want empty", s)
	}
}

// Tensors must match the architecture: a wrong shape, a missing or extra
// tensor, a NaN, each named in the error.
func TestValidateAgainstArch(t *testing.T) {
	f := micro()
	f.Tensors[0].Shape = []int{1, 1, 3, 3}
	f.Tensors[0].Data = make([]float32, 9)
	if _, err := Encode(f); err == nil || !strings.Contains(err.Error(), "score/c.weight") || !strings.Contains(err.Error(), "[1 1 1 1]") {
		t.Errorf("shape mismatch: %v", err)
	}
	f = micro()
	f.Tensors = f.Tensors[:1]
	if _, err := Encode(f); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing tensor: %v", err)
	}
	f = micro()
	f.Tensors = append(f.Tensors, Tensor{Name: "stray", Shape: []int{1}, Data: []float32{1}})
	if _, err := Encode(f); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("extra tensor: %v", err)
	}
	f = micro()
	f.Tensors[1].Data[0] = float32(math.NaN())
	if _, err := Encode(f); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN tensor: %v", err)
	}
	f = micro()
	f.Arch.Score.Nodes[0].In = []string{"nowhere"}
	if _, err := Encode(f); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("dangling input: %v", err)
	}
	f = micro()
	f.Arch.Score.Nodes[0].Out = 2
	if _, err := Encode(f); err == nil || !strings.Contains(err.Error(), "eps") {
		t.Errorf("wrong output shape: %v", err)
	}
}

// A file that declares a 4 GiB tensor in a few bytes is rejected before any
// allocation of that size.
func TestDeclaredLengthBeyondData(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(Magic)
	binary.Write(&b, binary.LittleEndian, uint32(Version))
	b.Write([]byte{0x81, 0xa7}) // map of 1, key of 7 chars
	b.WriteString("tensors")
	b.Write([]byte{0xdd, 0xff, 0xff, 0xff, 0xf0}) // array32 of 4 billion items
	b.Write([]byte{0xc6, 0xff, 0xff, 0xff, 0xf0}) // bin32 of 4 GiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(b.Bytes())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Errorf("decoding a 30-byte file allocated %d bytes", d)
	}
}

func FuzzDecode(f *testing.F) {
	m := mustEncode(f, micro())
	f.Add(m)
	f.Add(m[:len(m)/2])
	f.Add([]byte(Magic + "\x01\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data)
		if err != nil {
			return
		}
		// Anything accepted must be a valid model that survives a round trip.
		again, err := Encode(file)
		if err != nil {
			t.Fatalf("decoded file does not re-encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
	})
}
