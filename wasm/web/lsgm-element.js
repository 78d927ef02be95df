// <lsgm-sampler>: the sampler as an element any page can embed with one tag.
//
//   <script type="module" src="https://your.host/lsgm/lsgm-element.js"></script>
//   <lsgm-sampler src="https://your.host/lsgm/default.lsgm" count="16"
//                 sampler="dpmpp2m" nfe="10" seed="1" temperature="1"></lsgm-sampler>
//
// Attributes: src (weights URL; default: default.lsgm beside this script),
// count, sampler, nfe, seed, temperature, backend (auto, gpu, cpu), scale
// (pixels a pixel, default 3), cols, and for a class-conditional model
// class-label (a class by name or index; HTML's own class attribute is the
// page's styling) with guidance-scale (classifier-free guidance, 0 to 20,
// default 1); classifier (a noisy classifier's URL, e.g.
// fashion-uncond-noisy.lsgmc for the shipped unconditional model) lets any
// model sample class-label by classifier guidance, and guidance ("cfg" or
// "classifier") picks between the two. It shows the grid with a live denoising
// view, a Generate button (Cancel while it runs), progress and the backend,
// and any error in plain words, naming the attribute and its value.
// With mode="edit" it shows an editor instead (lsgm-editor.js): a drawing
// canvas with pen and eraser, "Make it real" (SDEdit at the strength
// attribute's value, default 0.9, changeable with a slider) and "Fill"
// (inpainting of the erased pixels); count, seed, nfe and jumps (inpainting's
// resampling, default 10) apply to the edits.
// Events: lsgm-ready, lsgm-done (detail: the result), lsgm-error.
//
// The script may come from another host than the page's: that host must
// send Access-Control-Allow-Origin for lsgm-element.js, lsgm.js,
// lsgm-worker.js, wasm_exec.js, lsgm.wasm and the weights (see the README).
import { Sampler } from './lsgm.js';
import { Editor } from './lsgm-editor.js';

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
  static observedAttributes = ['src', 'backend', 'mode', 'classifier'];
  #sampler = null; #loading = null; #busy = false; #editor = null;

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
    this.button.onclick = () => (this.#busy ? this.cancel() : this.generate());
  }

  connectedCallback() { this.#load(); }
  disconnectedCallback() { if (this.#sampler) this.#sampler.terminate(); this.#sampler = null; }
  attributeChangedCallback(name, old, val) { if (old !== null && old !== val && this.isConnected) this.#load(); }

  // #num reads a numeric attribute; a value that is not a number is an
  // error naming the attribute and the value as written.
  #num(name, def) {
    const v = this.getAttribute(name);
    if (v === null || v.trim() === '') return def;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`lsgm-sampler: ${name}="${v}" is not a number`);
    return n;
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
    const clf = this.getAttribute('classifier');
    const loading = this.#loading = Sampler.load({ weights: src, backend: this.getAttribute('backend') || 'auto', classifier: clf ? new URL(clf, document.baseURI).href : undefined });
    try {
      const s = await loading;
      if (loading !== this.#loading) { s.terminate(); return; }
      this.#sampler = s;
      this.button.disabled = false;
      const mode = this.getAttribute('mode') || 'sample';
      if (!['sample', 'edit'].includes(mode)) throw new Error(`lsgm-sampler: mode="${mode}": want sample or edit`);
      const editing = mode === 'edit';
      this.canvas.hidden = this.button.parentElement.hidden = editing;
      if (editing) {
        if (!this.#editor) {
          const seed = this.getAttribute('seed');
          if (seed !== null && seed.trim() !== '' && !/^\d+$/.test(seed.trim())) throw new Error(`lsgm-sampler: seed="${seed}" is not a whole number in [0, 2^64-1]`);
          const strength = this.#num('strength', 0.9);
          if (!(strength > 0 && strength <= 1)) throw new Error(`lsgm-sampler: strength="${this.getAttribute('strength')}" out of range (0, 1]`);
          this.#editor = new Editor(this.shadowRoot.querySelector('.box'), {
            count: this.#num('count', 8), strength, scale: this.#num('scale', 8),
            nfe: this.#num('nfe', undefined), jumps: this.#num('jumps', undefined),
            seed: seed !== null && seed.trim() !== '' ? (seed.trim().length > 15 ? seed.trim() : Number(seed)) : undefined,
            onDone: (r) => this.dispatchEvent(new CustomEvent('lsgm-done', { detail: r })),
            onError: (msg) => this.dispatchEvent(new CustomEvent('lsgm-error', { detail: msg })),
          });
        }
        this.#editor.attach(s);
        this.status.textContent = `Ready to edit on ${s.backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU'}${s.note ? ` · ${s.note}` : ''}`;
        this.dispatchEvent(new CustomEvent('lsgm-ready', { detail: { backend: s.backend, note: s.note } }));
        return;
      }
      this.dispatchEvent(new CustomEvent('lsgm-ready', { detail: { backend: s.backend, note: s.note } }));
      await this.generate();
    } catch (err) {
      if (loading === this.#loading) this.#error(err);
    }
  }

  get sampler() { return this.#sampler; }

  // editor is the edit mode's Editor (null in sample mode).
  get editor() { return this.#editor; }

  // cancel stops a running generate; the grid keeps its last preview.
  cancel() { if (this.#sampler) this.#sampler.cancel(); }

  // generate samples with the element's attributes and draws the grid.
  async generate() {
    const s = this.#sampler;
    if (!s || this.#busy) return null;
    this.#busy = true;
    this.button.textContent = 'Cancel';
    this.status.className = 'status';
    const t0 = performance.now();
    try {
      const opts = {
        count: this.#num('count', 16), nfe: this.#num('nfe', undefined),
        sampler: this.getAttribute('sampler') || undefined,
        temperature: this.#num('temperature', 1), preview: true,
      };
      const label = this.getAttribute('class-label');
      if (label !== null && label.trim() !== '') {
        opts.class = label.trim();
        opts.guidanceScale = this.#num('guidance-scale', 1);
        const kind = this.getAttribute('guidance');
        if (kind) opts.guidance = kind;
      }
      const seed = this.getAttribute('seed');
      if (seed === null || seed.trim() === '') opts.seed = Math.floor(Math.random() * 2 ** 32);
      else if (/^\d+$/.test(seed.trim())) opts.seed = seed.trim().length > 15 ? seed.trim() : Number(seed);
      else throw new Error(`lsgm-sampler: seed="${seed}" is not a whole number in [0, 2^64-1]`);
      const view = { cols: this.#num('cols', 0), scale: this.#num('scale', 3) };
      if (!Number.isInteger(view.cols) || view.cols < 0) throw new Error(`lsgm-sampler: cols="${this.getAttribute('cols')}" must be a whole number >= 0`);
      if (!(view.scale > 0 && view.scale <= 32)) throw new Error(`lsgm-sampler: scale="${this.getAttribute('scale')}" out of range (0, 32]`);
      const r = await s.sample(opts, (p) => {
        this.bar.value = p.done;
        const step = p.steps ? `step ${p.step}/${p.steps}` : `step ${p.step}, t=${p.t.toFixed(3)}`;
        this.status.textContent = `${step} · ${p.ms.toFixed(0)} ms/step · ${s.backend}`;
        if (p.preview) s.draw(this.canvas, { count: opts.count, width: s.shape[2], height: s.shape[1] }, { ...view, rgba: p.preview });
      });
      s.draw(this.canvas, r, view);
      this.bar.value = 1;
      this.status.textContent = `${r.count} images${r.class ? ` of ${r.class} (${r.guidance === 'classifier' ? 'classifier ' : ''}guidance ${r.guidanceScale})` : ''} · ${r.sampler}, ${r.nfe} NFE · seed ${r.seed} · ${(performance.now() - t0).toFixed(0)} ms on ${r.backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU'}` + (r.fallback ? ` · ${r.fallback}` : '');
      this.dispatchEvent(new CustomEvent('lsgm-done', { detail: r }));
      return r;
    } catch (err) {
      if (err.message === 'lsgm: cancelled') {
        this.status.textContent = `cancelled after ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      } else {
        this.#error(err);
      }
      return null;
    } finally {
      this.#busy = false;
      this.button.textContent = 'Generate';
      this.button.disabled = false;
    }
  }
}

if (!customElements.get('lsgm-sampler')) customElements.define('lsgm-sampler', LSGMSampler);
