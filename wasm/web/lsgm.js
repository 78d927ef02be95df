// lsgm.js: the LSGM sampler for web pages, an ES module.
//
//   import { Sampler } from './lsgm.js';
//   const s = await Sampler.load({ weights: 'default.lsgm' });
//   console.log(s.backend, s.note);            // "webgpu", or "cpu" and why
//   const r = await s.sample({ count: 16, sampler: 'dpmpp2m', nfe: 10, seed: 1,
//                              temperature: 1 }, (p) => console.log(p.step, p.steps));
//   s.draw(canvas, r);                          // a grid into a <canvas>
//   const img = s.imageData(r, 0);              // one image as ImageData
//
// The Go WebAssembly sampler runs in a Web Worker, on the visitor's GPU
// through WebGPU when the browser offers a hardware adapter and on the CPU
// otherwise. Every URL is relative to this module, so the folder can live
// anywhere, on the page's own host or on another one (which must then send
// Access-Control-Allow-Origin; see the README).

const here = new URL('.', import.meta.url);

// startWorker runs lsgm-worker.js. Browsers start a worker only from the
// page's own origin, so for a module loaded from another host the worker
// starts from a same-origin Blob whose one line imports the real script by
// its absolute URL and tells it where its files are.
function startWorker() {
  const url = new URL('lsgm-worker.js', here);
  if (url.origin === location.origin) return { worker: new Worker(url), revoke() {} };
  const boot = `self.lsgmBase = ${JSON.stringify(url.href)};\nimportScripts(${JSON.stringify(url.href)});\n`;
  const blob = URL.createObjectURL(new Blob([boot], { type: 'text/javascript' }));
  return { worker: new Worker(blob), revoke: () => URL.revokeObjectURL(blob) };
}

export class Sampler {
  #worker; #next = 1; #pending = new Map(); #dead = null; #sampling = 0;
  #queue = Promise.resolve(); // samples run one at a time, in call order

  constructor({ worker, revoke }) {
    this.#worker = worker;
    worker.onmessage = (e) => { revoke(); this.#reply(e.data); };
    worker.onerror = (e) => this.#fail(new Error(`lsgm: the sampler's worker failed: ${e.message || `could not start (are lsgm-worker.js, wasm_exec.js and lsgm.wasm served beside lsgm.js at ${here.href}${new URL(here).origin !== location.origin ? ', with Access-Control-Allow-Origin' : ''}?)`}`));
    worker.onmessageerror = () => this.#fail(new Error('lsgm: a message from the worker could not be read'));
  }

  // load starts a worker and loads weights: a URL (relative to the page) or
  // the file's bytes (ArrayBuffer or Uint8Array). backend is 'auto' (WebGPU
  // on a hardware adapter, else the CPU: a software adapter such as
  // SwiftShader is slower than the CPU path), 'gpu' (any WebGPU adapter) or
  // 'cpu'. The sampler's info fields (name, bytes, parameters, shape,
  // samplers, default sampler and NFE, dataset, adapter, classes) become properties;
  // backend says what runs, note why the CPU runs if it does; simd whether
  // the CPU path runs the WebAssembly SIMD kernels (lsgm-kernels.wasm) and
  // simdNote why not.
  //
  // classifier (a URL or a file's bytes) loads a noisy classifier of the
  // model's latents (trainer classifier --noisy; fashion-uncond-noisy.lsgmc
  // beside this module is the shipped unconditional model's) for classifier
  // guidance; its class names become classifierClasses, and a model without classes of its own
  // then samples a class with it.
  static async load({ weights = new URL('default.lsgm', here).href, backend = 'auto', classifier } = {}) {
    if (!['auto', 'gpu', 'cpu'].includes(backend)) throw new TypeError(`lsgm: backend ${JSON.stringify(backend)}: want auto, gpu or cpu`);
    const s = new Sampler(startWorker());
    const args = { backend };
    if (typeof classifier === 'string' || classifier instanceof URL) {
      args.classifierURL = new URL(classifier, document.baseURI).href;
    } else if (classifier instanceof ArrayBuffer || ArrayBuffer.isView(classifier)) {
      args.classifierBytes = classifier instanceof ArrayBuffer ? classifier : classifier.buffer.slice(classifier.byteOffset, classifier.byteOffset + classifier.byteLength);
    } else if (classifier !== undefined) {
      throw new TypeError('lsgm: classifier must be a URL or the bytes of a classifier file');
    }
    if (typeof weights === 'string' || weights instanceof URL) {
      args.url = new URL(weights, document.baseURI).href;
    } else if (weights instanceof ArrayBuffer || ArrayBuffer.isView(weights)) {
      args.bytes = weights instanceof ArrayBuffer ? weights : weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
    } else {
      throw new TypeError('lsgm: weights must be a URL or the bytes of a weights file');
    }
    try {
      const info = await s.#call('load', args);
      Object.assign(s, info);
      s.note = info.fallback;
    } catch (err) {
      s.terminate();
      throw err;
    }
    return s;
  }

  // sample draws count images. Options: count (default 16), sampler, nfe,
  // seed (number, or decimal string for 64 bits), temperature in (0, 10]
  // (default 1), class (a class-conditional model's class, by name or
  // index; the model's classes are in the sampler's classes property) with
  // guidanceScale in [0, 20] (classifier-free guidance; default 1), or
  // guidance: 'classifier' (the default for a model without classes when a
  // classifier was loaded: a class of classifierClasses),
  // preview (default true: progress reports carry the decoded
  // prediction, for a live view; on the CPU a few a second), signal (an
  // AbortSignal that cancels, like cancel()). onProgress gets {step, steps,
  // done, t, ms, preview}: steps is 0 for an adaptive sampler (rk45), and
  // done (0 to 1) is the share of the run behind it either way. The result
  // holds rgba (count images of width x height, RGBA bytes, one after
  // another), count, width, height, nfe, ms, backend, simd.
  //
  // edit: {guide, strength} makes count SDEdits of one image (its latent
  // noised to the time strength in (0, 1] and denoised back, on the GPU
  // where sampling runs there); {guide, mask, jumps} inpaints it (on the
  // CPU: ddpm, 20 steps of 5 jumps, unless sampler, nfe or jumps
  // say otherwise), and the result's knownError says how far the decoder
  // left the known pixels before they were put back (1/255 a grey level).
  // guide: a Uint8Array (or Uint8ClampedArray) of width x height grey
  // values, or an ImageData's RGBA bytes; mask: width x height bytes, non-zero
  // where the guide is to be filled. lsgm-editor.js is a ready-made panel.
  //
  // A sample called while another runs waits for it (a page's grid and its
  // editor can share one sampler); cancel stops the one running.
  sample({ signal, ...options } = {}, onProgress) {
    if (signal?.aborted) return Promise.reject(new Error('lsgm: cancelled'));
    const run = this.#queue.then(() => {
      if (signal?.aborted) throw new Error('lsgm: cancelled');
      const onAbort = () => this.cancel();
      signal?.addEventListener('abort', onAbort);
      this.#sampling++;
      return this.#call('sample', options, onProgress).finally(() => {
        this.#sampling--;
        signal?.removeEventListener('abort', onAbort);
      });
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  // cancel stops the running sample, whose promise rejects with
  // "lsgm: cancelled" after the step in progress; the model stays loaded.
  // profile times each WebGPU launch of the model alone at batch (a
  // number), for benchmarking: [{net, node, kernel, ms}], in launch order.
  // It rejects on the CPU backend.
  profile(batch) {
    return this.#call('profile', { batch });
  }

