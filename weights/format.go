// Package weights is the model file format shared by the trainer and the
// runtime, and the architecture description both build from.
//
// A file is the 8-byte magic "LSGMWT\r\n", a little-endian uint32 format
// version, then one msgpack map: the architecture, the tensors (name, shape,
// dtype f32 or f16, little-endian bytes), the provenance, and a SHA-256 over
// the tensors. Decode checks all of it before returning a model.
package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/x448/float16"
)

// Magic starts every weights file. The CR LF pair catches text-mode mangling.
const Magic = "LSGMWT\r\n"

// Version is the format version this code writes and the newest it reads.
const Version = 1

const headerLen = len(Magic) + 4

// File is a decoded weights file.
type File struct {
	Arch       Arch
	Tensors    []Tensor
	Provenance Provenance
}

// Tensor is a named array. Data is always float32 in memory; Half stores it as
// IEEE binary16 on disk (half the size, about 3 significant digits).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	Half  bool
}

// Provenance records where the weights came from.
type Provenance struct {
	Dataset       string             `msgpack:"dataset"`
	DatasetSHA256 string             `msgpack:"dataset_sha256,omitempty"`
	Command       string             `msgpack:"command"`
	Steps         int64              `msgpack:"steps"`
	CodeVersion   string             `msgpack:"code_version"`
	Created       string             `msgpack:"created"` // RFC 3339
	Metrics       map[string]float64 `msgpack:"metrics,omitempty"`
	Notes         string             `msgpack:"notes,omitempty"`
}

type diskTensor struct {
	Name  string `msgpack:"name"`
	Shape []int  `msgpack:"shape"`
	DType string `msgpack:"dtype"`
	Data  []byte `msgpack:"data"`
}

type body struct {
	Arch       Arch         `msgpack:"arch"`
	Tensors    []diskTensor `msgpack:"tensors"`
	Provenance Provenance   `msgpack:"provenance"`
	SHA256     string       `msgpack:"sha256"`
}

