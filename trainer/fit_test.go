package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/trainer/data"
	"github.com/lsgm-go/lsgm/trainer/lsgm"
	"github.com/lsgm-go/lsgm/weights"
)

// TestMain lets a test run the trainer binary's main in a child process
// (the kill test), without building it separately.
func TestMain(m *testing.M) {
	if os.Getenv("LSGM_TRAINER_CHILD") == "1" {
		os.Args = append([]string{"trainer"}, strings.Fields(os.Getenv("LSGM_TRAINER_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// toyIDX writes n 28x28 images (bright bars at random rows and columns) as
// an uncompressed IDX file.
func toyIDX(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{0x803, uint32(n), 28, 28})
	r := rand.New(rand.NewPCG(4, 4))
	for i := 0; i < n; i++ {
		img := make([]byte, 784)
		row, col := r.IntN(24), r.IntN(24)
		for k := 0; k < 28; k++ {
			for d := 0; d < 4; d++ {
				img[(row+d)*28+k] = 200
				img[k*28+col+d] = 255
			}
		}
		b.Write(img)
	}
	p := filepath.Join(t.TempDir(), "toy-images-idx3-ubyte")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fitArgs(data, out string, extra ...string) []string {
	return append([]string{"--data", data, "--out", out, "--size", "tiny", "--batch", "8", "--epochs-vae", "1",
		"--epochs", "2", "--ckpt-every", "3", "--log-every", "2", "--warmup", "5", "-q", "--blas", "gonum"}, extra...)
}

// fitModel trains a tiny run (fitArgs plus extra) on data in a fresh folder
// and returns its exported model's path.
func fitModel(t *testing.T, data string, extra ...string) string {
	t.Helper()
	run := filepath.Join(t.TempDir(), "run")
	if err := runFit(fitArgs(data, run, extra...)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(run, "model.lsgm")
}

func readModel(t *testing.T, path string) *weights.File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sameTensors(a, b *weights.File) bool {
	for i := range a.Tensors {
		x, y := a.Tensors[i].Data, b.Tensors[i].Data
		for j := range x {
			if x[j] != y[j] {
				return false
			}
		}
	}
	return true
}

// A run stopped at step 7 and resumed ends with exactly the weights of an
// uninterrupted run: the data order, noise, optimizer and EMA all resume.
func TestFitResumeIsExact(t *testing.T) {
	data := toyIDX(t, 40) // 5 batches an epoch, 15 steps in all
	a := filepath.Join(t.TempDir(), "a")
	if err := runFit(fitArgs(data, a)); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(t.TempDir(), "b")
	if err := runFit(fitArgs(data, b, "--max-steps", "7")); err != nil {
		t.Fatal(err)
	}
	if err := runFit(fitArgs(data, b, "--max-steps", "7")); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("fit over an existing run: %v, want an error pointing at --resume", err)
	}
	first, err := lsgm.ReadCheckpoint(filepath.Join(b, "checkpoint.lsgmckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := runFit([]string{"--out", b, "--resume", "--max-steps", "0", "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	ma, mb := readModel(t, filepath.Join(a, "model.lsgm")), readModel(t, filepath.Join(b, "model.lsgm"))
	if ma.Provenance.Steps != 15 || mb.Provenance.Steps != 15 {
		t.Fatalf("steps %d and %d, want 15", ma.Provenance.Steps, mb.Provenance.Steps)
	}
	if !sameTensors(ma, mb) {
		t.Error("resumed run's weights differ from the uninterrupted run's")
	}
	if sec := mb.Provenance.Metrics["train_seconds"]; !(first.Seconds > 0 && sec > first.Seconds) {
		t.Errorf("training time %vs after resuming, %vs before: it must add up over resumes", sec, first.Seconds)
	}
	for _, f := range []string{"metrics.jsonl", "loss.png", "samples-epoch001.png", "samples-epoch003.png"} {
		if _, err := os.Stat(filepath.Join(b, f)); err != nil {
			t.Errorf("run folder lacks %s", f)
		}
	}
	lines := bytes.Count(must(os.ReadFile(filepath.Join(b, "metrics.jsonl"))), []byte("\n"))
	if lines != 8 { // steps 2, 4, 5 (the VAE stage's last: a line never mixes stages), 6, ..., 14
		t.Errorf("metrics.jsonl has %d lines after resuming, want 8 (no repeats)", lines)
	}
}

// --max-time stops a run once its training time, summed over resumes,
// reaches the budget (checked before each step): a spent budget trains
// nothing more, and a resume may raise it.
func TestFitMaxTime(t *testing.T) {
	data := toyIDX(t, 40) // 15 steps in all
	run := filepath.Join(t.TempDir(), "run")
	if err := runFit(fitArgs(data, run, "--max-steps", "4")); err != nil {
		t.Fatal(err)
	}
	if err := runFit([]string{"--out", run, "--resume", "--max-steps", "0", "--max-time", "1ns", "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	if s := readModel(t, filepath.Join(run, "model.lsgm")).Provenance.Steps; s != 4 {
		t.Errorf("a resume with the budget spent trained on to step %d", s)
	}
	if err := runFit([]string{"--out", run, "--resume", "--max-time", "1h", "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	if s := readModel(t, filepath.Join(run, "model.lsgm")).Provenance.Steps; s != 15 {
		t.Errorf("a resume with a larger budget ended at step %d, want all 15", s)
	}
	if err := runFit(fitArgs(data, filepath.Join(t.TempDir(), "neg"), "--max-time", "-1s")); err == nil || !strings.Contains(err.Error(), "--max-time") {
		t.Errorf("--max-time -1s: %v, want an error naming --max-time", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A run killed with SIGKILL at an arbitrary moment resumes from its last
// checkpoint and finishes with the uninterrupted run's weights.
func TestFitSurvivesKill(t *testing.T) {
	data := toyIDX(t, 40)
	a := filepath.Join(t.TempDir(), "a")
	if err := runFit(fitArgs(data, a, "--ckpt-every", "1")); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(t.TempDir(), "b")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LSGM_TRAINER_CHILD=1", "LSGM_TRAINER_ARGS=fit "+strings.Join(fitArgs(data, b, "--ckpt-every", "1"), " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(b, "checkpoint.lsgmckpt")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := lsgm.ReadCheckpoint(ck); err == nil && c.Step >= 4 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child wrote no checkpoint past step 4")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	c, err := lsgm.ReadCheckpoint(ck)
	if err != nil {
		t.Fatalf("checkpoint after SIGKILL: %v", err)
	}
	if c.Step >= 15 {
		t.Skip("the child finished before the kill; nothing to resume")
	}
	t.Logf("killed after the checkpoint of step %d", c.Step)
	if err := runFit([]string{"--out", b, "--resume", "-q", "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	if !sameTensors(readModel(t, filepath.Join(a, "model.lsgm")), readModel(t, filepath.Join(b, "model.lsgm"))) {
		t.Error("weights after kill and resume differ from the uninterrupted run's")
	}
}

// NaN steps are skipped and counted; a run of them stops the run with a
// clear error, and the checkpoint it leaves holds no NaN.
func TestFitNaNGuard(t *testing.T) {
	data := toyIDX(t, 40)
	defer func() { poison = nil }()
	poison = func(step int) bool { return step == 3 || step == 4 }
	a := filepath.Join(t.TempDir(), "a")
	if err := runFit(fitArgs(data, a)); err != nil {
		t.Fatalf("two NaN steps stopped the run: %v", err)
	}
	c, err := lsgm.ReadCheckpoint(filepath.Join(a, "checkpoint.lsgmckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Skipped != 2 {
		t.Errorf("skipped %d steps, want 2", c.Skipped)
	}
	// The skipped steps' NaN losses stay out of the averaged log lines.
	for i, line := range bytes.Split(bytes.TrimSpace(must(os.ReadFile(filepath.Join(a, "metrics.jsonl")))), []byte("\n")) {
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil || math.IsNaN(rec.NELBO) || rec.NELBO == 0 {
			t.Errorf("metrics line %d %q: %v", i+1, line, err)
		}
	}
	poison = func(step int) bool { return step >= 3 }
	b := filepath.Join(t.TempDir(), "b")
	err = runFit(fitArgs(data, b, "--ckpt-every", "1"))
	if err == nil || !strings.Contains(err.Error(), "consecutive non-finite") {
		t.Fatalf("endless NaN steps: %v, want a consecutive non-finite error", err)
	}
	c, err = lsgm.ReadCheckpoint(filepath.Join(b, "checkpoint.lsgmckpt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Decode(c.Model)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string][]float32{}
	for _, tt := range m.Tensors {
		live[tt.Name] = tt.Data
	}
	if err := lsgm.CheckFinite("model", live); err != nil {
		t.Error(err)
	}
	if err := lsgm.CheckFinite("EMA", c.EMA); err != nil {
		t.Error(err)
	}
}

func TestFitBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--data", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "r1")}, "nope"},
		{[]string{"--data", fixture, "--out", filepath.Join(dir, "r2")}, "tiny.lsgm"},
		{[]string{"--likelihood", "gauss", "--out", filepath.Join(dir, "r3")}, "--likelihood"},
		{[]string{"--batch", "0", "--out", filepath.Join(dir, "r4")}, "--batch"},
		{[]string{"--scheme", "magic", "--data", toyIDX(t, 16), "--out", filepath.Join(dir, "r5"), "-q"}, "magic"},
		{[]string{"--resume", "--out", filepath.Join(dir, "r6")}, "cannot resume"},
		{[]string{"--vae", "big", "--out", filepath.Join(dir, "r7")}, "--vae"},
		{[]string{"--vae", "none", "--binarize", "--likelihood", "bernoulli", "--out", filepath.Join(dir, "r8")}, "--binarize"},
		{[]string{"--score-width", "-3", "--out", filepath.Join(dir, "r10")}, "--score-width"},
		{[]string{"--score-mult", "1,x", "--out", filepath.Join(dir, "r11")}, "score-mult"},
		{[]string{"--score-blocks", "99", "--out", filepath.Join(dir, "r12")}, "--score-blocks"},
	}
	for _, c := range cases {
		err := runFit(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fit %v: %v, want an error naming %q", c.args, err, c.want)
		}
	}
	// A bad --data leaves no run folder behind.
	if _, err := os.Stat(filepath.Join(dir, "r1")); !os.IsNotExist(err) {
		t.Errorf("a bad --data left %s/r1 behind (%v)", dir, err)
	}
	if err := runFit([]string{"--time-eps", "x", "--out", filepath.Join(dir, "r9")}); err == nil || !strings.Contains(err.Error(), "time-eps") {
		t.Errorf("--time-eps x: %v", err)
	}
	// export names itself in its errors, and info on a checkpoint points to it.
	run := filepath.Join(dir, "run")
	if err := runFit(fitArgs(toyIDX(t, 16), run, "--max-steps", "2")); err != nil {
		t.Fatal(err)
	}
	err := runExport([]string{"--run", run, "--out", filepath.Join(dir, "nonexistent", "x.lsgm")})
	if err == nil || !strings.HasPrefix(err.Error(), "trainer export: writing") {
		t.Errorf("export into a missing folder: %v", err)
	}
	err = runInfo([]string{filepath.Join(run, "checkpoint.lsgmckpt")})
	if err == nil || !strings.Contains(err.Error(), "trainer export --run") {
		t.Errorf("info on a checkpoint: %v", err)
	}
	// A stray word (a run folder without --run) is refused by name rather
	// than dropped with every flag after it, and nothing is written.
	out := filepath.Join(dir, "stray.lsgm")
	for _, c := range []struct {
		name string
		run  func([]string) error
		args []string
	}{
		{"export", runExport, []string{"--out", out, run}},
		{"fit", runFit, []string{"--out", out, run}},
		{"sample", runSample, []string{"--out", out, run}},
		{"eval", runEval, []string{"-q", run}},
		{"fd", runFD, []string{"-q", run}},
	} {
		err := c.run(c.args)
		if err == nil || !strings.Contains(err.Error(), "trainer "+c.name+": unexpected argument \""+run+"\"") {
			t.Errorf("%s %v: %v", c.name, c.args, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused command wrote %s (%v)", out, err)
	}
}

// eval --record writes the test metrics into the weights file's provenance,
// replacing an earlier record, and the file still loads.
func TestEvalRecord(t *testing.T) {
	data := toyIDX(t, 16)
	model := fitModel(t, data, "--max-steps", "4")
	for i := 0; i < 2; i++ {
		if err := runEval([]string{"--weights", model, "--data", data, "--n", "8", "--batch", "4", "--rtol", "1e-3", "--atol", "1e-3", "-q", "--blas", "gonum", "--record"}); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // a note added after the first record must survive the second
			f := readModel(t, model)
			f.Provenance.Notes += "\nlater note: kept"
			b, err := weights.Encode(f)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(model, b, 0o644)
		}
	}
	f := readModel(t, model)
	if notes := f.Provenance.Notes; strings.Count(notes, "test metrics: ") != 1 || !strings.Contains(notes, "later note: kept") {
		t.Errorf("notes after two records: %q; want one test-metrics line and the later note", notes)
	}
	// The standard error comes from per-image values, whose mean is the NELBO.
	set, err := loadSet(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := evaluate(f, set, evalOptions{N: 8, Batch: 4, ODEEps: 1e-5, RTol: 1e-3, ATol: 1e-3, Probe: "rademacher", Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	mean, se := meanSE(res.perImage)
	if len(res.perImage) != 8 || math.Abs(mean-res.NELBO) > 1e-6*math.Abs(res.NELBO) || se != res.SE || !(se > 0) {
		t.Errorf("per-image values %v: mean %v, SE %v; NELBO %v ± %v", res.perImage, mean, se, res.NELBO, res.SE)
	}
	one, err := evaluate(f, set, evalOptions{N: 1, Batch: 4, ODEEps: 1e-5, RTol: 1e-3, ATol: 1e-3, Probe: "rademacher", Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(one.SE) || !strings.Contains(pm(one.NELBO, one.SE, 1), "n/a") {
		t.Errorf("one image: SE %v, shown as %q; want n/a", one.SE, pm(one.NELBO, one.SE, 1))
	}
	m := f.Provenance.Metrics
	if m["test_images"] != 8 || math.IsNaN(m["test_nelbo_nats"]) || m["test_nelbo_nats"] <= 0 || m["test_nelbo_se"] <= 0 {
		t.Errorf("recorded metrics %v", m)
	}
	if math.Abs(m["test_recon_nats"]+m["test_neg_entropy_nats"]+m["test_cross_entropy_nats"]-m["test_nelbo_nats"]) > 1e-6*m["test_nelbo_nats"] {
		t.Errorf("the parts do not add up to the NELBO: %v", m)
	}
	if n := strings.Count(f.Provenance.Notes, "test metrics: trainer eval --n 8"); n != 1 {
		t.Errorf("notes %q hold %d eval records, want 1", f.Provenance.Notes, n)
	}
	if m["train_seconds"] <= 0 {
		t.Error("recording dropped the training metrics")
	}
}

// trainer eval on the shipped weights reproduces the NELBO recorded in their
// provenance: 50 test images (two batches of 25, the recorded run's first
// two) land within 4 combined standard errors (each from per-image values)
// of the 500-image figure. It takes minutes of CPU, so `make metrics` runs it
// (LSGM_METRICS=1), with its own timeout, apart from the unit suite.
func TestShippedNELBO(t *testing.T) {
	if os.Getenv("LSGM_METRICS") != "1" {
		t.Skip("reproduces a recorded metric (minutes of CPU): `make metrics` runs it")
	}
	f, set := shippedTestSet(t)
	m := f.Provenance.Metrics
	want, wantSE := m["test_nelbo_nats"], m["test_nelbo_se"]
	if want == 0 || wantSE == 0 {
		t.Fatalf("the shipped weights record no test NELBO: %v", m)
	}
	res, err := evaluate(f, set, evalOptions{N: 50, Batch: 25, ODEEps: 1e-5, RTol: 1e-5, ATol: 1e-5, Probe: "rademacher", Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if d, tol := math.Abs(res.NELBO-want), 4*math.Hypot(res.SE, wantSE); d > tol {
		t.Errorf("NELBO of the first 50 test images %.2f ± %.2f, recorded %.2f ± %.2f: %.1f apart, more than %.1f", res.NELBO, res.SE, want, wantSE, d, tol)
	}
	t.Logf("first 50 test images: %.2f ± %.2f nats; recorded on 500: %.2f ± %.2f", res.NELBO, res.SE, want, wantSE)
}

// --vae none trains the data-space baseline: a score model on dequantized
// pixels, no stage 1, no encoder or decoder; it samples and evaluates with
// D log 128 in the entropy's place and no reconstruction term.
func TestFitDataSpace(t *testing.T) {
	data := toyIDX(t, 16)
	model := fitModel(t, data, "--vae", "none")
	run := filepath.Dir(model)
	f := readModel(t, model)
	if f.Arch.Likelihood != "none" || f.Arch.MixLogit != "" || !weights.EqualShape(f.Arch.LatentShape, f.Arch.DataShape) {
		t.Fatalf("arch: likelihood %q, mix %q, latent %v", f.Arch.Likelihood, f.Arch.MixLogit, f.Arch.LatentShape)
	}
	for _, tn := range f.Tensors {
		if lsgm.IsVAEParam(tn.Name) {
			t.Fatalf("a data-space model holds VAE tensor %s", tn.Name)
		}
	}
	recs := parseHistory(must(os.ReadFile(filepath.Join(run, "metrics.jsonl"))))
	if len(recs) != 2 { // 2 epochs (none of stage 1) of 2 steps, one record per 2
		t.Fatalf("%d log records, want 2", len(recs))
	}
	d := 28.0 * 28
	for _, r := range recs {
		if r.Stage != "sgm" || r.Recon != 0 || math.Abs(r.NegEnt-d*math.Log(128)) > 1e-9 || !(r.CE > 0) || math.IsNaN(r.NELBO) {
			t.Errorf("record %+v", r)
		}
	}
	if err := runSample([]string{"--weights", model, "--out", filepath.Join(run, "s.png"), "--count", "4", "--nfe", "4", "--backend", "cpu"}); err != nil {
		t.Fatal(err)
	}
	if err := runEval([]string{"--weights", model, "--data", data, "--n", "4", "--batch", "4", "--rtol", "1e-3", "--atol", "1e-3", "-q", "--blas", "gonum", "--record"}); err != nil {
		t.Fatal(err)
	}
	m := readModel(t, model).Provenance.Metrics
	if m["test_recon_nats"] != 0 || math.Abs(m["test_neg_entropy_nats"]-d*math.Log(128)) > 1e-9 || math.IsNaN(m["test_cross_entropy_nats"]) || m["test_nfe_per_batch"] < 2 {
		t.Errorf("eval metrics %v", m)
	}
}

// A 2-D toy set trains end to end (MLPs, VAE and latent SGM) and without a
// VAE; both runs draw scatter plots each epoch, and sample and eval work on
// the result with the toy's test points.
func TestFitToy(t *testing.T) {
	for _, vae := range []string{"yes", "none"} {
		run := filepath.Join(t.TempDir(), "run")
		// After one joint epoch either model's bound is near the uniform
		// density's, above or below it by the seed (LSGM's 11.17 ± 0.13 nats
		// against 11.09; the data-space model's 10.7 to 11.2).
		epochs := map[string]string{"yes": "2", "none": "3"}[vae]
		if err := runFit([]string{"--data", "toy:gmm", "--vae", vae, "--out", run, "--batch", "512", "--epochs-vae", "1", "--epochs", epochs, "-q", "--blas", "gonum"}); err != nil {
			t.Fatal(err)
		}
		model := filepath.Join(run, "model.lsgm")
		f := readModel(t, model)
		if !isPoints(f.Arch.DataShape) || f.Provenance.Dataset != "toy:gmm" || f.Provenance.DatasetSHA256 == "" {
			t.Errorf("%s: data %v from %q (sha %q)", vae, f.Arch.DataShape, f.Provenance.Dataset, f.Provenance.DatasetSHA256)
		}
		want := map[string]string{"yes": "lsgm-toy-gmm", "none": "sgm-toy-gmm"}[vae]
		if f.Arch.Name != want {
			t.Errorf("model name %q, want %q", f.Arch.Name, want)
		}
		for _, p := range []string{"samples-epoch001.png", "loss.png"} {
			if _, err := os.Stat(filepath.Join(run, p)); err != nil {
				t.Errorf("%s: %v", vae, err)
			}
		}
		// The samples keep both coordinates (not the viewers' grey RGBA).
		m, err := runtime.New(f)
		if err != nil {
			t.Fatal(err)
		}
		pts, _, _, err := sampleOn("auto", m, runtime.Request{Sampler: sampler.Config{Name: "euler", NFE: 4}, Count: 50}, func(int, int, float64) {})
		if err != nil {
			t.Fatal(err)
		}
		diag := 0
		for i := 0; i < len(pts); i += 2 {
			if pts[i] == pts[i+1] && pts[i] > 0 && pts[i] < 1 { // clamped corners aside
				diag++
			}
		}
		if len(pts) != 100 || diag > 5 {
			t.Errorf("%s: %d sampled values, %d of 50 points on the diagonal", vae, len(pts), diag)
		}
		png := filepath.Join(run, "s.png")
		if err := runSample([]string{"--weights", model, "--out", png, "--count", "500", "--nfe", "5", "--backend", "cpu", "-q"}); err != nil {
			t.Fatal(err)
		}
		if img := decodePNG(t, png); img.Bounds().Dx() != 512 {
			t.Errorf("toy samples drawn %v wide, want the 512-pixel scatter plot", img.Bounds())
		}
		if err := runEval([]string{"--weights", model, "--data", "toy:gmm", "--n", "64", "--batch", "32", "--rtol", "1e-3", "--atol", "1e-3", "-q", "--blas", "gonum", "--record"}); err != nil {
			t.Fatal(err)
		}
		// Two 8-bit coordinates: a model better than uniform spends < 2 log 256.
		if m := readModel(t, model).Provenance.Metrics; !(m["test_nelbo_nats"] > 0 && m["test_nelbo_nats"] < 2*math.Log(256)) {
			t.Errorf("%s: toy NELBO %v nats per point, want in (0, %.2f)", vae, m["test_nelbo_nats"], 2*math.Log(256))
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// eval scores a bernoulli model on the data it was trained on: grey levels
// unless its command had --binarize (auto), or as told; a logistic model
// cannot be binarized and a bad setting is named.
func TestEvalBinarize(t *testing.T) {
	data := toyIDX(t, 16)
	model := fitModel(t, data, "--likelihood", "bernoulli", "--max-steps", "2")
	recon := func(mode string) float64 {
		if err := runEval([]string{"--weights", model, "--data", data, "--n", "4", "--batch", "4", "--rtol", "1e-2", "--atol", "1e-2", "-q", "--blas", "gonum", "--record", "--binarize", mode}); err != nil {
			t.Fatal(err)
		}
		f := readModel(t, model)
		if want := "--binarize " + map[string]string{"auto": "no", "no": "no", "yes": "yes"}[mode]; !strings.Contains(f.Provenance.Notes, want) {
			t.Errorf("--binarize %s: notes %q lack %q", mode, f.Provenance.Notes, want)
		}
		return f.Provenance.Metrics["test_recon_nats"]
	}
	auto, no, yes := recon("auto"), recon("no"), recon("yes")
	if auto != no || yes == no {
		t.Errorf("recon auto %v, no %v, yes %v: auto must score the grey levels it was trained on", auto, no, yes)
	}
	for mode, want := range map[string]string{"maybe": "--binarize", "yes": "bernoulli"} {
		w := model
		if mode == "yes" {
			w = fitModel(t, data, "--max-steps", "1")
		}
		if err := runEval([]string{"--weights", w, "--data", data, "--n", "4", "-q", "--binarize", mode}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--binarize %s: %v, want an error naming %q", mode, err, want)
		}
	}
}

// --data mnist trains on MNIST from the Go module cache: a Bernoulli model
// on binarized digits, named for its data, class-conditional on the digits.
func TestFitMNIST(t *testing.T) {
	if _, err := data.MNISTDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	run := filepath.Join(t.TempDir(), "run")
	if err := runFit([]string{"--data", "mnist", "--likelihood", "bernoulli", "--binarize", "--classes", "--size", "tiny", "--batch", "8", "--max-steps", "2", "--out", run, "-q", "--blas", "gonum", "--device", "cpu"}); err != nil {
		t.Fatal(err)
	}
	f := readModel(t, filepath.Join(run, "model.lsgm"))
	if f.Arch.Name != "lsgm-mnist" || f.Arch.Likelihood != "bernoulli" || len(f.Arch.Classes) != 10 || f.Arch.Classes[3] != "3" {
		t.Errorf("model %q, likelihood %s, classes %v", f.Arch.Name, f.Arch.Likelihood, f.Arch.Classes)
	}
}

// shippedTestSet is the shipped model and Fashion-MNIST's test set; without
// the dataset the test skips, or under CI=true fails.
func shippedTestSet(t *testing.T) (*weights.File, *data.Set) {
	t.Helper()
	if _, err := os.Stat(data.DefaultDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Fashion-MNIST under CI (apt-get install dataset-fashion-mnist)")
		}
		t.Skip("no Fashion-MNIST: apt-get install dataset-fashion-mnist")
	}
	f, err := weights.Decode(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	set, err := loadSet(data.DefaultDir, "test")
	if err != nil {
		t.Fatal(err)
	}
	return f, set
}

// The size flags change the network they name, and a resumed run keeps
// them (they are in the checkpoint's options, not read again).
func TestFitSizeFlags(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	args := fitArgs(toyIDX(t, 16), run, "--max-steps", "2", "--latent-channels", "3", "--width", "6", "--score-width", "12", "--score-mult", "1", "--score-blocks", "2")
	if err := runFit(args); err != nil {
		t.Fatal(err)
	}
	if err := runFit([]string{"--resume", "--out", run, "-q", "--max-steps", "3"}); err != nil {
		t.Fatal(err)
	}
	f := readModel(t, filepath.Join(run, "model.lsgm"))
	if got := f.Arch.LatentShape[0]; got != 3 {
		t.Errorf("latent channels %d, want 3", got)
	}
	// The first encoder conv has --width outputs, the score network's first
	// conv --score-width, and two blocks have more convs than the tiny
	// network's one. (Two levels need an even latent; this one is 7x7.)
	shape := func(name string) []int {
		if tt := f.Find(name); tt != nil {
			return tt.Shape
		}
		t.Fatalf("no tensor %s", name)
		return nil
	}
	enc, score := f.Arch.Encoder.Nodes, f.Arch.Score.Nodes
	var firstEnc, firstScore string
	convs := 0
	for _, n := range enc {
		if n.Op == "conv2d" && firstEnc == "" {
			firstEnc = n.Name
		}
	}
	for _, n := range score {
		if n.Op == "conv2d" {
			if firstScore == "" {
				firstScore = n.Name
			}
			convs++
		}
	}
	if s := shape(weights.ParamName("encoder", firstEnc, "weight")); s[0] != 6 {
		t.Errorf("first encoder conv %v, want 6 outputs", s)
	}
	if s := shape(weights.ParamName("score", firstScore, "weight")); s[0] != 12 {
		t.Errorf("first score conv %v, want 12 outputs", s)
	}
	tiny, err := weights.NewArch(weights.TinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	tinyConvs := 0
	for _, n := range tiny.Score.Nodes {
		if n.Op == "conv2d" {
			tinyConvs++
		}
	}
	if convs <= tinyConvs {
		t.Errorf("score network has %d convolutions, the tiny one %d: --score-blocks had no effect", convs, tinyConvs)
	}
}

// eval --log: a run killed part way (its log cut after two batches and a
// torn line) resumes to the uninterrupted run's numbers exactly, a log of
// other settings is refused, and a finished log replays without work.
func TestEvalLogResume(t *testing.T) {
	data := toyIDX(t, 16)
	model := fitModel(t, data, "--max-steps", "3")
	f := readModel(t, model)
	set, err := loadSet(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := func(log string, seed uint64) evalOptions {
		return evalOptions{N: 8, Batch: 2, ODEEps: 1e-5, RTol: 1e-3, ATol: 1e-3, Probe: "rademacher", Seed: seed, Quiet: true, Log: log, WeightsSHA: "abc", Dataset: "toy"}
	}
	whole, err := evaluate(f, set, opts(filepath.Join(dir, "whole.jsonl"), 0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "whole.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) != 6 || lines[5] != "" { // header, 4 batches, and the empty tail
		t.Fatalf("log of %d lines: %q", len(lines), b)
	}
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, []byte(lines[0]+lines[1]+lines[2]+lines[3][:len(lines[3])/2]), 0o644)
	resumed, err := evaluate(f, set, opts(cut, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resumed.perImage, whole.perImage) || resumed.NELBO != whole.NELBO || resumed.SE != whole.SE || resumed.MeanNFE != whole.MeanNFE {
		t.Errorf("resumed %v (NELBO %v ± %v), uninterrupted %v (NELBO %v ± %v)", resumed.perImage, resumed.NELBO, resumed.SE, whole.perImage, whole.NELBO, whole.SE)
	}
	if c, _ := os.ReadFile(cut); string(c) != string(b) {
		t.Errorf("the resumed log differs from the uninterrupted one:\n%s\n%s", c, b)
	}
	if _, err := evaluate(f, set, opts(cut, 1)); err == nil || !strings.Contains(err.Error(), "cut.jsonl was written by another evaluation") {
		t.Errorf("a log of another seed: %v", err)
	}
	again, err := evaluate(f, set, opts(cut, 0))
	if err != nil || again.NELBO != whole.NELBO {
		t.Errorf("replaying a finished log: %v, NELBO %v want %v", err, again.NELBO, whole.NELBO)
	}
}