  cancel() {
    if (this.#sampling && !this.#dead) this.#worker.postMessage({ id: 0, op: 'cancel' });
  }

  // imageData returns image i of a result (or a progress preview) as ImageData.
  imageData(result, i = 0, rgba = result.rgba) {
    const n = result.width * result.height * 4;
    return new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + i * n, n), result.width, result.height);
  }

  // draw lays the images of a result (or of rgba, e.g. a preview) out in a
  // grid of cols columns (default square) on canvas, scale pixels a pixel.
  draw(canvas, result, { cols, scale = 1, pad = 2, rgba = result.rgba } = {}) {
    const { count, width: w, height: h } = result;
    cols = cols || Math.ceil(Math.sqrt(count));
    const rows = Math.ceil(count / cols);
    const grid = document.createElement('canvas');
    grid.width = cols * (w + pad) + pad;
    grid.height = rows * (h + pad) + pad;
    const g = grid.getContext('2d');
    g.fillStyle = '#282828';
    g.fillRect(0, 0, grid.width, grid.height);
    for (let i = 0; i < count; i++) {
      g.putImageData(this.imageData(result, i, rgba), pad + (i % cols) * (w + pad), pad + Math.floor(i / cols) * (h + pad));
    }
    canvas.width = grid.width * scale;
    canvas.height = grid.height * scale;
    const c = canvas.getContext('2d');
    c.imageSmoothingEnabled = false;
    c.drawImage(grid, 0, 0, canvas.width, canvas.height);
  }

  // terminate stops the worker; pending calls fail.
  terminate() {
    this.#fail(new Error('lsgm: the sampler was terminated'));
    this.#worker.terminate();
  }

  #call(op, args, onProgress) {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, op, args });
    });
  }

  #reply(msg) {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    if (msg.progress) {
      if (p.onProgress) p.onProgress(msg.progress);
      return;
    }
    this.#pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value); else p.reject(new Error(msg.error));
  }

  #fail(err) {
    this.#dead = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}

export async function webgpuAvailable() {
  return !!(navigator.gpu && await navigator.gpu.requestAdapter().catch(() => null));
}
