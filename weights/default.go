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
