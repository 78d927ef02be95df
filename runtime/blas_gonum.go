//go:build !js && !(openblas && cgo)

package runtime

import "gonum.org/v1/gonum/blas/gonum"

var level3 = gonum.Implementation{}
