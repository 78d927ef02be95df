// The sampler's Web Worker: it runs the Go WebAssembly build (lsgm.wasm) off
// the page's main thread, so sampling never freezes the page. lsgm.js starts
// it and speaks to it with {id, op, args} messages; replies carry the same id.
// Started from a Blob for a page on another origin, it finds its files at
// self.lsgmBase (set by lsgm.js) instead of its own location.
const base = self.lsgmBase || self.location.href;
importScripts(new URL('wasm_exec.js', base).href);

// The WebAssembly SIMD kernels (lsgm-kernels.wasm) run the CPU path's
// heavy ops on the Go program's own memory. Without them (an old browser,
// a missing file) the CPU path runs in Go, and the runtime says so.
async function kernels(memory) {
  try {
    const resp = await fetch(new URL('lsgm-kernels.wasm', base));
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const { instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), { env: { memory } });
    self.lsgmKernels = instance.exports;
  } catch (err) {
    console.warn(`lsgm: WebAssembly SIMD kernels not loaded (${err.message}); the CPU path runs plain Go`);
  }
}

const ready = (async () => {
  const go = new Go();
  const url = new URL('lsgm.wasm', base);
  let result;
  try {
    result = await WebAssembly.instantiateStreaming(fetch(url), go.importObject);
  } catch (err) {
    // A host that serves .wasm without application/wasm: compile from bytes.
    let resp;
    try {
      resp = await fetch(url);
    } catch (err) {
      throw new Error(`lsgm: could not fetch ${url} (${err.message}); a host other than the page's must send Access-Control-Allow-Origin`);
    }
    if (!resp.ok) throw new Error(`lsgm: ${url}: HTTP ${resp.status}`);
    result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
  }
  self.wasm = result; // the WebGPU binding reads wasm.instance.exports.mem
  await kernels(result.instance.exports.mem);
  go.run(result.instance).then(() => { self.lsgmExited = true; });
  if (!self.lsgmGo) throw new Error('lsgm: the WebAssembly module did not start');
  return self.lsgmGo;
})();

async function fileBytes(bytes, url, what) {
  if (bytes) return new Uint8Array(bytes);
  let resp;
  try {
    resp = await fetch(url);
  } catch (err) {
    throw new Error(`lsgm: could not fetch the ${what} ${url}: ${err.message}`);
  }
  if (!resp.ok) throw new Error(`lsgm: could not fetch the ${what} ${url}: HTTP ${resp.status} ${resp.statusText}`);
  return new Uint8Array(await resp.arrayBuffer());
}

self.onmessage = async (e) => {
  const { id, op, args } = e.data;
  if (op === 'cancel') { // no reply: the running sample rejects
    ready.then((api) => api.cancel(), () => {});
    return;
  }
  try {
    const api = await ready;
    if (self.lsgmExited) throw new Error('lsgm: the WebAssembly module has stopped; reload the page');
    let value;
    if (op === 'load') {
      value = await api.load(await fileBytes(args.bytes, args.url, 'weights'), args.backend || 'auto');
      if (args.classifierBytes || args.classifierURL) {
        const c = await api.loadClassifier(await fileBytes(args.classifierBytes, args.classifierURL, 'classifier'));
        value.classifierClasses = c.classes;
      }
      self.postMessage({ id, ok: true, value });
    } else if (op === 'profile') {
      self.postMessage({ id, ok: true, value: await api.profile(args.batch) });
    } else if (op === 'sample') {
      const onProgress = (p) => {
        self.postMessage({ id, progress: p }, p.preview ? [p.preview.buffer] : []);
      };
      value = await api.sample(args, onProgress);
      self.postMessage({ id, ok: true, value }, [value.rgba.buffer]);
    } else {
      throw new Error(`lsgm: unknown operation ${op}`);
    }
  } catch (err) {
    self.postMessage({ id, ok: false, error: String((err && err.message) || err) });
  }
};
