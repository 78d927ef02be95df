package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"html"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	lsgm "github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// chromium returns the browser to drive. Under CI=true a missing browser
// fails the test (CI installs Debian's chromium); elsewhere it skips.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("LSGM_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium under CI (apt-get install chromium)")
	}
	t.Skip("no chromium: apt-get install chromium to run the browser tests")
	return ""
}

// built is the site folder, built once for the package's tests.
var built struct {
	once sync.Once
	dir  string
	err  error
}

// site builds the site once into a temporary folder and serves it on
// 127.0.0.1 (a secure context, as WebGPU needs), with test-only pages and
// bad weights files beside it.
func site(t *testing.T) *httptest.Server {
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "lsgm-site-"); built.err == nil {
			_, built.err = build(built.dir)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	dir := built.dir
	mux := http.NewServeMux()
	mux.Handle("/", handler(dir))
	mux.HandleFunc("/test/blank.html", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>blank</title>")
	})
	mux.HandleFunc("/test/corrupt.lsgm", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>this is not a weights file</html>"))
	})
	mux.HandleFunc("/test/truncated.lsgm", func(w http.ResponseWriter, r *http.Request) {
		w.Write(weights.Default()[:5000])
	})
	mux.HandleFunc("/test/embed.html", embedPage("../lsgm-element.js"))
	mux.HandleFunc("/test/classes.lsgm", func(w http.ResponseWriter, r *http.Request) {
		w.Write(classModel(t))
	})
	// The demo page under /test/two/ sees a models.json of two models:
	// the shipped default and the class test model.
	mux.HandleFunc("/test/two/models.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id": "fashion", "title": "Fashion-MNIST", "file": "default.lsgm"},
			{"id": "classes", "title": "Three classes (test)", "file": "../classes.lsgm"}]`)
	})
	mux.Handle("/test/two/", http.StripPrefix("/test/two", handler(dir)))
	mux.HandleFunc("/test/gotest.html", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>go test</title><script src="/wasm_exec.js"></script>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// embedPage serves a page of its own that embeds the element with the
// README's snippet, loading the element's module from module. Query
// parameters set the element's attributes (src, nfe, count, backend); the
// defaults draw 4 images at 6 NFE, seed 7.
func embedPage(module string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		attr := map[string]string{"count": "4", "sampler": "dpmpp2m", "nfe": "6", "seed": "7", "scale": "1", "cols": "2"}
		if r.URL.Query().Get("src") == "" && module == "../lsgm-element.js" {
			attr["src"] = "../default.lsgm"
		}
		for k, v := range r.URL.Query() {
			attr[k] = v[0]
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(attr)) {
			fmt.Fprintf(&b, " %s=\"%s\"", k, html.EscapeString(attr[k]))
		}
		fmt.Fprintf(w, `<!doctype html><title>embed</title>
