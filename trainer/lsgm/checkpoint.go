package lsgm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/lsgm-go/lsgm/weights"
)

// checkpointMagic starts every checkpoint; a weights file is not one.
const checkpointMagic = "LSGMCKPT"

// IsCheckpoint says whether data starts like a checkpoint file.
func IsCheckpoint(data []byte) bool { return bytes.HasPrefix(data, []byte(checkpointMagic)) }

// CheckpointVersion is bumped whenever the layout changes.
const CheckpointVersion = 1

// Checkpoint is the whole state of a training run: resuming from it
// continues the run exactly where it was written.
type Checkpoint struct {
	Version  int                  `msgpack:"version"`
	Options  []byte               `msgpack:"options"` // the run's settings, JSON (the trainer's)
	Step     int                  `msgpack:"step"`    // optimizer steps done
	Epoch    int                  `msgpack:"epoch"`   // current epoch
	Pos      int                  `msgpack:"pos"`     // images of the epoch done
	Model    []byte               `msgpack:"model"`   // weights file of the live parameters
	EMA      map[string][]float32 `msgpack:"ema"`
	OptVAE   *Adam                `msgpack:"opt_vae"`
	OptPrior *Adam                `msgpack:"opt_prior"`
	Skipped  int                  `msgpack:"skipped"` // non-finite steps skipped
	History  []byte               `msgpack:"history"` // the metrics log so far (JSONL)
	Seconds  float64              `msgpack:"seconds"` // training time so far, over all resumes
}

// CheckFinite returns an error naming the first tensor holding NaN or Inf.
func CheckFinite(what string, ts map[string][]float32) error {
	for n, t := range ts {
		for i, v := range t {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("lsgm: %s tensor %s holds %v at %d", what, n, v, i)
			}
		}
	}
	return nil
}

// WriteCheckpoint writes c to path atomically: a temporary file in the same
// folder, fsync, rename, fsync of the folder. A crash leaves either the old
// checkpoint or the new one, never a torn file. It refuses to write a model
// or average holding NaN or Inf.
func WriteCheckpoint(path string, c *Checkpoint) error {
	m, err := weights.Decode(c.Model)
	if err != nil {
		return fmt.Errorf("lsgm: checkpoint model: %w", err)
	}
	live := map[string][]float32{}
	for _, t := range m.Tensors {
		live[t.Name] = t.Data
	}
	if err := CheckFinite("model", live); err != nil {
		return err
	}
	if err := CheckFinite("EMA", c.EMA); err != nil {
		return err
	}
	c.Version = CheckpointVersion
	body, err := msgpack.Marshal(c)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	var buf bytes.Buffer
	buf.WriteString(checkpointMagic)
	buf.Write(sum[:])
	buf.Write(body)
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("lsgm: checkpoint: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to path so that a crash at any moment leaves
// either the old file or the new one: a temporary file in the same folder,
// fsync, rename, then fsync of the folder.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ErrNotCheckpoint is returned for a file that is not a checkpoint.
var ErrNotCheckpoint = errors.New("lsgm: not a training checkpoint")

// ReadCheckpoint reads and verifies a checkpoint.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lsgm: %w", err)
	}
	if len(data) < len(checkpointMagic)+sha256.Size || string(data[:len(checkpointMagic)]) != checkpointMagic {
		if bytes.HasPrefix(data, []byte(weights.Magic)) {
			return nil, fmt.Errorf("%w: %s is a weights file; resume needs the run's checkpoint.lsgmckpt", ErrNotCheckpoint, path)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotCheckpoint, path)
	}
	body := data[len(checkpointMagic)+sha256.Size:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(checkpointMagic):len(checkpointMagic)+sha256.Size]) {
		return nil, fmt.Errorf("lsgm: checkpoint %s is corrupt (checksum mismatch)", path)
	}
	var c Checkpoint
	if err := msgpack.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("lsgm: checkpoint %s: %w", path, err)
	}
	if c.Version != CheckpointVersion {
		return nil, fmt.Errorf("lsgm: checkpoint %s has version %d; this trainer reads version %d (start a new run)", path, c.Version, CheckpointVersion)
	}
	return &c, nil
}
