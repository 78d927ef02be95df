package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// trainer bench reports a row per backend and batch, and with --kernels a
// table of GPU launches (on lavapipe here); bad settings are refused by name.
func TestBenchCommand(t *testing.T) {
	var out bytes.Buffer
	if err := bench(&out, []string{"--weights", fixture, "--backends", "cpu,gpu", "--batches", "1,2", "--nfe", "2", "--runs", "1", "--kernels"}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	t.Log("\n" + s)
	if strings.Count(s, "\n  cpu") != 2 && strings.Count(s, "cpu  ") < 2 {
		t.Errorf("want a CPU row per batch:\n%s", s)
	}
	switch {
	case strings.Contains(s, "gpu  not available"):
		if os.Getenv("CI") == "true" {
			t.Fatalf("no GPU under CI (lavapipe expected):\n%s", s)
		}
		t.Log("no WebGPU adapter: the GPU rows and kernel tables were not checked")
	case strings.Count(s, "GPU launches at batch") != 2 || !strings.Contains(s, "conv2d"):
		t.Errorf("want a kernel table per batch, with the convolutions:\n%s", s)
	}
	for _, bad := range []struct{ flag, val, want string }{
		{"--batches", "0", "--batches"}, {"--backends", "tpu", "--backends"}, {"--nfe", "1", "--nfe"}, {"--runs", "0", "--runs"},
	} {
		err := bench(&out, []string{bad.flag, bad.val})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s %s: %v, want an error naming %s", bad.flag, bad.val, err, bad.want)
		}
	}
}