<script type="module" src="%s"></script>
<lsgm-sampler id="s"%s></lsgm-sampler>`, module, b.String())
	}
}

// browser starts headless chromium, with WebGPU (SwiftShader) or without.
func browser(t *testing.T, webgpu bool) context.Context {
	// Not t.TempDir: chromium may still write its profile while the test's
	// cleanup runs; a best-effort removal after the browser closed suffices.
	profile, err := os.MkdirTemp("", "lsgm-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(profile),
		chromedp.WindowSize(1200, 1400),
	}
	if webgpu {
		opts = append(opts, chromedp.Flag("enable-unsafe-webgpu", true))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(func() { chromedp.Cancel(ctx); cancel2() }) // Cancel waits for the browser to close
	ctx, cancel3 := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func await(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

type apiResult struct {
	Backend string  `json:"backend"`
	Note    string  `json:"note"`
	SIMD    bool    `json:"simd"` // the CPU path ran the WebAssembly SIMD kernels
	RGBA    []int   `json:"rgba"`
	NFE     int     `json:"nfe"`
	MS      float64 `json:"ms"`     // the first request, shaders compiled on the way
	WarmMS  float64 `json:"warmMS"` // the same request again
}

// sampleInPage loads the module in a page and samples through its API.
func sampleInPage(t *testing.T, ctx context.Context, url, backend string, count, nfe int, seed uint64) apiResult {
	var res apiResult
	js := fmt.Sprintf(`(async () => {
		const { Sampler } = await import('/lsgm.js');
		const s = await Sampler.load({ weights: '/default.lsgm', backend: %q });
		const opts = { count: %d, sampler: 'dpmpp2m', nfe: %d, seed: %d, temperature: 1, preview: false };
		const r = await s.sample(opts);
		const again = await s.sample(opts);
		s.terminate();
		return { backend: s.backend, note: s.note, simd: s.simd && r.simd, rgba: Array.from(r.rgba), nfe: r.nfe, ms: r.ms, warmMS: again.ms };
	})()`, backend, count, nfe, seed)
	if err := chromedp.Run(ctx, chromedp.Navigate(url+"/test/blank.html"), chromedp.Evaluate(js, &res, await)); err != nil {
		t.Fatalf("sampling in the page: %v", err)
	}
	return res
}

// native samples the same request with the runtime's CPU path.
func native(t *testing.T, count, nfe int, seed uint64) []byte {
	m, err := lsgm.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Sample(lsgm.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: nfe}, Count: count, Seed: seed, Temperature: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return lsgm.RGBA8(res.Images, count, m.DataShape())
}

// sameImages checks browser pixels against the native ones: within one grey
// level (WebGPU's f32 sums against the CPU's, or wasm's math against amd64's).
func sameImages(t *testing.T, what string, got []int, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	worst := 0
	for i, v := range want {
		worst = max(worst, int(math.Abs(float64(got[i]-int(v)))))
	}
	if worst > 1 {
		t.Errorf("%s: pixels differ from the native runtime's by %d levels, more than 1", what, worst)
	}
	t.Logf("%s: pixels within %d level(s) of the native runtime", what, worst)
}

// The same seed in the page (WebGPU on SwiftShader) and natively (CPU) gives
// the same images; the demo page generates its first grid by itself.
func TestBrowserWebGPU(t *testing.T) {
	srv := site(t)
	ctx := browser(t, true)
	const count, nfe, seed = 4, 6, 42
	res := sampleInPage(t, ctx, srv.URL, "gpu", count, nfe, seed)
	if res.Backend != "webgpu" {
		t.Fatalf("backend %q (%s), want webgpu with --enable-unsafe-webgpu", res.Backend, res.Note)
	}
	sameImages(t, "webgpu", res.RGBA, native(t, count, nfe, seed))
	t.Logf("WebGPU in the page: %.1f ms per NFE at batch %d (first request %.1f)", res.WarmMS/float64(res.NFE), count, res.MS/float64(res.NFE))

	// auto does not take SwiftShader (a fallback adapter, slower than the
	// CPU path): it samples on the CPU and names the adapter it passed over.
	auto := sampleInPage(t, ctx, srv.URL, "auto", 2, 3, seed)
	if auto.Backend != "cpu" || !strings.Contains(auto.Note, "software renderer") || !strings.Contains(strings.ToLower(auto.Note), "swiftshader") {
		t.Errorf("auto on SwiftShader: backend %q, note %q; want the CPU and a note naming the software adapter", auto.Backend, auto.Note)
	}
	sameImages(t, "auto (cpu)", auto.RGBA, native(t, 2, 3, seed))

	// Time to first grid on the demo page, from navigation to the gallery.
	start := time.Now()
	var done string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?count=4&nfe=4&backend=gpu"),
		chromedp.WaitVisible(`#gallery canvas`, chromedp.ByQuery),
		chromedp.AttributeValue(`body`, "data-done", &done, nil, chromedp.ByQuery))
	if err != nil {
		t.Fatalf("demo page: %v", err)
	}
	var status, errText string
	chromedp.Run(ctx, chromedp.Text(`#status`, &status, chromedp.ByQuery), chromedp.TextContent(`#error`, &errText, chromedp.ByQuery))
	if !strings.Contains(status, "WebGPU") || errText != "" {
		t.Errorf("demo page status %q, error %q", status, errText)
	}
	t.Logf("demo page: first grid (4 images, 4 NFE) %.1f s after navigation; %s", time.Since(start).Seconds(), status)
	// LSGM_SCREENSHOT=file.png also renders a fuller demo page and saves it
	// (the README's picture); it adds a minute or two on SwiftShader.
	if path := os.Getenv("LSGM_SCREENSHOT"); path != "" {
		var png []byte
		err := chromedp.Run(ctx, chromedp.EmulateViewport(1100, 1000), chromedp.Navigate(srv.URL+"/?count=25&nfe=10&seed=3"),
			chromedp.WaitVisible(`#gallery canvas`, chromedp.ByQuery), chromedp.FullScreenshot(&png, 100)) // quality 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Without WebGPU the page falls back to the CPU in wasm, says so, and gives
// the native runtime's images.
func TestBrowserCPUFallback(t *testing.T) {
	srv := site(t)
	ctx := browser(t, false)
	const count, nfe, seed = 3, 4, 9
	res := sampleInPage(t, ctx, srv.URL, "auto", count, nfe, seed)
	if res.Backend != "cpu" || strings.Count(res.Note, "no WebGPU adapter") != 1 || !strings.Contains(res.Note, "on the CPU") || strings.Contains(res.Note, "avaliable") {
		t.Fatalf("backend %q, note %q: want the CPU and a note saying once that WebGPU is missing", res.Backend, res.Note)
	}
	if !res.SIMD {
		t.Errorf("the CPU path ran without the WebAssembly SIMD kernels")
	}
	sameImages(t, "cpu fallback", res.RGBA, native(t, count, nfe, seed))
	t.Logf("wasm CPU: %.1f ms per NFE at batch %d (first request %.1f)", res.WarmMS/float64(res.NFE), count, res.MS/float64(res.NFE))

	// Settings out of range are rejected with a message naming them.
	var msgs []string
	js := `(async () => {
		const { Sampler } = await import('/lsgm.js');
		const s = await Sampler.load({ weights: '/default.lsgm', backend: 'cpu' });
		const out = [];
		for (const o of [{ count: 0 }, { nfe: 1e9 }, { seed: -1 }, { sampler: 'magic' }, { temperature: 'hot' },
		                 { nfe: -5 }, { count: NaN }, { temperature: 0 }, { nfe: 2.5 }, { seed: 'abc' }]) {
			try { await s.sample(o); out.push('accepted ' + JSON.stringify(o)); } catch (e) { out.push(e.message); }
		}
		s.terminate();
		return out;
	})()`
	if err := chromedp.Run(ctx, chromedp.Evaluate(js, &msgs, await)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"count 0 out of range", "NFE 1000000000 out of range", "seed -1", `unknown sampler "magic"`, `temperature must be a number, got string "hot"`,
		"NFE -5 out of range [1, 10000]", "count must be a number, got NaN", "temperature 0 out of range (0, 10]", "NFE 2.5 must be a whole number", `seed "abc"`} {
		if i >= len(msgs) || !strings.Contains(msgs[i], want) {
			t.Errorf("bad setting %d: %q, want a message containing %q", i, msgs, want)
		}
	}
}

// The element on a page of its own draws the grid the runtime draws, and
// weights that are corrupt, truncated or missing show a specific message.
func TestBrowserElement(t *testing.T) {
	srv := site(t)
	ctx := browser(t, true)
	var status string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html"),
		chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && s.status.textContent.includes('images') && s.status.textContent; })()`, &status, chromedp.WithPollingTimeout(5*time.Minute)))
	if err != nil {
		t.Fatalf("element: %v", err)
	}
	if !strings.Contains(status, "4 images") || !strings.Contains(status, "seed 7") {
		t.Errorf("element status %q", status)
	}
	// Image 0 sits at (2, 2) in the grid (pad 2, scale 1); compare it.
	var px []int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.getElementById('s').canvas.getContext('2d').getImageData(2, 2, 28, 28).data)`, &px)); err != nil {
		t.Fatal(err)
	}
	want := native(t, 4, 6, 7)[:28*28*4]
	sameImages(t, "element", px, want)

	for _, tc := range []struct{ src, want string }{
		{"corrupt.lsgm", "not an LSGM weights file"},
		{"truncated.lsgm", "truncated"},
		{"missing.lsgm", "HTTP 404"},
	} {
		var msg string
		err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html?src="+tc.src),
			chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && s.status.classList.contains('error') && s.status.textContent; })()`, &msg, chromedp.WithPollingTimeout(2*time.Minute)))
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: the element shows %q, want it to mention %q", tc.src, msg, tc.want)
		}
	}
}

// classModel is a class-conditional model (the tiny fixture's networks with
// three classes, random weights), as a weights file.
func classModel(t *testing.T) []byte {
	c := weights.TinyConfig()
	c.Classes = []string{"Sneaker", "Bag", "Dress"}
	a, err := weights.NewArch(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Random(a, 9)
	if err != nil {
		t.Fatal(err)
	}
	b, err := weights.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The element samples a class of a class-conditional model with guidance
// (class-label, guidance-scale) and draws the native runtime's pixels, on
// the CPU path and on WebGPU (SwiftShader); a class the model lacks is
// named in the error.
func TestBrowserGuidance(t *testing.T) {
	srv := site(t)
	ctx := browser(t, true)
	m, err := lsgm.Load(classModel(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Sample(lsgm.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 6}, Count: 4, Seed: 7, Temperature: 1, Guide: &lsgm.Guide{Class: 1, Scale: 2.5}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := lsgm.RGBA8(res.Images, 4, m.DataShape())[:28*28*4]
	for _, backend := range []string{"cpu", "gpu"} {
		var status string
		err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html?src=classes.lsgm&class-label=bag&guidance-scale=2.5&backend="+backend),
			chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && (s.status.textContent.includes('images') || s.status.classList.contains('error')) && s.status.textContent; })()`, &status, chromedp.WithPollingTimeout(5*time.Minute)))
		if err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		if !strings.Contains(status, "of Bag (guidance 2.5)") {
			t.Fatalf("%s: element status %q", backend, status)
		}
		var px []int
		if err := chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.getElementById('s').canvas.getContext('2d').getImageData(2, 2, 28, 28).data)`, &px)); err != nil {
			t.Fatal(err)
		}
		sameImages(t, "guided, "+backend, px, want)
	}
	// The demo page: ?model= loads it, the class picker and guidance slider
	// appear, and ?class= and ?guidance= choose them.
	var caption string
	var hidden bool
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = chromedp.Run(dctx, chromedp.Navigate(srv.URL+"/?model=/test/classes.lsgm&class=bag&guidance=2.5&backend=cpu&count=4&nfe=6&seed=7"),
		chromedp.WaitVisible(`#gallery figcaption`, chromedp.ByQuery),
		chromedp.Text(`#gallery figcaption`, &caption, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('classbox').hidden`, &hidden))
	if err != nil {
		var st, er string
		chromedp.Run(ctx, chromedp.Text(`#status`, &st, chromedp.ByQuery), chromedp.Text(`#error`, &er, chromedp.ByQuery))
		t.Fatalf("demo page with a class: %v (status %q, error %q)", err, st, er)
	}
	if hidden || !strings.HasPrefix(caption, "Bag (guidance 2.5), dpmpp2m, 6 NFE") {
		t.Errorf("demo page with a class: picker hidden %v, caption %q", hidden, caption)
	}
	var shown string
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?model=/test/classes.lsgm&class=Boot&backend=cpu"),
		chromedp.WaitVisible(`#error`, chromedp.ByQuery), chromedp.Text(`#error`, &shown, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "?class=Boot (want one of Sneaker, Bag, Dress)") {
		t.Errorf("demo page, unknown class: %q", shown)
	}
	var msg string
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html?src=classes.lsgm&class-label=Boot&backend=cpu"),
		chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && s.status.classList.contains('error') && s.status.textContent; })()`, &msg, chromedp.WithPollingTimeout(2*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, `no class "Boot"`) || !strings.Contains(msg, "Sneaker, Bag, Dress") {
		t.Errorf("unknown class: the element shows %q", msg)
	}
}

// A browser (which asks for gzip) gets a file's current bytes after it was
// edited in the served folder, not its stale .gz twin; a fresh twin is used.
func TestBrowserStaleTwin(t *testing.T) {
	srv := site(t)
	dir := built.dir
	write := func(name, text string, gz bool) {
		b := []byte(text)
		if gz {
			var z bytes.Buffer
			w := gzip.NewWriter(&z)
			w.Write(b)
			w.Close()
			b = z.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "twin.html")); os.Remove(filepath.Join(dir, "twin.html.gz")) })
	write("twin.html", "<title>old</title><p id=v>old</p>", false)
	write("twin.html.gz", "<title>old</title><p id=v>old</p>", true)
	ctx := browser(t, false)
	read := func() (text, enc string) {
		js := `(async () => { const r = await fetch('/twin.html', { cache: 'no-store' }); return [await r.text(), r.headers.get('Content-Encoding') || '']; })()`
		var out []string
		if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/blank.html"), chromedp.Evaluate(js, &out, await)); err != nil {
			t.Fatal(err)
		}
		return out[0], out[1]
	}
	if text, enc := read(); !strings.Contains(text, "old") || enc != "gzip" {
		t.Errorf("fresh twin: %q, encoding %q; want the twin, gzipped", text, enc)
	}
	write("twin.html", "<title>new</title><p id=v>new, edited after the build</p>", false)
	if text, enc := read(); !strings.Contains(text, "new, edited") || enc != "" {
		t.Errorf("after an edit: %q, encoding %q; want the edited file as it is", text, enc)
	}
}

// A page on one origin embeds the element from a site on another with the
// README's snippet (module by absolute URL, weights beside it): the worker
// starts from a Blob, fetches lsgm.wasm and the weights with CORS, and draws
// the native runtime's images.
func TestBrowserCrossOrigin(t *testing.T) {
	srv := site(t)
	other := httptest.NewServer(embedPage(srv.URL + "/lsgm-element.js"))
	t.Cleanup(other.Close)
	if other.URL == srv.URL {
		t.Fatal("the two servers share an origin")
	}
	ctx := browser(t, false)
	var status string
	err := chromedp.Run(ctx, chromedp.Navigate(other.URL+"/?backend=cpu"),
		chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && s.status && (s.status.textContent.includes('images') || s.status.classList.contains('error')) && s.status.textContent; })()`,
			&status, chromedp.WithPollingTimeout(3*time.Minute)))
	if err != nil {
		t.Fatalf("cross-origin element: %v", err)
	}
	if !strings.Contains(status, "4 images") {
		t.Fatalf("cross-origin element: %q", status)
	}
	var px []int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.getElementById('s').canvas.getContext('2d').getImageData(2, 2, 28, 28).data)`, &px)); err != nil {
		t.Fatal(err)
	}
	sameImages(t, "cross-origin element", px, native(t, 4, 6, 7)[:28*28*4])
}

// rk45 (no step count ahead) reports progress by time, with previews; a run
// can be cancelled through the API and on the page, and the model stays
// loaded; bad settings in the URL and in attributes are named, not replaced.
func TestBrowserProgressCancelAndSettings(t *testing.T) {
	srv := site(t)
	ctx := browser(t, false)
	var out struct {
		Done      []float64 `json:"done"`
		Steps     []int     `json:"steps"`
		Previews  int       `json:"previews"`
		NFE       int       `json:"nfe"`
		Cancelled string    `json:"cancelled"`
		CancelMS  float64   `json:"cancelMS"`
		After     int       `json:"after"`
	}
	js := `(async () => {
		const { Sampler } = await import('/lsgm.js');
		const s = await Sampler.load({ weights: '/default.lsgm', backend: 'cpu' });
		const out = { done: [], steps: [], previews: 0 };
		const r = await s.sample({ count: 1, sampler: 'rk45', seed: 3 }, (p) => {
			out.done.push(p.done); out.steps.push(p.steps); if (p.preview) out.previews++;
		});
		out.nfe = r.nfe;
		let n = 0, t0 = 0;
		try {
			await s.sample({ count: 16, nfe: 400, seed: 1, preview: false }, () => { if (++n === 2) { t0 = performance.now(); s.cancel(); } });
			out.cancelled = 'finished';
		} catch (e) { out.cancelled = e.message; out.cancelMS = performance.now() - t0; }
		const again = await s.sample({ count: 1, nfe: 2, seed: 1 });
		out.after = again.count;
		s.terminate();
		return out;
	})()`
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/blank.html"), chromedp.Evaluate(js, &out, await)); err != nil {
		t.Fatal(err)
	}
	if len(out.Done) < 2 || out.Previews < 1 {
		t.Fatalf("rk45: %d progress reports, %d previews", len(out.Done), out.Previews)
	}
	for i, d := range out.Done {
		if out.Steps[i] != 0 || !(d > 0 && d <= 1) || i > 0 && d < out.Done[i-1] {
			t.Fatalf("rk45 progress: done %v, steps %v; want finite, rising, steps 0", out.Done, out.Steps)
		}
	}
	if last := out.Done[len(out.Done)-1]; last != 1 {
		t.Errorf("rk45 progress ends at %v", last)
	}
	t.Logf("rk45: %d NFE, %d reports, %d previews", out.NFE, len(out.Done), out.Previews)
	if out.Cancelled != "lsgm: cancelled" || out.After != 1 {
		t.Errorf("cancel: %q, then a sample of %d image(s)", out.Cancelled, out.After)
	}
	t.Logf("cancel took effect %.0f ms after the call", out.CancelMS)

	// The demo page: rk45 fills the progress bar and the timing table.
	var prog float64
	var rows int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?sampler=rk45&count=1&backend=cpu"),
		chromedp.WaitVisible(`#gallery canvas`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('progress').value`, &prog),
		chromedp.Evaluate(`document.querySelectorAll('#timing tbody tr').length`, &rows))
	if err != nil {
		t.Fatal(err)
	}
	if prog != 1 || rows < 2 {
		t.Errorf("demo page with rk45: progress %v, %d timing rows", prog, rows)
	}
	// Cancel on the page; the CPU path with the SIMD kernels draws the full
	// first grid.
	var cancelled, count string
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?nfe=2000&backend=cpu"),
		chromedp.Poll(`document.querySelectorAll('#timing tbody tr').length > 0`, nil),
		chromedp.Click(`#cancel`, chromedp.ByQuery),
		chromedp.WaitVisible(`body[data-cancelled]`, chromedp.ByQuery),
		chromedp.Text(`#status`, &cancelled, chromedp.ByQuery),
		chromedp.Value(`#count`, &count, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cancelled, "Cancelled") || count != "36" {
		t.Errorf("after Cancel the status says %q; count box %q (want the first grid of 36)", cancelled, count)
	}
	// A default page on the CPU path: time to its first grid.
	start := time.Now()
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?backend=cpu"), chromedp.WaitVisible(`#gallery canvas`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	var status string
	chromedp.Run(ctx, chromedp.Text(`#status`, &status, chromedp.ByQuery))
	t.Logf("default page on the CPU path: first grid %.1f s after navigation: %s", time.Since(start).Seconds(), status)

	// Bad settings in the URL are named and nothing runs.
	var msg string
	var gallery int
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?sampler=nope&seed=abc&backend=banana&nfe=abc&temperature=0"),
		chromedp.Poll(`(() => { const e = document.getElementById('error'); return !e.hidden && e.textContent; })()`, &msg),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Evaluate(`document.querySelectorAll('#gallery canvas').length`, &gallery))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"?sampler=nope", "?seed=abc", "?backend=banana", "?nfe=abc", "?temperature=0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("bad URL settings: %q does not name %s", msg, want)
		}
	}
	if gallery != 0 {
		t.Errorf("bad URL settings: %d grids drawn anyway", gallery)
	}
	// The element names the attribute and the value as written.
	for _, tc := range []struct{ query, want string }{
		{"nfe=-5", "NFE -5 out of range"},
		{"count=abc", `count="abc" is not a number`},
		{"temperature=0", "temperature 0 out of range"},
		{"seed=x1", `seed="x1"`},
	} {
		var msg string
		err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html?backend=cpu&"+tc.query),
			chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && s.status && s.status.classList.contains('error') && s.status.textContent; })()`, &msg, chromedp.WithPollingTimeout(2*time.Minute)))
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("element %s: %q, want it to say %q", tc.query, msg, tc.want)
		}
	}
}

// The benchmark page fills its table with a finite ms per NFE for each
// backend and batch, and with kernels=1 a table of WebGPU launches per
// batch (SwiftShader here). LSGM_BENCH=QUERY (e.g. "?backends=cpu") runs the page
// with those settings and logs the table: the README's in-browser figures
// (within the browser's 8 minutes).
func TestBrowserBench(t *testing.T) {
	srv := site(t)
	ctx := browser(t, true)
	query, wait := "?backends=cpu,gpu&batches=1,2&nfe=2&runs=1&kernels=1", 3*time.Minute
	custom := os.Getenv("LSGM_BENCH") != ""
	if custom {
		query, wait = os.Getenv("LSGM_BENCH"), 8*time.Minute
	}
	var done string
	var rows []struct {
		Backend string  `json:"backend"`
		Batch   string  `json:"batch"`
		MS      float64 `json:"ms"`
		Text    string  `json:"text"`
	}
	var kernels []struct {
		Batch string    `json:"batch"`
		MS    []float64 `json:"ms"`
		Text  []string  `json:"text"`
	}
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/bench.html"+query),
		chromedp.Poll(`document.body.dataset.done`, &done, chromedp.WithPollingTimeout(wait)),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#results tbody tr')).map((r) => ({ backend: r.dataset.backend || '', batch: r.dataset.batch || '', ms: Number(r.dataset.ms || 'NaN'), text: r.innerText }))`, &rows),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('table.kernels')).map((t) => ({ batch: t.dataset.batch, ms: Array.from(t.querySelectorAll('tbody tr')).map((r) => Number(r.dataset.ms)), text: Array.from(t.querySelectorAll('tbody tr')).map((r) => r.innerText) }))`, &kernels))
	if err != nil {
		t.Fatal(err)
	}
	if done != "ok" {
		var msg string
		chromedp.Run(ctx, chromedp.Text(`#error`, &msg, chromedp.ByQuery))
		t.Fatalf("bench page: %s", msg)
	}
	if want := 4; !custom && len(rows) != want || len(rows) == 0 {
		t.Fatalf("bench page: %d rows: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if !(r.MS > 0) || math.IsInf(r.MS, 0) {
			t.Errorf("bench row %+v: want a finite ms per NFE", r)
		}
		t.Logf("%s", strings.ReplaceAll(r.Text, "\t", " | "))
	}
	if !custom && (len(kernels) != 2 || kernels[0].Batch != "1" || kernels[1].Batch != "2") {
		t.Fatalf("bench page: per-kernel tables %+v, want batches 1 and 2", kernels)
	}
	for _, k := range kernels {
		conv := false
		for i, ms := range k.MS {
			if !(ms > 0) || math.IsInf(ms, 0) {
				t.Errorf("batch %s: kernel row %q: want a finite time", k.Batch, k.Text[i])
			}
			conv = conv || strings.Contains(k.Text[i], "conv2d")
			if custom {
				t.Logf("batch %s: %s", k.Batch, strings.ReplaceAll(k.Text[i], "\t", " | "))
			}
		}
		if len(k.MS) < 10 || !conv {
			t.Errorf("batch %s: %d kernel rows (conv2d among them: %v), want the network's launches", k.Batch, len(k.MS), conv)
		}
	}
}

