package weights

import (
	"bytes"
	_ "embed"
)

// defaultModel is the shipped Fashion-MNIST model, trained with trainer fit
// on a 2-core CPU (the command, data checksum and figures are in its
// provenance and in the README).
//
//go:embed default.lsgm
var defaultModel []byte

// Default returns the bytes of the shipped default weights.
func Default() []byte { return defaultModel }

// The first default: an unconditional Fashion-MNIST model, kept so that the
// page, the viewer and the tests have a real model that samples a class
// only by classifier guidance, with its noisy classifier (trainer classifier
// --noisy; its accuracy by diffusion time is in the file). Its full-size FD
// table is in its provenance.
//
//go:embed fashion-uncond.lsgm
var uncondModel []byte

//go:embed fashion-uncond-noisy.lsgmc
var uncondClassifier []byte

// mnistModel is the binarized-MNIST model: a Bernoulli decoder trained on
// dynamically binarized digits, the LSGM paper's likelihood benchmark (its
// test NELBO is in its provenance).
//
//go:embed mnist.lsgm
var mnistModel []byte

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
		{ID: "fashion", Title: "Fashion-MNIST", File: "default.lsgm", weights: defaultModel},
		{ID: "fashion-uncond", Title: "Fashion-MNIST, unconditional (classifier guidance)", File: "fashion-uncond.lsgm", Classifier: "fashion-uncond-noisy.lsgmc", weights: uncondModel, classifier: uncondClassifier},
		{ID: "mnist", Title: "MNIST, binarized", File: "mnist.lsgm", weights: mnistModel},
	}
}

// ShippedModel returns the shipped model with the given ID.
func ShippedModel(id string) (Shipped, bool) {
	for _, s := range ShippedModels() {
		if s.ID == id {
			return s, true
		}
	}
	return Shipped{}, false
}

// ShippedFor returns the shipped model whose weights file is data, if any:
// a copy of a shipped file gets its shipped classifier.
func ShippedFor(data []byte) (Shipped, bool) {
	for _, s := range ShippedModels() {
		if bytes.Equal(s.weights, data) {
			return s, true
		}
	}
	return Shipped{}, false
}
