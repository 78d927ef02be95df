// <lsgm-sampler>: the sampler as an element any page can embed with one tag.
//
//   <script type="module" src="https://your.host/lsgm/lsgm-element.js"></script>
//   <lsgm-sampler src="https://your.host/lsgm/default.lsgm" count="16"
//                 sampler="dpmpp2m" nfe="10" seed="1" temperature="1"></lsgm-sampler>
//
// Attributes: src (weights URL; default: default.lsgm beside this script),
// count, sampler, nfe, seed, temperature, backend (auto, gpu, cpu), scale
// (pixels a pixel, default 3), cols. It shows the grid with a live denoising
// view, a Generate button, progress and the backend, and any error in plain
// words. Events: lsgm-ready, lsgm-done (detail: the result), lsgm-error.
import { Sampler } from './lsgm.js';

const here = new URL('.', import.meta.url);

const style = `
:host { display: inline-block; font: 13px system-ui, sans-serif; color: #222; }
.box { display: inline-flex; flex-direction: column; gap: 6px; padding: 8px; border: 1px solid #ccc; border-radius: 6px; background: #fafafa; }
canvas { image-rendering: pixelated; background: #282828; max-width: 100%; }
.bar { display: flex; gap: 8px; align-items: center; }
progress { flex: 1; }
.status { min-height: 1.2em; }
.error { color: #b00020; white-space: pre-wrap; }
button { font: inherit; padding: 3px 12px; }
`;

class LSGMSampler extends HTMLElement {
  static observedAttributes = ['src', 'backend'];
  #sampler = null; #loading = null; #busy = false;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${style}</style><div class="box" part="box">
      <canvas part="canvas"></canvas>
      <div class="bar"><button part="button" disabled>Generate</button><progress max="1" value="0"></progress></div>
      <div class="status" part="status">Loading…</div></div>`;
    this.canvas = root.querySelector('canvas');
    this.button = root.querySelector('button');
    this.bar = root.querySelector('progress');
    this.status = root.querySelector('.status');
    this.button.onclick = () => this.generate();
  }

  connectedCallback() { this.#load(); }
  disconnectedCallback() { if (this.#sampler) this.#sampler.terminate(); this.#sampler = null; }
  attributeChangedCallback(name, old, val) { if (old !== null && old !== val && this.isConnected) this.#load(); }

  #num(name, def) {
    const v = this.getAttribute(name);
    return v === null || v === '' ? def : Number(v);
  }

  #error(err) {
    this.status.className = 'status error';
    this.status.textContent = String(err.message || err);
    this.dispatchEvent(new CustomEvent('lsgm-error', { detail: this.status.textContent }));
  }

  async #load() {
    if (this.#sampler) this.#sampler.terminate();
    this.#sampler = null;
    this.button.disabled = true;
    this.status.className = 'status';
    this.status.textContent = 'Loading…';
    const src = this.getAttribute('src') || new URL('default.lsgm', here).href;
    const loading = this.#loading = Sampler.load({ weights: src, backend: this.getAttribute('backend') || 'auto' });
    try {
      const s = await loading;
      if (loading !== this.#loading) { s.terminate(); return; }
      this.#sampler = s;
      this.button.disabled = false;
      this.dispatchEvent(new CustomEvent('lsgm-ready', { detail: { backend: s.backend, note: s.note } }));
      await this.generate();
    } catch (err) {
      if (loading === this.#loading) this.#error(err);
    }
  }

  get sampler() { return this.#sampler; }

  // generate samples with the element's attributes and draws the grid.
  async generate() {
    const s = this.#sampler;
    if (!s || this.#busy) return null;
    this.#busy = true;
    this.button.disabled = true;
    this.status.className = 'status';
    const opts = {
      count: this.#num('count', 16), nfe: this.#num('nfe', undefined),
      sampler: this.getAttribute('sampler') || undefined,
      temperature: this.#num('temperature', 1), preview: true,
    };
    const seed = this.getAttribute('seed');
    opts.seed = seed === null ? Math.floor(Math.random() * 2 ** 32) : (/^\d+$/.test(seed) && seed.length > 15 ? seed : Number(seed));
    const view = { cols: this.#num('cols', 0), scale: this.#num('scale', 3) };
    const t0 = performance.now();
    try {
      const r = await s.sample(opts, (p) => {
        this.bar.value = p.step / p.steps;
        this.status.textContent = `step ${p.step}/${p.steps} · ${p.ms.toFixed(0)} ms/step · ${s.backend}`;
        if (p.preview) s.draw(this.canvas, { count: opts.count, width: s.shape[2], height: s.shape[1] }, { ...view, rgba: p.preview });
      });
      s.draw(this.canvas, r, view);
      this.bar.value = 1;
      this.status.textContent = `${r.count} images · ${r.sampler}, ${r.nfe} NFE · seed ${r.seed} · ${(performance.now() - t0).toFixed(0)} ms on ${r.backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU'}` + (r.fallback ? ` · ${r.fallback}` : '');
      this.dispatchEvent(new CustomEvent('lsgm-done', { detail: r }));
      return r;
    } catch (err) {
      this.#error(err);
      return null;
    } finally {
      this.#busy = false;
      this.button.disabled = false;
    }
  }
}

if (!customElements.get('lsgm-sampler')) customElements.define('lsgm-sampler', LSGMSampler);
