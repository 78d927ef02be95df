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
