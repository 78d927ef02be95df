//go:build !js && openblas && cgo

package runtime

// #cgo LDFLAGS: -lopenblas
import "C"

import "gonum.org/v1/netlib/blas/netlib"

var level3 = netlib.Implementation{}
