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

// Every shipped model decodes within the 8 MB budget with its provenance,
// its classifier (if any) decodes, IDs and file names are distinct, and
// the default comes first.
func TestShippedModels(t *testing.T) {
	ms := ShippedModels()
	if len(ms) == 0 || &ms[0].Weights()[0] != &Default()[0] {
		t.Fatal("the default model is not the first shipped one")
	}
	seen := map[string]bool{}
	for _, m := range ms {
		for _, k := range []string{"id " + m.ID, "file " + m.File, "file " + m.Classifier} {
			if k != "file " && seen[k] {
				t.Errorf("%s repeats", k)
			}
			seen[k] = true
		}
		if m.ID == "" || m.Title == "" || m.File == "" {
			t.Errorf("model %+v lacks an ID, title or file name", m.ID)
		}
		if len(m.Weights()) > 8<<20 {
			t.Errorf("%s: %d bytes, over 8 MB", m.ID, len(m.Weights()))
		}
		f, err := Decode(m.Weights())
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		if f.Provenance.Command == "" || f.Provenance.Steps == 0 {
			t.Errorf("%s: provenance incomplete", m.ID)
		}
		if (m.Classifier == "") != (m.ClassifierFile() == nil) {
			t.Errorf("%s: classifier name %q with %d bytes", m.ID, m.Classifier, len(m.ClassifierFile()))
		}
		if m.ClassifierFile() != nil {
			c, err := DecodeClassifier(m.ClassifierFile())
			if err != nil {
				t.Errorf("%s: classifier: %v", m.ID, err)
			} else if c.EncoderSHA256 != f.EncoderSHA256() {
				t.Errorf("%s: the classifier records encoder %.12s, the model's is %.12s", m.ID, c.EncoderSHA256, f.EncoderSHA256())
			}
		}
		if got, ok := ShippedModel(m.ID); !ok || got.File != m.File {
			t.Errorf("ShippedModel(%q) = %v, %v", m.ID, got.File, ok)
		}
		if got, ok := ShippedFor(append([]byte(nil), m.Weights()...)); !ok || got.ID != m.ID {
			t.Errorf("ShippedFor(a copy of %s) = %v, %v", m.ID, got.ID, ok)
		}
	}
}