// Find returns the tensor with the given name, or nil.
func (f *File) Find(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// NumParams is the number of values in all tensors.
func (f *File) NumParams() int {
	n := 0
	for _, t := range f.Tensors {
		n += len(t.Data)
	}
	return n
}

// Validate checks the architecture and that the tensors are exactly the ones it
// needs, with matching shapes and finite values.
func (f *File) Validate() error {
	specs, err := f.Arch.Params()
	if err != nil {
		return err
	}
	have := map[string]*Tensor{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if have[t.Name] != nil {
			return fmt.Errorf("weights: tensor %q appears twice", t.Name)
		}
		have[t.Name] = t
	}
	for _, s := range specs {
		t := have[s.Name]
		if t == nil {
			return fmt.Errorf("weights: tensor %q (shape %v) required by the architecture is missing", s.Name, s.Shape)
		}
		if !equal(t.Shape, s.Shape) {
			return fmt.Errorf("weights: tensor %q has shape %v, the architecture needs %v", s.Name, t.Shape, s.Shape)
		}
		if len(t.Data) != numel(t.Shape) {
			return fmt.Errorf("weights: tensor %q holds %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
		for i, v := range t.Data {
			if !finite(float64(v)) {
				return fmt.Errorf("weights: tensor %q element %d is %v", t.Name, i, v)
			}
		}
		delete(have, s.Name)
	}
	for name := range have {
		return fmt.Errorf("weights: tensor %q is not used by the architecture", name)
	}
	return nil
}

// Encode validates f and writes it in the current format.
func Encode(f *File) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	b := body{Arch: f.Arch, Provenance: f.Provenance}
	for _, t := range f.Tensors {
		b.Tensors = append(b.Tensors, toDisk(t))
	}
	b.SHA256 = checksum(b.Tensors)
	var buf bytes.Buffer
	buf.WriteString(Magic)
	binary.Write(&buf, binary.LittleEndian, uint32(Version))
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // the same model always encodes to the same bytes
	if err := enc.Encode(&b); err != nil {
		return nil, fmt.Errorf("weights: encoding: %v", err)
	}
	return buf.Bytes(), nil
}

func toDisk(t Tensor) diskTensor {
	d := diskTensor{Name: t.Name, Shape: t.Shape, DType: "f32"}
	if t.Half {
		d.DType = "f16"
		d.Data = make([]byte, 2*len(t.Data))
		for i, v := range t.Data {
			binary.LittleEndian.PutUint16(d.Data[2*i:], float16.Fromfloat32(v).Bits())
		}
		return d
	}
	d.Data = make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(d.Data[4*i:], math.Float32bits(v))
	}
	return d
}

// EncoderSHA256 identifies f's latent space: SHA-256 over the encoder's
// graph and its tensors' values, leaving out the provenance (which fd and
// eval --record rewrite) and the other networks. A noisy classifier records
// it. Empty for a model without an encoder.
func (f *File) EncoderSHA256() string {
	if f.Arch.Encoder == nil {
		return ""
	}
	h := sha256.New()
	enc := msgpack.NewEncoder(h)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(f.Arch.Encoder); err != nil {
		return ""
	}
	ts := slices.Clone(f.Tensors)
	slices.SortFunc(ts, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	var v [4]byte
	for _, t := range ts {
		if !strings.HasPrefix(t.Name, "encoder/") {
			continue
		}
		fmt.Fprintf(h, "%s\x00%v\x00", t.Name, t.Shape)
		for _, x := range t.Data {
			binary.LittleEndian.PutUint32(v[:], math.Float32bits(x))
			h.Write(v[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checksum is SHA-256 over each tensor's name, dtype, shape and bytes, in order.
func checksum(ts []diskTensor) string {
	h := sha256.New()
	var n [8]byte
	for _, t := range ts {
		fmt.Fprintf(h, "%s\x00%s\x00%v\x00", t.Name, t.DType, t.Shape)
		binary.LittleEndian.PutUint64(n[:], uint64(len(t.Data)))
		h.Write(n[:])
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Errors that callers may test for with errors.Is.
var (
	ErrNotWeights = errors.New("weights: not an LSGM weights file")
	ErrVersion    = errors.New("weights: unsupported format version")
	ErrTruncated  = errors.New("weights: file is truncated")
	ErrChecksum   = errors.New("weights: tensor checksum mismatch (the file is corrupt)")
)

// Decode parses and validates a weights file.
func Decode(data []byte) (*File, error) {
	if len(data) < headerLen {
		if len(data) > 0 && bytes.HasPrefix([]byte(Magic), data) {
			return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrTruncated, len(data), headerLen)
		}
		return nil, fmt.Errorf("%w: %d bytes, %s", ErrNotWeights, len(data), sniff(data))
	}
	if string(data[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w (%s)", ErrNotWeights, sniff(data))
	}
	v := binary.LittleEndian.Uint32(data[len(Magic):])
	if v == 0 || v > Version {
		return nil, fmt.Errorf("%w %d: this build reads versions 1 to %d; update the runtime or re-export the weights with a matching trainer", ErrVersion, v, Version)
	}
	rest := data[headerLen:]
	// A structural pass first: every declared length must fit in the bytes that
	// remain, so decoding below never allocates for data that is not there.
	end, err := scan(rest, 0, 0)
	if err != nil {
		return nil, err
	}
	if end != len(rest) {
		return nil, fmt.Errorf("weights: %d bytes of trailing garbage after the model", len(rest)-end)
	}
	var b body
	dec := msgpack.NewDecoder(bytes.NewReader(rest))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("weights: malformed model data: %v", err)
	}
	if got := checksum(b.Tensors); got != b.SHA256 {
		return nil, fmt.Errorf("%w: recorded %.12s..., computed %.12s...", ErrChecksum, b.SHA256, got)
	}
	f := &File{Arch: b.Arch, Provenance: b.Provenance}
	for _, d := range b.Tensors {
		t, err := fromDisk(d)
		if err != nil {
			return nil, err
		}
		f.Tensors = append(f.Tensors, t)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

func fromDisk(d diskTensor) (Tensor, error) {
	if err := checkShape(d.Shape); err != nil {
		return Tensor{}, fmt.Errorf("weights: tensor %q shape %v: %v", d.Name, d.Shape, err)
	}
	n := numel(d.Shape)
	t := Tensor{Name: d.Name, Shape: d.Shape}
	switch d.DType {
	case "f32":
		if len(d.Data) != 4*n {
			return t, fmt.Errorf("weights: tensor %q has %d bytes, shape %v in f32 needs %d", d.Name, len(d.Data), d.Shape, 4*n)
		}
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.Data[4*i:]))
		}
	case "f16":
		if len(d.Data) != 2*n {
			return t, fmt.Errorf("weights: tensor %q has %d bytes, shape %v in f16 needs %d", d.Name, len(d.Data), d.Shape, 2*n)
		}
		t.Half = true
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = float16.Frombits(binary.LittleEndian.Uint16(d.Data[2*i:])).Float32()
		}
	default:
		return t, fmt.Errorf("weights: tensor %q has dtype %q (want f32 or f16)", d.Name, d.DType)
	}
	return t, nil
}

// sniff names what a foreign file looks like, for the error message.
func sniff(b []byte) string {
	known := []struct{ prefix, what string }{
		{"\x89PNG", "it is a PNG image"},
		{"PK\x03\x04", "it is a zip archive (a PyTorch checkpoint?)"},
		{"\x1f\x8b", "it is gzip-compressed"},
		{"<", "it looks like HTML or XML (an error page instead of the file?)"},
		{"{", "it looks like JSON"},
		{"\x93NUMPY", "it is a NumPy array"},
	}
	for _, k := range known {
		if bytes.HasPrefix(b, []byte(k.prefix)) {
			return k.what
		}
	}
	if len(b) == 0 {
		return "it is empty"
	}
	n := min(len(b), 8)
	return fmt.Sprintf("it starts with %q, not %q", b[:n], strings.TrimRight(Magic, "\r\n"))
}

// maxDepth bounds nesting in the structural scan (the format nests 6 deep).
const maxDepth = 32

// scan walks one msgpack value starting at b[i] and returns the index after it.
// It checks every declared length against the bytes left (an array or map
// element takes at least one byte) without allocating.
func scan(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("weights: malformed model data: nested deeper than %d", maxDepth)
	}
	if i >= len(b) {
		return 0, fmt.Errorf("%w: model data ends inside a value at byte %d", ErrTruncated, headerLen+i)
	}
	c := b[i]
	i++
	need := func(n uint64) (int, error) { // skip n payload bytes
		if n > uint64(len(b)-i) {
			return 0, fmt.Errorf("%w: a value at byte %d declares %d bytes, %d remain", ErrTruncated, headerLen+i-1, n, len(b)-i)
		}
		return i + int(n), nil
	}
	length := func(w int) (uint64, error) { // read a big-endian length of w bytes
		if w > len(b)-i {
			return 0, fmt.Errorf("%w: model data ends inside a length at byte %d", ErrTruncated, headerLen+i)
		}
		var n uint64
		for k := 0; k < w; k++ {
			n = n<<8 | uint64(b[i+k])
		}
		i += w
		return n, nil
	}
	items := func(n uint64) (int, error) { // n nested values
		if n > uint64(len(b)-i) {
			return 0, fmt.Errorf("%w: a container at byte %d declares %d items, %d bytes remain", ErrTruncated, headerLen+i-1, n, len(b)-i)
		}
		var err error
		for k := uint64(0); k < n; k++ {
			if i, err = scan(b, i, depth+1); err != nil {
				return 0, err
			}
		}
		return i, nil
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return i, nil // fixint, nil, bool
	case c >= 0x80 && c <= 0x8f:
		return items(2 * uint64(c&0x0f))
	case c >= 0x90 && c <= 0x9f:
		return items(uint64(c & 0x0f))
	case c >= 0xa0 && c <= 0xbf:
		return need(uint64(c & 0x1f))
	}
	switch c {
	case 0xcc, 0xd0:
		return need(1)
	case 0xcd, 0xd1:
		return need(2)
	case 0xca, 0xce, 0xd2:
		return need(4)
	case 0xcb, 0xcf, 0xd3:
		return need(8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (+ type byte)
		return need(1 + 1<<(c-0xd4))
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb, 0xc7, 0xc8, 0xc9: // bin, str, ext
		w := map[byte]int{0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4, 0xc7: 1, 0xc8: 2, 0xc9: 4}[c]
		n, err := length(w)
		if err != nil {
			return 0, err
		}
		if c >= 0xc7 && c <= 0xc9 {
			n++ // ext type byte
		}
		return need(n)
	case 0xdc, 0xdd, 0xde, 0xdf: // array16/32, map16/32
		w := 2
		if c == 0xdd || c == 0xdf {
			w = 4
		}
		n, err := length(w)
		if err != nil {
			return 0, err
		}
		if c >= 0xde {
			n *= 2
		}
		return items(n)
	}
	return 0, fmt.Errorf("weights: malformed model data: invalid msgpack byte 0x%02x at byte %d", c, headerLen+i-1)
}
