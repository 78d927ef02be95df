// lsgm-editor.js: an editing panel for a loaded Sampler (lsgm.js), shared by
// the demo page and the <lsgm-sampler mode="edit"> element.
//
//   import { Editor } from './lsgm-editor.js';
//   const ed = new Editor(container, { count: 8, strength: 0.8 });
//   ed.attach(sampler);                  // a loaded Sampler
//   ed.setImage(sampler.imageData(r, 3)); // a sample, into the canvas
//
// The visitor draws at the model's resolution, shown large: the pen paints
// white, the eraser paints black and marks the pixels to fill. "Make it
// real" runs SDEdit on the drawing at the strength slider's value (the
// time its latent is diffused to: near 0 keeps it, 1 forgets it); "Fill"
// inpaints the erased pixels and keeps the rest. A click on a result puts
// it on the canvas. Options: count (edits a run, default 8), strength
// (default 0.9), scale (screen pixels a pixel, default 10), seed (default:
// a new one a run; the seed property changes it), nfe and jumps (the
// sampler's defaults: the model's for SDEdit, ddpm, 20 steps of 5 jumps
// for inpainting), onDone(result), onError(message), onStatus(text).

const style = `
.lsgm-editor { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.lsgm-editor .pad { touch-action: none; cursor: crosshair; image-rendering: pixelated; background: #000; border: 1px solid #888; }
.lsgm-editor .tools { display: flex; flex-direction: column; gap: 8px; min-width: 220px; }
.lsgm-editor .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.lsgm-editor .tool[aria-pressed=true] { background: #333; color: #fff; }
.lsgm-editor .results { image-rendering: pixelated; background: #282828; cursor: pointer; max-width: 100%; }
.lsgm-editor .error { color: #b00020; white-space: pre-wrap; }
`;

export class Editor {
  seed; // a fixed seed for the edits, or undefined for a new one each run
  #s = null; #w = 28; #h = 28; #px; #erased; #tool = 'pen'; #down = false; #busy = false; #last = null; #opts;

