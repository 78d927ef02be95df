package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The one op suite (runtime/optest) in the browser: the GOOS=js test
// binaries of runtime/optest (the CPU path's WebAssembly SIMD kernels, loaded
// on the program's memory as the worker does) and runtime/gpu (the WGSL
// kernels on the page's WebGPU adapter, SwiftShader here) run in a page of
// headless Chromium, and must pass.
func TestBrowserOpSuite(t *testing.T) {
	srv := site(t) // also builds lsgm-kernels.wasm into the site
	bin := t.TempDir()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"optest", "gpu"} {
		cmd := exec.Command("go", "test", "-c", "-o", filepath.Join(bin, pkg+".wasm"), "./runtime/"+pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the %s test binary: %v\n%s", pkg, err, msg)
		}
	}
	// The binaries come from a server of their own (another origin: CORS).
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		http.FileServer(http.Dir(bin)).ServeHTTP(w, r)
	}))
	defer files.Close()
	ctx := browser(t, true)
	for _, c := range []struct{ pkg, run string }{
		{"optest", "TestCPU"},
		{"gpu", "TestOps$|TestTrainOps|TestEveryShaderCompiles|TestClassifierGradMatchesCPU"},
	} {
		var res struct {
			Code int    `json:"code"`
			Out  string `json:"out"`
		}
		js := `(async (url, run) => {
			const lines = [];
			const log = console.log;
			console.log = (...a) => { lines.push(a.join(' ')); };
			try {
				const go = new Go();
				go.argv = ['test', '-test.v', '-test.run', run];
				go.env = { CI: 'true' };
				let code = -1;
				go.exit = (c) => { code = c; };
				const bytes = await (await fetch(url)).arrayBuffer();
				const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
				const k = await WebAssembly.instantiate(await (await fetch('/lsgm-kernels.wasm')).arrayBuffer(), { env: { memory: instance.exports.mem } });
				globalThis.lsgmKernels = k.instance.exports;
				globalThis.wasm = { instance }; // the WebGPU binding reads wasm.instance.exports.mem
				await go.run(instance);
				return { code, out: lines.join('\n') };
			} finally {
				console.log = log;
			}
		})(` + "`" + files.URL + "/" + c.pkg + ".wasm`, `" + c.run + "`)"
		if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/test/gotest.html"), chromedp.Evaluate(js, &res, await)); err != nil {
			t.Fatalf("%s in the page: %v", c.pkg, err)
		}
		if res.Code != 0 || !strings.Contains(res.Out, "\nPASS") || strings.Contains(res.Out, "--- SKIP") {
			t.Errorf("runtime/%s -run %q in the page: exit %d\n%s", c.pkg, c.run, res.Code, res.Out)
			continue
		}
		for _, want := range map[string][]string{
			"optest": {"--- PASS: TestCPUFast", "--- PASS: TestCPUSIMDLoaded"},
			"gpu":    {"--- PASS: TestOps", "--- PASS: TestTrainOps", "--- PASS: TestClassifierGradMatchesCPU", "swiftshader"},
		}[c.pkg] {
			if !strings.Contains(strings.ToLower(res.Out), strings.ToLower(want)) {
				t.Errorf("runtime/%s in the page: no %q in\n%s", c.pkg, want, res.Out)
			}
		}
		t.Logf("runtime/%s in the page:\n%s", c.pkg, res.Out)
	}
}
