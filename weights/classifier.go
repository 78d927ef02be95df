package weights

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ClassifierMagic starts a classifier file: then the SHA-256 of the body,
// then the msgpack body (Classifier).
const ClassifierMagic = "LSGMCLF\x01"

// Classifier is a classifier file: a graph in the weights vocabulary with
// its tensors. Two kinds: the Fréchet-distance feature classifier on
// images (input "x", outputs "features" and "logits"), and a noisy
// classifier for classifier guidance (Noisy: inputs "z", a diffused latent
// of the model named Model, and "t", its time; output "logits"), trained
// on that model's latents.
type Classifier struct {
	Graph         Graph                `msgpack:"graph"`
	Tensors       map[string][]float32 `msgpack:"tensors"`
	Classes       int                  `msgpack:"classes"`
	Accuracy      float64              `msgpack:"test_accuracy"`
	Dataset       string               `msgpack:"dataset"`
	DatasetSHA256 string               `msgpack:"dataset_sha256"`
	Epochs        int                  `msgpack:"epochs"`

	// Noisy classifiers only.
	Noisy bool     `msgpack:"noisy,omitempty"`
	Names []string `msgpack:"class_names,omitempty"`
	Model string   `msgpack:"model,omitempty"` // the LSGM model's Arch.Name
	// EncoderSHA256 is the model's File.EncoderSHA256: the latent space it
	// classifies, which the runtime checks. ModelSHA256 (the whole file's,
	// so it changed with the provenance) is only in older files, which the
	// runtime can check by latent shape alone; trainer classifier --rebind
	// upgrades them.
	EncoderSHA256 string             `msgpack:"encoder_sha256,omitempty"`
	ModelSHA256   string             `msgpack:"model_sha256,omitempty"`
	LatentShape   []int              `msgpack:"latent_shape,omitempty"`
	AccuracyAt    map[string]float64 `msgpack:"accuracy_at,omitempty"` // test accuracy at times t ("0.1": 0.93)
}

// EncodeClassifier writes c as a classifier file.
func EncodeClassifier(c *Classifier) ([]byte, error) {
	body, err := msgpack.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return append(append([]byte(ClassifierMagic), sum[:]...), body...), nil
}

// DecodeClassifier reads a classifier file, checking its magic, checksum
// and graph (shapes and every parameter tensor present and sized).
func DecodeClassifier(b []byte) (*Classifier, error) {
	if len(b) < len(ClassifierMagic)+32 || string(b[:len(ClassifierMagic)]) != ClassifierMagic {
		return nil, errors.New("weights: not a classifier file (trainer classifier writes them)")
	}
	body := b[len(ClassifierMagic)+32:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(ClassifierMagic):len(ClassifierMagic)+32]) {
		return nil, errors.New("weights: the classifier file is corrupt (checksum mismatch)")
	}
	c := &Classifier{}
	if err := msgpack.Unmarshal(body, c); err != nil {
		return nil, fmt.Errorf("weights: classifier file: %v", err)
	}
	_, params, err := c.Graph.Shapes("classifier")
	if err != nil {
		return nil, err
	}
	for _, p := range params {
		t, ok := c.Tensors[p.Name]
		if !ok || len(t) != Numel(p.Shape) {
			return nil, fmt.Errorf("weights: classifier tensor %s missing or not %v", p.Name, p.Shape)
		}
	}
	if c.Classes < 1 || c.Noisy && len(c.Names) != c.Classes {
		return nil, fmt.Errorf("weights: classifier with %d classes and %d class names", c.Classes, len(c.Names))
	}
	return c, nil
}
