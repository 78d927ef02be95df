package nn

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// backends are the BLAS implementations compiled in: gonum's pure Go one
// always, OpenBLAS through cgo with the openblas build tag.
var backends = map[string]blas.Float32{"gonum": gonum.Implementation{}}

var current = "gonum"

// BLAS names the backend in use.
func BLAS() string { return current }

// Backends lists the compiled-in BLAS backends.
func Backends() []string {
	var s []string
	for _, n := range []string{"openblas", "gonum"} {
		if _, ok := backends[n]; ok {
			s = append(s, n)
		}
	}
	return s
}

// UseBLAS selects a backend by name ("auto" picks OpenBLAS when compiled in).
func UseBLAS(name string) error {
	if name == "auto" {
		name = Backends()[0]
	}
	if _, ok := backends[name]; !ok {
		return fmt.Errorf("nn: BLAS backend %q is not compiled in (have %v; build with -tags openblas and libopenblas-dev for OpenBLAS)", name, Backends())
	}
	current = name
	blas32.Use(backends[name])
	return nil
}