  constructor(container, opts = {}) {
    this.#opts = { count: 8, strength: 0.9, scale: 10, ...opts };
    this.seed = this.#opts.seed;
    const root = document.createElement('div');
    root.className = 'lsgm-editor';
    root.innerHTML = `<style>${style}</style>
      <canvas class="pad" aria-label="drawing canvas"></canvas>
      <div class="tools">
        <div class="row"><button type="button" class="tool" data-tool="pen" aria-pressed="true">Pen</button>
          <button type="button" class="tool" data-tool="eraser" aria-pressed="false">Eraser</button>
          <label>Size <input class="size" type="range" min="0.5" max="4" step="0.5" value="1.5"></label></div>
        <div class="row"><label>Strength <input class="strength" type="range" min="0.05" max="1" step="0.05"></label> <output class="strengthout"></output></div>
        <div class="row"><button type="button" class="real" disabled>Make it real</button>
          <button type="button" class="fill" disabled title="inpaint the erased pixels">Fill</button>
          <button type="button" class="clear">Clear</button>
          <button type="button" class="stop" hidden>Cancel</button></div>
        <progress max="1" value="0"></progress>
        <div class="status" role="status"></div>
        <div class="error" role="alert"></div>
      </div>
      <canvas class="results" title="a click puts an edit on the canvas"></canvas>`;
    container.append(root);
    const q = (c) => root.querySelector(c);
    this.pad = q('.pad'); this.results = q('.results');
    this.strength = q('.strength'); this.strength.value = this.#opts.strength;
    q('.strengthout').value = this.strength.value;
    this.strength.oninput = () => { q('.strengthout').value = this.strength.value; };
    this.size = q('.size');
    this.realButton = q('.real'); this.fillButton = q('.fill'); this.stopButton = q('.stop');
    this.bar = q('progress'); this.statusLine = q('.status'); this.errorLine = q('.error');
    for (const b of root.querySelectorAll('.tool')) {
      b.onclick = () => {
        this.#tool = b.dataset.tool;
        for (const o of root.querySelectorAll('.tool')) o.setAttribute('aria-pressed', String(o === b));
      };
    }
    this.realButton.onclick = () => this.makeReal();
    this.fillButton.onclick = () => this.fill();
    this.stopButton.onclick = () => this.#s && this.#s.cancel();
    q('.clear').onclick = () => this.clear();
    this.pad.onpointerdown = (e) => { this.#down = true; this.pad.setPointerCapture(e.pointerId); this.#paint(e); };
    this.pad.onpointermove = (e) => { if (this.#down) this.#paint(e); };
    this.pad.onpointerup = this.pad.onpointercancel = () => { this.#down = false; };
    this.results.onclick = (e) => this.#pick(e);
    this.#resize(28, 28);
  }

  // attach sets the sampler the editor runs on (the image keeps its pixels
  // when the size stays).
  attach(sampler) {
    this.#s = sampler;
    const [, h, w] = sampler.shape;
    if (w !== this.#w || h !== this.#h) this.#resize(w, h);
    this.realButton.disabled = this.fillButton.disabled = false;
  }

  #resize(w, h) {
    this.#w = w; this.#h = h;
    this.#px = new Uint8Array(w * h);
    this.#erased = new Uint8Array(w * h);
    this.pad.width = w; this.pad.height = h;
    this.pad.style.width = `${w * this.#opts.scale}px`;
    this.pad.style.height = `${h * this.#opts.scale}px`;
    this.#redraw();
  }

  // guide is the drawing as grey bytes, row by row; mask the erased pixels.
  get guide() { return this.#px.slice(); }
  get mask() { return this.#erased.slice(); }

  // setImage puts an image on the canvas: ImageData (its grey level: the
  // red channel) or width x height grey bytes. Nothing is marked erased.
  setImage(img) {
    const src = img instanceof ImageData ? img.data : img;
    const step = img instanceof ImageData ? 4 : 1;
    if (src.length !== this.#w * this.#h * step) throw new Error(`lsgm: an image of ${src.length / step} pixels for a ${this.#w}x${this.#h} canvas`);
    for (let i = 0; i < this.#px.length; i++) this.#px[i] = src[i * step];
    this.#erased.fill(0);
    this.#redraw();
  }

  clear() {
    this.#px.fill(0);
    this.#erased.fill(0);
    this.#redraw();
  }

  #paint(e) {
    const r = this.pad.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * this.#w, y = ((e.clientY - r.top) / r.height) * this.#h;
    const rad = Number(this.size.value);
    for (let j = Math.floor(y - rad - 1); j <= y + rad + 1; j++) {
      for (let i = Math.floor(x - rad - 1); i <= x + rad + 1; i++) {
        if (i < 0 || j < 0 || i >= this.#w || j >= this.#h) continue;
        const d = Math.hypot(i + 0.5 - x, j + 0.5 - y);
        const a = Math.max(0, Math.min(1, rad + 0.5 - d)); // a soft edge
        if (a <= 0) continue;
        const k = j * this.#w + i;
        if (this.#tool === 'pen') {
          this.#px[k] = Math.max(this.#px[k], Math.round(255 * a));
        } else {
          this.#px[k] = Math.round(this.#px[k] * (1 - a));
          if (a >= 0.5) this.#erased[k] = 1;
        }
      }
    }
    this.#redraw();
  }

  #redraw() {
    const img = new ImageData(this.#w, this.#h);
    for (let k = 0; k < this.#px.length; k++) {
      const v = this.#px[k];
      // erased pixels show a dark red tint: they are what Fill fills
      img.data.set(this.#erased[k] ? [Math.max(v, 70), v * 0.6, v * 0.6, 255] : [v, v, v, 255], 4 * k);
    }
    this.pad.getContext('2d').putImageData(img, 0, 0);
  }

  // makeReal runs SDEdit on the drawing; fill inpaints its erased pixels.
  // Both resolve with the result (null when cancelled or refused).
  makeReal() { return this.#run({ guide: this.guide, strength: Number(this.strength.value) }, 'made real'); }

  fill() {
    if (!this.#erased.some((v) => v)) {
      this.#error('Nothing is erased: erase the part to fill first.');
      return Promise.resolve(null);
    }
    return this.#run({ guide: this.guide, mask: this.mask }, 'filled');
  }

  async #run(edit, what) {
    const s = this.#s;
    if (!s || this.#busy) return null;
    this.#busy = true;
    this.#error('');
    this.realButton.disabled = this.fillButton.disabled = true;
    this.stopButton.hidden = false;
    this.bar.value = 0;
    const seed = this.seed ?? Math.floor(Math.random() * 2 ** 32);
    const opts = { count: this.#opts.count, seed, edit, preview: false };
    if (this.#opts.nfe) opts.nfe = this.#opts.nfe;
    if (this.#opts.jumps && edit.mask) edit.jumps = this.#opts.jumps;
    const t0 = performance.now();
    try {
      const r = await s.sample(opts, (p) => {
        this.bar.value = p.done;
        this.statusLine.textContent = `step ${p.step}/${p.steps}`;
      });
      this.#last = r;
      s.draw(this.results, r, { cols: Math.min(r.count, 4), scale: 4 });
      this.bar.value = 1;
      const known = r.knownError !== undefined ? `, known pixels kept (the decoder had them within ${(255 * r.knownError).toFixed(1)} grey levels)` : '';
      this.statusLine.textContent = `${r.count} ${what}${edit.strength ? ` at strength ${edit.strength}` : ''}${known} · ${r.sampler}, ${r.nfe} NFE · seed ${r.seed} · ${(performance.now() - t0).toFixed(0)} ms on ${r.backend === 'webgpu' ? 'the GPU' : 'the CPU'}${r.fallback ? ' · ' + r.fallback : ''}`;
      if (this.#opts.onStatus) this.#opts.onStatus(this.statusLine.textContent);
      if (this.#opts.onDone) this.#opts.onDone(r);
      return r;
    } catch (err) {
      if (err.message === 'lsgm: cancelled') this.statusLine.textContent = 'cancelled';
      else this.#error(String(err.message || err));
      return null;
    } finally {
      this.#busy = false;
      this.realButton.disabled = this.fillButton.disabled = false;
      this.stopButton.hidden = true;
    }
  }

  #error(msg) {
    this.errorLine.textContent = msg;
    if (msg && this.#opts.onError) this.#opts.onError(msg);
  }

  // #pick puts the clicked result on the canvas.
  #pick(e) {
    const r = this.#last;
    if (!r) return;
    const cols = Math.min(r.count, 4), pad = 2;
    const rect = this.results.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * this.results.width / 4;
    const y = ((e.clientY - rect.top) / rect.height) * this.results.height / 4;
    const c = Math.floor((x - pad) / (r.width + pad)), row = Math.floor((y - pad) / (r.height + pad));
    const i = row * cols + c;
    if (c >= 0 && c < cols && i >= 0 && i < r.count) this.setImage(this.#s.imageData(r, i));
  }
}
