package weights

import _ "embed"

// defaultModel is the shipped Fashion-MNIST model, trained with trainer fit
// on a 2-core CPU (the command, data checksum and figures are in its
// provenance and in the README).
//
//go:embed default.lsgm
var defaultModel []byte

// Default returns the bytes of the shipped default weights.
func Default() []byte { return defaultModel }

// defaultClassifier is classifier guidance's noisy classifier of the
// shipped model's latents (trainer classifier --noisy; its accuracy by
// diffusion time is in the file): it lets the unconditional default model
// sample a class.
//
//go:embed default-noisy.lsgmc
var defaultClassifier []byte

// DefaultClassifier returns the bytes of the shipped noisy classifier.
func DefaultClassifier() []byte { return defaultClassifier }

// Shipped is one of the models that ship with the project, embedded: the
// demo page's model picker, the site's files and the viewer's N key list
// them in this order, the default first.
type Shipped struct {
	ID    string // short name, for URLs (?model=ID) and flags
	Title string // what a picker shows
	// File and Classifier name the weights file and its noisy classifier
	// (empty: none) as the site serves them.
	File, Classifier string

	weights, classifier []byte
}

// Weights returns the model's weights file.
func (s Shipped) Weights() []byte { return s.weights }

// ClassifierFile returns the model's noisy classifier file, or nil.
func (s Shipped) ClassifierFile() []byte { return s.classifier }

// ShippedModels lists the shipped models, the default first.
func ShippedModels() []Shipped {
	return []Shipped{
		{ID: "fashion", Title: "Fashion-MNIST", File: "default.lsgm", Classifier: "default-noisy.lsgmc", weights: defaultModel, classifier: defaultClassifier},
	}
}