// editGuide is a test guide: a bright bar on a dark ground, 28x28 grey bytes.
func editGuide() []byte {
	g := make([]byte, 28*28)
	for i := range g {
		if x, y := i%28, i/28; x >= 8 && x < 20 && y >= 4 && y < 24 {
			g[i] = 200
		}
	}
	return g
}

// nativeEdit runs an edit of editGuide with the runtime's CPU path.
func nativeEdit(t *testing.T, count, nfe int, seed uint64, strength float64, mask []byte, jumps int) ([]byte, float64) {
	t.Helper()
	m, err := lsgm.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	req := lsgm.EditRequest{Count: count, Seed: seed, Strength: strength, Jumps: jumps}
	cfg := sampler.Config{Name: m.File.Arch.Sampling.Sampler, NFE: nfe, EndTime: m.File.Arch.Sampling.EndTime}
	if mask != nil {
		cfg = sampler.Config{Name: "ddpm", NFE: nfe}
	}
	req.Sampler = cfg
	for range count {
		for _, b := range editGuide() {
			req.Guides = append(req.Guides, float32(b)/255)
		}
		for _, b := range mask {
			req.Mask = append(req.Mask, float32(min(1, int(b))))
		}
	}
	res, err := m.Edit(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return lsgm.RGBA8(res.Images, count, m.DataShape()), res.KnownError
}

// Editing in the page: SDEdit through the JS API on WebGPU (SwiftShader)
// and inpainting on the CPU give the native runtime's images for the same
// seed; bad edits are refused by name; the demo page's editor draws with
// the pen and eraser and makes real; the element's edit mode fills.
func TestBrowserEdit(t *testing.T) {
	srv := site(t)
	ctx := browser(t, true)
	left := make([]byte, 28*28)
	for i := range left {
		if i%28 < 14 {
			left[i] = 1
		}
	}
	guideJS := fmt.Sprintf("new Uint8Array(%s)", jsonOf(editGuide()))
	var res struct {
		Backend string   `json:"backend"`
		SD      []int    `json:"sd"`
		Fill    []int    `json:"fill"`
		Known   float64  `json:"known"`
		Errors  []string `json:"errors"`
	}
	js := fmt.Sprintf(`(async () => {
		const { Sampler } = await import('/lsgm.js');
		const s = await Sampler.load({ weights: '/default.lsgm', backend: 'gpu' });
		const guide = %s, mask = new Uint8Array(%s);
		const sd = await s.sample({ count: 2, nfe: 4, seed: 9, edit: { guide, strength: 0.8 } });
		const fill = await s.sample({ count: 2, nfe: 3, seed: 9, edit: { guide, mask, jumps: 2 } });
		const errors = [];
		// Two samples called at once: the second waits for the first.
		const both = await Promise.all([s.sample({ count: 1, nfe: 2, seed: 1 }), s.sample({ count: 1, nfe: 2, edit: { guide, strength: 0.5 } })]);
		if (both.length !== 2 || !both[1].rgba) errors.push('queue failed');
		for (const edit of [{ guide: guide.slice(10), strength: 0.5 }, { guide, strength: 0 }, { guide, mask: new Uint8Array(784) },
		                    { guide, mask: new Uint8Array(784).fill(1) }, { guide }, { strength: 0.5 }, { guide, mask, strength: 0.5 }]) {
			try { await s.sample({ count: 1, nfe: 2, edit }); errors.push('accepted'); } catch (e) { errors.push(e.message); }
		}
		s.terminate();
		return { backend: s.backend, sd: Array.from(sd.rgba), fill: Array.from(fill.rgba), known: fill.knownError, errors };
	})()`, guideJS, jsonOf(left))
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/blank.html"), chromedp.Evaluate(js, &res, await)); err != nil {
		t.Fatalf("editing in the page: %v", err)
	}
	if res.Backend != "webgpu" {
		t.Errorf("backend %q, want webgpu", res.Backend)
	}
	want, _ := nativeEdit(t, 2, 4, 9, 0.8, nil, 0)
	sameImages(t, "SDEdit on WebGPU", res.SD, want)
	want, known := nativeEdit(t, 2, 3, 9, 0, left, 2)
	sameImages(t, "inpainting on the CPU", res.Fill, want)
	if math.Abs(res.Known-known) > 1e-3 {
		t.Errorf("known-pixel error %v in the page, %v natively", res.Known, known)
	}
	for i, want := range []string{"edit.guide has 774 bytes", "edit strength 0 out of range", "mask of image 0 is empty", "is full", "edit.strength is missing", "edit.guide is missing", "inpainting (a mask) starts from noise"} {
		if i >= len(res.Errors) || !strings.Contains(res.Errors[i], want) {
			t.Errorf("bad edit %d: %q, want it to mention %q", i, res.Errors[i], want)
		}
	}

	// The demo page's editor: the pen draws, the eraser marks, Make it real
	// gives the native SDEdit of the canvas.
	var page struct {
		Drawn, Erased int
		Status        string
		RGBA          []int
		Guide         []int
	}
	draw := `(async () => {
		const ed = window.lsgmEditor;
		while (!document.querySelector('.lsgm-editor .real') || document.querySelector('.lsgm-editor .real').disabled) await new Promise((r) => setTimeout(r, 100));
		const pad = ed.pad, r = pad.getBoundingClientRect();
		const at = (x, y) => ({ clientX: r.left + x * r.width / 28, clientY: r.top + y * r.height / 28, pointerId: 1, bubbles: true });
		pad.dispatchEvent(new PointerEvent('pointerdown', at(6, 6)));
		for (let k = 0; k <= 20; k++) pad.dispatchEvent(new PointerEvent('pointermove', at(6 + k * 0.8, 6 + k * 0.8)));
		pad.dispatchEvent(new PointerEvent('pointerup', at(22, 22)));
		const drawn = ed.guide.filter((v) => v > 0).length;
		document.querySelector('.lsgm-editor [data-tool=eraser]').click();
		pad.dispatchEvent(new PointerEvent('pointerdown', at(14, 14)));
		pad.dispatchEvent(new PointerEvent('pointerup', at(14, 14)));
		const erased = ed.mask.filter((v) => v).length;
		ed.seed = 3;
		const res = await ed.makeReal();
		return { Drawn: drawn, Erased: erased, Status: document.querySelector('.lsgm-editor .status').textContent, RGBA: Array.from(res.rgba), Guide: Array.from(ed.guide) };
	})()`
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?count=1&nfe=2&backend=cpu"), chromedp.Evaluate(draw, &page, await)); err != nil {
		t.Fatalf("the demo page's editor: %v", err)
	}
	if page.Drawn < 20 || page.Erased < 4 || !strings.Contains(page.Status, "8 made real at strength 0.9") {
		t.Errorf("editor: %d pixels drawn, %d erased, status %q", page.Drawn, page.Erased, page.Status)
	}
	m, err := lsgm.Load(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	req := lsgm.EditRequest{Count: 8, Seed: 3, Strength: 0.9, Sampler: sampler.Config{Name: m.File.Arch.Sampling.Sampler, NFE: m.File.Arch.Sampling.NFE, EndTime: m.File.Arch.Sampling.EndTime}}
	for range 8 {
		for _, v := range page.Guide {
			req.Guides = append(req.Guides, float32(v)/255)
		}
	}
	got, err := m.Edit(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameImages(t, "the editor's Make it real", page.RGBA, lsgm.RGBA8(got.Images, 8, m.DataShape()))
	// LSGM_SCREENSHOT_EDIT=file.png saves the editor as it is now (the
	// README's picture).
	if path := os.Getenv("LSGM_SCREENSHOT_EDIT"); path != "" {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.Screenshot(`#editor`, &png, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The element in edit mode fills the erased pixels.
	var el struct {
		Status string
		Count  int
		Known  float64
	}
	fill := `(async () => {
		const el = document.getElementById('s');
		while (!el.editor || !el.status.textContent.includes('Ready to edit')) await new Promise((r) => setTimeout(r, 100));
		const ed = el.editor;
		ed.setImage(new Uint8Array(784).fill(180));
		const pad = ed.pad, r = pad.getBoundingClientRect();
		el.shadowRoot.querySelector('[data-tool=eraser]').click();
		pad.dispatchEvent(new PointerEvent('pointerdown', { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, pointerId: 1 }));
		pad.dispatchEvent(new PointerEvent('pointerup', { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, pointerId: 1 }));
		const res = await ed.fill();
		return { Status: el.shadowRoot.querySelector('.lsgm-editor .status').textContent, Count: res.count, Known: res.knownError };
	})()`
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html?mode=edit&count=2&nfe=2&jumps=2&backend=cpu"), chromedp.Evaluate(fill, &el, await)); err != nil {
		t.Fatalf("the element's edit mode: %v", err)
	}
	if el.Count != 2 || !strings.Contains(el.Status, "2 filled") || !(el.Known >= 0) {
		t.Errorf("element edit mode: %d results, status %q, known error %v", el.Count, el.Status, el.Known)
	}
	t.Logf("element: %s", el.Status)
}

func jsonOf(b []byte) string {
	s := make([]string, len(b))
	for i, v := range b {
		s[i] = strconv.Itoa(int(v))
	}
	return "[" + strings.Join(s, ",") + "]"
}

// Classifier guidance in the page: the shipped model with its shipped
// noisy classifier samples a class through the JS API (on WebGPU,
// SwiftShader here) with the native runtime's pixels; the demo page offers the
// classifier's classes for the class-less default model; the element takes
// a classifier attribute; misuses are named.
func TestBrowserClassifierGuidance(t *testing.T) {
	srv := site(t)
	ctx := browser(t, true)
	var res struct {
		Classes  []string `json:"classes"`
		RGBA     []int    `json:"rgba"`
		Guidance string   `json:"guidance"`
		Backend  string   `json:"backend"`
		Note     string   `json:"note"`
		Errors   []string `json:"errors"`
	}
	js := `(async () => {
		const { Sampler } = await import('/lsgm.js');
		const s = await Sampler.load({ weights: '/fashion-uncond.lsgm', backend: 'gpu', classifier: '/fashion-uncond-noisy.lsgmc' });
		const r = await s.sample({ count: 3, nfe: 3, seed: 5, class: 'sneaker', guidanceScale: 3, preview: false });
		const errors = [];
		for (const o of [{ class: 'Hat', guidanceScale: 1 }, { class: 'Bag', guidance: 'magic' }, { class: 'Bag', guidance: 'cfg' }]) {
			try { await s.sample({ count: 1, nfe: 2, ...o }); errors.push('accepted'); } catch (e) { errors.push(e.message); }
		}
		const plain = await Sampler.load({ weights: '/fashion-uncond.lsgm', backend: 'cpu' });
		try { await plain.sample({ count: 1, nfe: 2, class: 'Bag', guidance: 'classifier' }); errors.push('accepted'); } catch (e) { errors.push(e.message); }
		plain.terminate();
		try { (await Sampler.load({ weights: '/test/classes.lsgm', backend: 'cpu', classifier: '/fashion-uncond-noisy.lsgmc' })).terminate(); errors.push('accepted'); } catch (e) { errors.push(e.message); }
		s.terminate();
		return { classes: s.classifierClasses, rgba: Array.from(r.rgba), guidance: r.guidance, backend: r.backend, note: r.fallback, errors };
	})()`
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/blank.html"), chromedp.Evaluate(js, &res, await)); err != nil {
		t.Fatalf("classifier guidance in the page: %v", err)
	}
	if len(res.Classes) != 10 || res.Classes[7] != "Sneaker" || res.Guidance != "classifier" || res.Backend != "webgpu" {
		t.Errorf("classes %v, guidance %q on %s (%q)", res.Classes, res.Guidance, res.Backend, res.Note)
	}
	u, ok := weights.ShippedModel("fashion-uncond")
	if !ok {
		t.Fatal("no shipped model fashion-uncond")
	}
	m, err := lsgm.Load(u.Weights())
	if err != nil {
		t.Fatal(err)
	}
	c, err := lsgm.LoadClassifier(u.ClassifierFile())
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Sample(lsgm.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: 3, EndTime: 1e-3}, Count: 3, Seed: 5, Guide: &lsgm.Guide{Class: 7, Scale: 3, Classifier: c}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameImages(t, "classifier guidance", res.RGBA, lsgm.RGBA8(want.Images, 3, m.DataShape()))
	for i, want := range []string{`no class "Hat"`, `guidance "magic": want cfg or classifier`, "not class-conditional", "needs a classifier", "reads latents of"} {
		if i >= len(res.Errors) || !strings.Contains(res.Errors[i], want) {
			t.Errorf("misuse %d: %q, want it to mention %q", i, res.Errors[i], want)
		}
	}
	// The demo page: the unconditional model's class picker is its
	// classifier's, and the default, class-conditional, guides without one.
	var caption string
	var hidden bool
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?class=Bag&guidance=3&backend=cpu&count=2&nfe=3&seed=2"),
		chromedp.WaitVisible(`#gallery canvas`, chromedp.ByQuery),
		chromedp.Text(`#gallery figcaption`, &caption, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('classbox').hidden`, &hidden)); err != nil {
		t.Fatal(err)
	}
	if hidden || !strings.HasPrefix(caption, "Bag (guidance 3)") {
		t.Errorf("demo page, default model: class picker hidden %v, caption %q", hidden, caption)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?model=fashion-uncond&class=Bag&guidance=3&backend=cpu&count=2&nfe=3&seed=2"),
		chromedp.WaitVisible(`#gallery canvas`, chromedp.ByQuery),
		chromedp.Text(`#gallery figcaption`, &caption, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('classbox').hidden`, &hidden)); err != nil {
		t.Fatal(err)
	}
	if hidden || !strings.HasPrefix(caption, "Bag (classifier guidance 3)") {
		t.Errorf("demo page: class picker hidden %v, caption %q", hidden, caption)
	}
	// The element with a classifier attribute.
	var status string
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/embed.html?src=../fashion-uncond.lsgm&classifier=../fashion-uncond-noisy.lsgmc&class-label=Trouser&guidance-scale=2&count=2&nfe=3&backend=cpu"),
		chromedp.Poll(`(() => { const s = document.getElementById('s'); return s && (s.status.textContent.includes('images') || s.status.classList.contains('error')) && s.status.textContent; })()`, &status, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "of Trouser (classifier guidance 2)") {
		t.Errorf("element: %q", status)
	}
}

// The demo page's model picker: on the site it lists the shipped models
// (hidden if only one ships); with a list of two, picking the second loads
// it and draws a grid (its classes appear in the class picker), and
// ?model=ID opens a shipped model by id.
func TestBrowserModelPicker(t *testing.T) {
	srv := site(t)
	ctx := browser(t, false)
	grids := func(n int) chromedp.Action {
		return chromedp.Poll(fmt.Sprintf(`document.querySelectorAll('#gallery figure').length >= %d`, n), nil, chromedp.WithPollingTimeout(3*time.Minute))
	}
	var hidden bool
	var titles, classes []string
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/?backend=cpu&count=1&nfe=2"), grids(1),
		chromedp.Evaluate(`document.getElementById('modelbox').hidden`, &hidden),
		chromedp.Evaluate(`[...document.getElementById('model').options].filter((o) => !o.hidden).map((o) => o.text)`, &titles)); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range weights.ShippedModels() {
		want = append(want, m.Title)
	}
	if hidden != (len(want) < 2) || strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Errorf("the site's model picker: hidden %v, options %q; want the shipped %q", hidden, titles, want)
	}
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/two/?backend=cpu&count=1&nfe=2"), grids(1),
		chromedp.Evaluate(`document.getElementById('modelbox').hidden`, &hidden),
		chromedp.Evaluate(`[...document.getElementById('model').options].filter((o) => !o.hidden).map((o) => o.text)`, &titles),
		chromedp.Evaluate(`(() => { const s = document.getElementById('model'); s.value = 'classes'; s.dispatchEvent(new Event('change')); })()`, nil),
		grids(2),
		chromedp.Evaluate(`document.getElementById('classbox').hidden`, &hidden),
		chromedp.Evaluate(`[...document.getElementById('class').options].map((o) => o.text)`, &classes))
	if err != nil {
		var st, er string
		chromedp.Run(ctx, chromedp.Text(`#status`, &st, chromedp.ByQuery), chromedp.Text(`#error`, &er, chromedp.ByQuery))
		t.Fatalf("two models: %v (status %q, error %q)", err, st, er)
	}
	if strings.Join(titles, "|") != "Fashion-MNIST|Three classes (test)" {
		t.Errorf("two models: picker options %q", titles)
	}
	if hidden || strings.Join(classes, "|") != "any (unconditional)|Sneaker|Bag|Dress" {
		t.Errorf("after picking the class model: class picker hidden %v, options %q", hidden, classes)
	}
	var picked string
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/two/?model=classes&backend=cpu&count=1&nfe=2"), grids(1),
		chromedp.Evaluate(`document.getElementById('model').value`, &picked),
		chromedp.Evaluate(`[...document.getElementById('class').options].map((o) => o.text)`, &classes))
	if err != nil {
		t.Fatal(err)
	}
	if picked != "classes" || len(classes) != 4 || classes[1] != "Sneaker" {
		t.Errorf("?model=classes: picker on %q, classes %q", picked, classes)
	}
}
