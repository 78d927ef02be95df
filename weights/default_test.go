package weights

import "testing"

// The shipped weights decode, validate, stay under the 8 MB budget and
// record where they came from.
func TestDefaultWeights(t *testing.T) {
	b := Default()
	if len(b) > 8<<20 {
		t.Errorf("default weights are %d bytes, over 8 MB", len(b))
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Provenance
	if p.DatasetSHA256 == "" || p.Command == "" || p.Steps == 0 {
		t.Errorf("provenance incomplete: %+v", p)
	}
}
