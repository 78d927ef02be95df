package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func idx(dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 3*4*5)
	for i := range pix {
		pix[i] = byte(i * 4)
	}
	for _, zip := range []bool{false, true} {
		im, lb := idx([]uint32{3, 4, 5}, pix), idx([]uint32{3}, []byte{7, 0, 9})
		if zip {
			im, lb = gz(im), gz(lb)
		}
		s, err := LoadIDX(write(t, dir, "im", im), write(t, dir, "lb", lb))
		if err != nil {
			t.Fatalf("gzip=%v: %v", zip, err)
		}
		if s.N != 3 || s.Shape[1] != 4 || s.Shape[2] != 5 || len(s.Labels) != 3 || s.Labels[2] != 9 {
			t.Fatalf("gzip=%v: %+v", zip, s.Shape)
		}
		if s.Image(1)[0] != float32(pix[20])/255 || s.Images[59] != float32(pix[59])/255 {
			t.Errorf("gzip=%v: pixel values wrong", zip)
		}
		if len(s.SHA256) != 64 {
			t.Errorf("no checksum")
		}
	}
}

func TestLoadIDXBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := idx([]uint32{2, 3, 3}, make([]byte, 18))
	labels := write(t, dir, "labels", idx([]uint32{5}, make([]byte, 5)))
	cases := map[string][]byte{
		"truncated":          good[:len(good)-4],
		"beyond":             append(append([]byte{}, good...), 1, 2),
		"not an IDX file":    []byte("\x89PNG\r\n\x1a\nxxxxxxxxxxxx"),
		"element type 0x0d":  {0, 0, 0x0d, 3, 0, 0, 0, 1},
		"too short":          {0, 0},
		"more than":          idx([]uint32{1 << 16, 1 << 16, 1 << 16}, nil),
		"dimension 1 is 0":   idx([]uint32{2, 0, 3}, nil),
		"bad gzip header":    {0x1f, 0x8b, 0, 0},
		"truncated in the h": {0, 0, 0x08, 3, 0, 0},
	}
	for want, b := range cases {
		p := write(t, dir, "f", b)
		_, err := LoadIDX(p, "")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: got %v", want, err)
		}
	}
	img := write(t, dir, "img", good)
	if _, err := LoadIDX(img, labels); err == nil || !strings.Contains(err.Error(), "5 labels for the 2 images") {
		t.Errorf("label count mismatch: %v", err)
	}
	if _, err := LoadIDX(labels, ""); err == nil || !strings.Contains(err.Error(), "label file") {
		t.Errorf("labels given as images: %v", err)
	}
	if _, err := LoadIDX(filepath.Join(dir, "absent"), ""); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := FashionMNIST(dir, "train"); err == nil || !strings.Contains(err.Error(), "dataset-fashion-mnist") {
		t.Errorf("missing dataset: %v", err)
	}
}

func TestLoadPNGDir(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, img image.Image) {
		var b bytes.Buffer
		png.Encode(&b, img)
		write(t, dir, name, b.Bytes())
	}
	g := image.NewGray(image.Rect(0, 0, 4, 3))
	g.SetGray(1, 2, color.Gray{200})
	save("a.png", g)
	save("b.png", image.NewGray(image.Rect(0, 0, 4, 3)))
	write(t, dir, "notes.txt", []byte("ignored"))
	s, err := LoadPNGDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 || s.Shape[0] != 1 || s.Shape[1] != 3 || s.Shape[2] != 4 || s.Image(0)[2*4+1] != float32(200*257)/65535 {
		t.Fatalf("grey: %+v %v", s.Shape, s.Image(0))
	}
	c := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	c.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	save("c.png", c)
	s, err = LoadPNGDir(dir)
	if err != nil || s.Shape[0] != 3 || s.Image(2)[0] != 1 || s.Image(2)[12] != 0 {
		t.Fatalf("rgb: %v %+v", err, s)
	}
	save("d.png", image.NewGray(image.Rect(0, 0, 5, 3)))
	if _, err := LoadPNGDir(dir); err == nil || !strings.Contains(err.Error(), "one size") {
		t.Errorf("mixed sizes: %v", err)
	}
	os.Remove(filepath.Join(dir, "d.png"))
	write(t, dir, "e.png", []byte("not a png"))
	if _, err := LoadPNGDir(dir); err == nil || !strings.Contains(err.Error(), "e.png") {
		t.Errorf("corrupt png: %v", err)
	}
	if _, err := LoadPNGDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .png") {
		t.Errorf("empty folder: %v", err)
	}
}

// The real Fashion-MNIST from Debian's dataset-fashion-mnist: required in CI.
func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(DefaultDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %s is missing; .ci/setup must install dataset-fashion-mnist", DefaultDir)
		}
		t.Skipf("%s not installed (apt-get install dataset-fashion-mnist)", DefaultDir)
	}
	for split, n := range map[string]int{"train": 60000, "test": 10000} {
		s, err := FashionMNIST("", split)
		if err != nil {
			t.Fatal(err)
		}
		if s.N != n || s.Shape[1] != 28 || len(s.Labels) != n {
			t.Fatalf("%s: %d images of %v", split, s.N, s.Shape)
		}
		var mean float64
		for _, v := range s.Images {
			mean += float64(v)
		}
		mean /= float64(len(s.Images))
		// Fashion-MNIST's mean pixel is about 0.286 (train) and 0.287 (test).
		if mean < 0.27 || mean > 0.30 {
			t.Errorf("%s: mean pixel %.4f", split, mean)
		}
		t.Logf("%s: %d images, mean %.4f, sha256 %s", split, s.N, mean, s.SHA256[:16])
	}
}

// MNIST comes from the Go module cache (the GoMNIST module go.mod requires):
// 60,000 training and 10,000 test digits with labels 0 to 9.
func TestMNIST(t *testing.T) {
	if _, err := MNISTDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	for split, n := range map[string]int{"train": 60000, "test": 10000} {
		s, err := MNIST(split)
		if err != nil {
			t.Fatal(err)
		}
		if s.N != n || len(s.Labels) != n || !reflect.DeepEqual(s.Shape, []int{1, 28, 28}) {
			t.Errorf("%s: %d images %v, %d labels", split, s.N, s.Shape, len(s.Labels))
		}
		names, err := s.ClassNames()
		if err != nil || len(names) != 10 || names[7] != "7" {
			t.Errorf("%s: classes %v (%v)", split, names, err)
		}
	}
}
