// Command site builds the static demo site into one folder and serves it.
//
//	go run ./wasm/site build [-out site]              # lsgm.wasm, the pages, the weights, .gz copies
//	go run ./wasm/site serve [-dir site] [-addr 127.0.0.1:8080]
//
// The folder works on any static host: every URL in it is relative, the
// worker falls back to compiling lsgm.wasm from bytes where a host serves it
// with the wrong MIME type, and each file has a gzipped twin (.gz) for hosts
// that serve precompressed files; serve does, with the right types, and only
// while a twin still holds its original's bytes. serve also sends the CORS
// headers that let pages on other origins embed the element from it.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lsgm-go/lsgm/wasm/web"
	"github.com/lsgm-go/lsgm/weights"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: site build [-out DIR] | site serve [-dir DIR] [-addr HOST:PORT]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		fs := flag.NewFlagSet("build", flag.ExitOnError)
		out := fs.String("out", "site", "folder to write")
		fs.Parse(os.Args[2:])
		var sizes []fileSize
		if sizes, err = build(*out); err == nil {
			report(os.Stdout, *out, sizes)
		}
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		dir := fs.String("dir", "site", "folder to serve (from site build)")
		addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
		fs.Parse(os.Args[2:])
		err = serve(*dir, *addr)
	default:
		err = fmt.Errorf("unknown command %q (want build or serve)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "site:", err)
		os.Exit(1)
	}
}

type fileSize struct {
	name      string
	raw, gzip int
}

// moduleRoot is the folder of go.mod, where the wasm package is built from.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run site build inside the lsgm module")
	}
	return filepath.Dir(mod), nil
}

// build writes the site into out.
func build(out string) ([]fileSize, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(abs, "lsgm.wasm"), "./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building lsgm.wasm: %v\n%s", err, msg)
	}
	// The CPU path's WebAssembly SIMD kernels, built and checked by the
	// script beside their sources.
	cmd = exec.Command("bash", filepath.Join(root, "runtime", "simd", "build.sh"), filepath.Join(abs, "lsgm-kernels.wasm"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building lsgm-kernels.wasm: %v\n%s", err, msg)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, err
	}
	var execJS []byte
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if execJS, err = os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), p)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wasm_exec.js not found in GOROOT: %v", err)
	}
	files := map[string][]byte{"wasm_exec.js": execJS}
	// The shipped models and models.json, the list the demo page's model
	// picker shows: [{id, title, file, classifier}], the default first.
	type entry struct {
		ID         string `json:"id"`
		Title      string `json:"title"`
		File       string `json:"file"`
		Classifier string `json:"classifier,omitempty"`
	}
	var list []entry
	for _, m := range weights.ShippedModels() {
		files[m.File] = m.Weights()
		if m.Classifier != "" {
			files[m.Classifier] = m.ClassifierFile()
		}
		list = append(list, entry{m.ID, m.Title, m.File, m.Classifier})
	}
	if files["models.json"], err = json.MarshalIndent(list, "", "  "); err != nil {
		return nil, err
	}
	err = fs.WalkDir(web.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files[p], err = web.Files.ReadFile(p)
		return err
	})
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(filepath.Join(abs, "lsgm.wasm"))
	if err != nil {
		return nil, err
	}
	files["lsgm.wasm"] = wasm
	if files["lsgm-kernels.wasm"], err = os.ReadFile(filepath.Join(abs, "lsgm-kernels.wasm")); err != nil {
		return nil, err
	}
	var sizes []fileSize
	for name, data := range files {
		if name != "lsgm.wasm" && name != "lsgm-kernels.wasm" {
			if err := os.WriteFile(filepath.Join(abs, name), data, 0o644); err != nil {
				return nil, err
			}
		}
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(data)
		w.Close()
		if err := os.WriteFile(filepath.Join(abs, name+".gz"), z.Bytes(), 0o644); err != nil {
			return nil, err
		}
		sizes = append(sizes, fileSize{name, len(data), z.Len()})
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i].raw > sizes[j].raw })
	return sizes, nil
}

func report(w *os.File, out string, sizes []fileSize) {
	fmt.Fprintf(w, "site: wrote %s/\n", out)
	for _, s := range sizes {
		fmt.Fprintf(w, "  %-20s %9d bytes  %9d gzipped\n", s.name, s.raw, s.gzip)
	}
}

// contentTypes fixes the types a static host must send (Go's table lacks .lsgm,
// and some systems map .js or .wasm oddly).
var contentTypes = map[string]string{
	".wasm": "application/wasm",
	".js":   "text/javascript; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".lsgm": "application/octet-stream",
	".svg":  "image/svg+xml",
}

// twins remembers which .gz twins were checked against their originals,
// keyed by both files' sizes and modification times: a file edited or
// replaced after the build gets a new key, and is sent as it is.
type twins struct {
	mu sync.Mutex
	ok map[string]bool
}

// matches says whether p.gz holds exactly p's bytes, gzipped.
func (tw *twins) matches(files http.FileSystem, p string) bool {
	orig, err1 := stat(files, p)
	gz, err2 := stat(files, p+".gz")
	if err1 != nil || err2 != nil || orig.IsDir() {
		return false
	}
	key := fmt.Sprintf("%s|%d|%d|%d|%d", p, orig.Size(), orig.ModTime().UnixNano(), gz.Size(), gz.ModTime().UnixNano())
	tw.mu.Lock()
	ok, seen := tw.ok[key]
	tw.mu.Unlock()
	if seen {
		return ok
	}
	ok = sameContent(files, p)
	tw.mu.Lock()
	tw.ok[key] = ok
	tw.mu.Unlock()
	return ok
}

func stat(files http.FileSystem, p string) (fs.FileInfo, error) {
	f, err := files.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// sameContent compares p with p.gz decompressed.
func sameContent(files http.FileSystem, p string) bool {
	read := func(name string, gz bool) ([]byte, error) {
		f, err := files.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var r io.Reader = f
		if gz {
			z, err := gzip.NewReader(f)
			if err != nil {
				return nil, err
			}
			r = z
		}
		return io.ReadAll(r)
	}
	a, err := read(p, false)
	if err != nil {
		return false
	}
	b, err := read(p+".gz", true)
	return err == nil && bytes.Equal(a, b)
}

// handler serves dir, sending a file's .gz twin to clients that accept gzip
// when the twin matches the file. Every response allows cross-origin use: a
// page elsewhere may import the element's module, and its worker (started
// from the page's origin) fetches lsgm.wasm and the weights from here.
func handler(dir string) http.Handler {
	files := http.Dir(dir)
	tw := &twins{ok: map[string]bool{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Range")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		p := r.URL.Path
		if strings.HasSuffix(p, "/") {
			p += "index.html"
		}
		if strings.Contains(p, "..") {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		ext := filepath.Ext(p)
		ctype := contentTypes[ext]
		if ctype == "" {
			ctype = mime.TypeByExtension(ext)
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Vary", "Accept-Encoding")
		name := p
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && tw.matches(files, p) {
			name = p + ".gz"
			w.Header().Set("Content-Encoding", "gzip")
		}
		f, err := files.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		http.ServeContent(w, r, "", st.ModTime(), f)
	})
}

func serve(dir, addr string) error {
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return fmt.Errorf("%s has no index.html: run `make site` (go run ./wasm/site build) first", dir)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("site: serving %s on http://%s/ (WebGPU needs localhost or https)\n", dir, ln.Addr())
	srv := &http.Server{Handler: handler(dir), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
