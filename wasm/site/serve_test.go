package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func gz(t *testing.T, b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// get fetches path with gzip accepted and returns the decoded body and the
// response's headers.
func get(t *testing.T, h http.Handler, path string) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, rec.Code)
	}
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(z); err != nil {
			t.Fatal(err)
		}
	}
	return string(body), rec.Header()
}

// A .gz twin is sent only while it holds its original's bytes: after the
// original is edited (whatever its size or time), the original is sent.
// Every response carries the CORS headers a cross-origin embed needs.
func TestServeTwins(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", []byte("<p>first</p>"))
	write("index.html.gz", gz(t, []byte("<p>first</p>")))
	write("default.lsgm", []byte("weights v1"))
	write("default.lsgm.gz", gz(t, []byte("weights v1")))
	h := handler(dir)

	body, hdr := get(t, h, "/")
	if body != "<p>first</p>" || hdr.Get("Content-Encoding") != "gzip" {
		t.Errorf("fresh twin: %q, encoding %q", body, hdr.Get("Content-Encoding"))
	}
	if hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Cross-Origin-Resource-Policy") != "cross-origin" {
		t.Errorf("CORS headers missing: %v", hdr)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}

	// Edited after the build: a new size, then the same size and a later time.
	write("index.html", []byte("<p>second, longer</p>"))
	if body, hdr = get(t, h, "/index.html"); body != "<p>second, longer</p>" || hdr.Get("Content-Encoding") != "" {
		t.Errorf("after an edit: %q, encoding %q", body, hdr.Get("Content-Encoding"))
	}
	write("default.lsgm", []byte("weights v2"))
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "default.lsgm"), later, later)
	if body, hdr = get(t, h, "/default.lsgm"); body != "weights v2" || hdr.Get("Content-Encoding") != "" {
		t.Errorf("same-size replacement: %q, encoding %q", body, hdr.Get("Content-Encoding"))
	}
	if ct := hdr.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("weights content type %q", ct)
	}
	// A rebuilt twin is used again.
	write("default.lsgm.gz", gz(t, []byte("weights v2")))
	if body, hdr = get(t, h, "/default.lsgm"); body != "weights v2" || hdr.Get("Content-Encoding") != "gzip" {
		t.Errorf("rebuilt twin: %q, encoding %q", body, hdr.Get("Content-Encoding"))
	}
	// A twin without its original is not served.
	os.Remove(filepath.Join(dir, "index.html"))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/index.html", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("a lone twin: status %d, want 404", rec.Code)
	}
	// Preflight.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/lsgm.wasm", nil))
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("OPTIONS: %d %v", rec.Code, rec.Header())
	}
}
