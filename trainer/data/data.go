// Package data loads training images: IDX files (MNIST, Fashion-MNIST, KMNIST;
// gzipped or not) and folders of PNG images. Every failure names the file and
// what is wrong with it.
package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Set is a dataset of images [N, C, H, W] with values in [0, 1].
type Set struct {
	Images []float32
	Labels []uint8 // nil when the source has none
	Shape  []int   // [C, H, W]
	N      int
	Source string // where it came from
	SHA256 string // of the source bytes (decompressed), for provenance
}

// Image returns image i ([C*H*W] values).
func (s *Set) Image(i int) []float32 {
	d := s.Shape[0] * s.Shape[1] * s.Shape[2]
	return s.Images[i*d : (i+1)*d]
}

// DefaultDir is where Debian's dataset-fashion-mnist package puts Fashion-MNIST.
const DefaultDir = "/usr/share/datasets/fashion-mnist"

// FashionMNIST loads split "train" or "test" ("t10k") from dir (DefaultDir when
// empty), with labels.
func FashionMNIST(dir, split string) (*Set, error) {
	if dir == "" {
		dir = DefaultDir
	}
	prefix := map[string]string{"train": "train", "test": "t10k", "t10k": "t10k"}[split]
	if prefix == "" {
		return nil, fmt.Errorf("data: unknown split %q (want train or test)", split)
	}
	img := filepath.Join(dir, prefix+"-images-idx3-ubyte.gz")
	lab := filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz")
	if _, err := os.Stat(img); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("data: %s does not exist (install Debian's dataset-fashion-mnist, or pass the folder holding %s-images-idx3-ubyte[.gz])", img, prefix)
	}
	return LoadIDX(img, lab)
}

// LoadIDX reads an IDX image file ([N, H, W] unsigned bytes) and, when
// labelsPath is not empty, its IDX label file ([N] unsigned bytes). Either may
// be gzipped (detected by content, not name).
func LoadIDX(imagesPath, labelsPath string) (*Set, error) {
	dims, raw, sum, err := readIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("data: %s holds a %d-D array, want images [N, H, W] (is it a label file?)", imagesPath, len(dims))
	}
	s := &Set{N: dims[0], Shape: []int{1, dims[1], dims[2]}, Source: imagesPath, SHA256: sum}
	s.Images = make([]float32, len(raw))
	for i, b := range raw {
		s.Images[i] = float32(b) / 255
	}
	if labelsPath != "" {
		ld, lraw, _, err := readIDX(labelsPath)
		if err != nil {
			return nil, err
		}
		if len(ld) != 1 {
			return nil, fmt.Errorf("data: %s holds a %d-D array, want labels [N]", labelsPath, len(ld))
		}
		if ld[0] != s.N {
			return nil, fmt.Errorf("data: %s has %d labels for the %d images of %s", labelsPath, ld[0], s.N, imagesPath)
		}
		s.Labels = lraw
	}
	return s, nil
}

// maxIDXBytes bounds what a header may declare (Fashion-MNIST's train set is 47 MB).
const maxIDXBytes = 1 << 31

// readIDX returns the dimensions and the unsigned-byte payload of an IDX file,
// and the SHA-256 of its decompressed bytes.
func readIDX(path string) ([]int, []byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("data: %v", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, "", fmt.Errorf("data: %s: bad gzip header: %v", path, err)
		}
		r = gz
	}
	h := sha256.New()
	r = io.TeeReader(r, h)
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, nil, "", fmt.Errorf("data: %s: too short for an IDX header: %v", path, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, nil, "", fmt.Errorf("data: %s is not an IDX file (starts with % x)", path, magic)
	}
	if magic[2] != 0x08 {
		return nil, nil, "", fmt.Errorf("data: %s stores element type 0x%02x; only unsigned bytes (0x08) are images", path, magic[2])
	}
	nd := int(magic[3])
	if nd < 1 || nd > 4 {
		return nil, nil, "", fmt.Errorf("data: %s declares %d dimensions (want 1 to 4)", path, nd)
	}
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, "", fmt.Errorf("data: %s: truncated in the header: %v", path, err)
		}
		if d == 0 {
			return nil, nil, "", fmt.Errorf("data: %s: dimension %d is 0", path, i)
		}
		dims[i] = int(d)
		total *= int(d)
		if total > maxIDXBytes {
			return nil, nil, "", fmt.Errorf("data: %s declares more than %d bytes of data", path, maxIDXBytes)
		}
	}
	// Read in chunks so a header that lies about its size costs only what is there.
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r, int64(total))
	if err != nil {
		return nil, nil, "", fmt.Errorf("data: %s is truncated: the header declares %v = %d bytes, only %d present (%v)", path, dims, total, n, err)
	}
	if extra, _ := io.Copy(io.Discard, r); extra > 0 {
		return nil, nil, "", fmt.Errorf("data: %s has %d bytes beyond the %v the header declares", path, extra, dims)
	}
	return dims, buf.Bytes(), hex.EncodeToString(h.Sum(nil)), nil
}

// LoadPNGDir loads every .png in dir (sorted by name). All must have the same
// size; they load as grey ([1, H, W]) when every image is grey, RGB otherwise.
func LoadPNGDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".png") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: %s holds no .png files", dir)
	}
	sort.Strings(names)
	imgs := make([]image.Image, len(names))
	h := sha256.New()
	grey := true
	var size image.Point
	for i, name := range names {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("data: %v", err)
		}
		h.Write(b)
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("data: %s: not a readable PNG: %v", path, err)
		}
		sz := img.Bounds().Size()
		if i == 0 {
			size = sz
		} else if sz != size {
			return nil, fmt.Errorf("data: %s is %dx%d but %s is %dx%d: all images must have one size", path, sz.X, sz.Y, names[0], size.X, size.Y)
		}
		switch img.(type) {
		case *image.Gray, *image.Gray16:
		default:
			grey = grey && isGrey(img)
		}
		imgs[i] = img
	}
	c := 3
	if grey {
		c = 1
	}
	s := &Set{N: len(imgs), Shape: []int{c, size.Y, size.X}, Source: dir, SHA256: hex.EncodeToString(h.Sum(nil))}
	s.Images = make([]float32, s.N*c*size.X*size.Y)
	for i, img := range imgs {
		b := img.Bounds()
		dst := s.Image(i)
		for y := 0; y < size.Y; y++ {
			for x := 0; x < size.X; x++ {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				p := y*size.X + x
				if c == 1 {
					dst[p] = float32(r) / 65535
				} else {
					hw := size.X * size.Y
					dst[p], dst[hw+p], dst[2*hw+p] = float32(r)/65535, float32(g)/65535, float32(bl)/65535
				}
			}
		}
	}
	return s, nil
}

func isGrey(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != g || g != bl {
				return false
			}
		}
	}
	return true
}

// fashionClasses are Fashion-MNIST's labels 0 to 9 (Xiao et al. 2017).
var fashionClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// ClassNames names a labelled set's classes in label order: Fashion-MNIST's
// names for a set from a fashion-mnist path, otherwise the label numbers.
// A set without labels has none, and that is an error.
func (s *Set) ClassNames() ([]string, error) {
	if s.Labels == nil {
		return nil, fmt.Errorf("data: %s has no labels (an IDX labels file beside the images)", s.Source)
	}
	k := 0
	for _, l := range s.Labels {
		k = max(k, int(l)+1)
	}
	if strings.Contains(strings.ToLower(s.Source), "fashion") && k <= len(fashionClasses) {
		return fashionClasses[:k], nil
	}
	names := make([]string, k)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names, nil
}
