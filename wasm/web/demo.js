// The demo page: settings, a live denoising view, per-step timing and a gallery.
import { Sampler } from './lsgm.js';

const $ = (id) => document.getElementById(id);
let sampler = null;

function showError(err) {
  $('error').hidden = false;
  $('error').textContent = String(err.message || err);
}

async function load() {
  $('generate').disabled = true;
  $('error').hidden = true;
  $('status').textContent = 'Loading the sampler…';
  if (sampler) sampler.terminate();
  sampler = null;
  try {
    sampler = await Sampler.load({ weights: 'default.lsgm', backend: $('backend').value });
  } catch (err) {
    $('status').textContent = 'The sampler could not start.';
    showError(err);
    return;
  }
  const sel = $('sampler');
  const keep = sel.value;
  sel.innerHTML = '';
  for (const name of sampler.samplers.filter((n) => n !== 'ald')) {
    const o = document.createElement('option');
    o.value = o.textContent = name + (sampler.backend === 'webgpu' && !sampler.gpuSamplers.includes(name) ? ' (CPU)' : '');
    o.value = name;
    sel.append(o);
  }
  sel.value = keep || sel.dataset.want || sampler.sampler;
  if (!sel.value) sel.value = sampler.sampler;
  $('status').textContent = sampler.backend === 'webgpu'
    ? `Ready: sampling on your GPU through WebGPU. Model ${sampler.name}, trained ${sampler.steps} steps on ${sampler.dataset}.`
    : `Ready: sampling on the CPU in WebAssembly. ${sampler.note || ''}`;
  $('generate').disabled = false;
  generate();
}

async function generate() {
  if (!sampler) return;
  $('generate').disabled = true;
  $('error').hidden = true;
  const opts = {
    sampler: $('sampler').value, nfe: Number($('nfe').value), temperature: Number($('temperature').value),
    seed: Number($('seed').value), count: Number($('count').value), preview: true,
  };
  const body = $('timing').querySelector('tbody');
  body.innerHTML = '';
  $('progress').value = 0;
  const shape = { count: opts.count, width: sampler.shape[2], height: sampler.shape[1] };
  const t0 = performance.now();
  try {
    const r = await sampler.sample(opts, (p) => {
      $('progress').value = p.step / p.steps;
      body.insertAdjacentHTML('beforeend', `<tr><td>${p.step}/${p.steps}</td><td>${p.t.toFixed(4)}</td><td>${p.ms.toFixed(1)}</td></tr>`);
      if (p.preview) sampler.draw($('live'), shape, { rgba: p.preview, scale: 2 });
    });
    const total = performance.now() - t0;
    sampler.draw($('live'), r, { scale: 2 });
    $('progress').value = 1;
    $('status').textContent = `${r.count} images, ${r.sampler} at ${r.nfe} NFE, seed ${r.seed}: ${total.toFixed(0)} ms on ${r.backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU (WebAssembly)'}, ${(r.ms / r.nfe).toFixed(1)} ms per NFE.` + (r.fallback ? ' ' + r.fallback : '');
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    sampler.draw(c, r, { scale: 2 });
    fig.append(c);
    fig.insertAdjacentHTML('beforeend', `<figcaption>${r.sampler}, ${r.nfe} NFE, T=${opts.temperature}, seed ${r.seed}</figcaption>`);
    $('gallery').prepend(fig);
    document.body.dataset.done = String(Number(document.body.dataset.done || 0) + 1);
  } catch (err) {
    showError(err);
  } finally {
    $('generate').disabled = false;
  }
}

// Settings can come in the URL (?sampler=heun&nfe=20&seed=3&count=16&temperature=0.9&backend=cpu),
// so a grid can be shared as a link.
const params = new URLSearchParams(location.search);
for (const key of ['nfe', 'temperature', 'seed', 'count', 'backend']) {
  if (params.has(key)) $(key).value = params.get(key);
}
if (params.has('sampler')) $('sampler').dataset.want = params.get('sampler');

$('generate').onclick = generate;
$('reseed').onclick = () => { $('seed').value = Math.floor(Math.random() * 1e9); generate(); };
$('backend').onchange = load;
load();
