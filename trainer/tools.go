//go:build tools

// This file pins the product's spine in go.mod before every package imports it
// (go mod tidy keeps requirements of all build tags): gorgonia for training,
// cogentcore/webgpu for the GPU runtime, Ebiten for the desktop viewer. It is
// never compiled.
package main

import (
	_ "github.com/cogentcore/webgpu/wgpu"
	_ "github.com/hajimehoshi/ebiten/v2"
	_ "gorgonia.org/gorgonia"
)
