// The demo page: settings, a live denoising view, per-step timing and a gallery.
import { Sampler } from './lsgm.js';
import { Editor } from './lsgm-editor.js';

const $ = (id) => document.getElementById(id);
let sampler = null;
let weightsURL = 'default.lsgm'; // ?model= loads another weights file
// A shipped model without classes of its own comes with a noisy classifier
// that lets it sample one by classifier guidance (models.json names it;
// ?classifier= loads another, and ?classifier= with nothing after it none).
// The default model is class-conditional and needs none.
let classifierURL = '';
let running = false;
let lastGrid = null; // the live grid's result, for sending an image to the editor
const editor = new Editor($('editor'), {
  onDone: () => { document.body.dataset.edits = String(Number(document.body.dataset.edits || 0) + 1); },
});

// The first grid: 36 images where they take about a second (a GPU, or the
// CPU path with the WebAssembly SIMD kernels); 9 on the CPU path without
// them, so it still appears within seconds. A count in the URL or the box wins.
const firstCount = (s) => (s.backend === 'webgpu' || s.simd ? 36 : 9);

function showError(msg) {
  $('error').hidden = !msg;
  $('error').textContent = msg;
}

const mb = (n) => (n / 1e6).toFixed(1) + ' MB';
const mparams = (n) => (n / 1e6).toFixed(2) + 'M parameters';

// load starts a sampler on the chosen backend; run says whether to draw a
// grid once it is ready (the first load does; changing the backend does not).
async function load(run) {
  showError('');
  $('status').textContent = 'Loading the sampler…';
  if (sampler) sampler.terminate();
  sampler = null;
  setRunning(false); // a run of the old sampler ends with it
  $('generate').disabled = true; // until the new one is ready
  let s;
  try {
    s = await Sampler.load({ weights: weightsURL, backend: $('backend').value, classifier: classifierURL || undefined });
  } catch (err) {
    $('status').textContent = 'The sampler could not start.';
    showError(String(err.message || err));
    return;
  }
  sampler = s;
  editor.attach(s);
  const sel = $('sampler');
  const keep = sel.value || sel.dataset.want;
  sel.innerHTML = '';
  for (const name of s.samplers.filter((n) => n !== 'ald')) {
    const o = document.createElement('option');
    o.textContent = name + (s.backend === 'webgpu' && !s.gpuSamplers.includes(name) ? ' (CPU)' : '');
    o.value = name;
    sel.append(o);
  }
  sel.value = keep && s.samplers.includes(keep) ? keep : s.sampler;
  // A class-conditional model gets a class picker and a guidance scale
  // (classifier-free guidance); a model without classes gets them too when
  // a classifier of its latents is loaded (classifier guidance).
  const cls = $('class');
  const keepClass = cls.value || cls.dataset.want || '';
  cls.length = 1;
  const names = s.classes && s.classes.length ? s.classes : s.classifierClasses || [];
  for (const [i, name] of names.entries()) cls.add(new Option(name, String(i)));
  $('classbox').hidden = $('guidancebox').hidden = !names.length;
  $('classbox').title = s.classes && s.classes.length ? 'classifier-free guidance' : 'classifier guidance';
  cls.value = [...cls.options].some((o) => o.value === keepClass) ? keepClass : '';
  if (!$('count').dataset.set) $('count').value = firstCount(s);
  const model = `Model ${s.name} (${mparams(s.parameters)}, ${mb(s.bytes)})`;
  $('status').textContent = s.backend === 'webgpu'
    ? `Ready: sampling on your GPU through WebGPU (${s.adapter}). ${model}.`
    : `Ready: ${s.note || 'sampling on the CPU in WebAssembly.'}${s.simd ? '' : ' ' + s.simdNote + '.'} ${model}.`;
  $('generate').disabled = false;
  if (run) generate();
}

function setRunning(on) {
  running = on;
  $('generate').disabled = on;
  $('cancel').hidden = !on;
  $('cancel').disabled = !on;
}

async function generate() {
  if (!sampler || running) return;
  showError('');
  const opts = {
    sampler: $('sampler').value, nfe: Number($('nfe').value), temperature: Number($('temperature').value),
    seed: $('seed').value.trim(), count: Number($('count').value), preview: true,
  };
  if ($('class').value !== '') {
    opts.class = Number($('class').value);
    opts.guidanceScale = Number($('guidance').value);
  }
  const bad = checkForm(opts);
  if (bad) {
    showError(bad);
    return;
  }
  setRunning(true);
  const s = sampler;
  const body = $('timing').querySelector('tbody');
  body.innerHTML = '';
  $('progress').value = 0;
  const shape = { count: opts.count, width: s.shape[2], height: s.shape[1] };
  const t0 = performance.now();
  try {
    const r = await s.sample(opts, (p) => {
      $('progress').value = p.done;
      const step = p.steps ? `${p.step}/${p.steps}` : `${p.step}`;
      body.insertAdjacentHTML('beforeend', `<tr><td>${step}</td><td>${p.t.toFixed(4)}</td><td>${p.ms.toFixed(1)}</td></tr>`);
      if (p.preview) s.draw($('live'), shape, { rgba: p.preview, scale: 2 });
    });
    const total = performance.now() - t0;
    s.draw($('live'), r, { scale: 2 });
    lastGrid = r;
    $('progress').value = 1;
    $('status').textContent = `${r.count} images, ${r.sampler} at ${r.nfe} NFE, seed ${r.seed}: ${total.toFixed(0)} ms on ${r.backend === 'webgpu' ? 'the GPU (WebGPU)' : r.simd ? 'the CPU (WebAssembly SIMD)' : 'the CPU (WebAssembly, plain Go)'}, ${(r.ms / r.nfe).toFixed(1)} ms per NFE.` + (r.fallback ? ' ' + r.fallback : '');
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    s.draw(c, r, { scale: 2 });
    fig.append(c);
    const cap = document.createElement('figcaption');
    cap.textContent = `${r.class ? `${r.class} (${r.guidance === 'classifier' ? 'classifier ' : ''}guidance ${r.guidanceScale}), ` : ''}${r.sampler}, ${r.nfe} NFE, T=${opts.temperature}, seed ${r.seed}`;
    fig.append(cap);
    $('gallery').prepend(fig);
    document.body.dataset.done = String(Number(document.body.dataset.done || 0) + 1);
  } catch (err) {
    if (err.message === 'lsgm: cancelled') {
      $('status').textContent = `Cancelled after ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
      document.body.dataset.cancelled = String(Number(document.body.dataset.cancelled || 0) + 1);
    } else {
      showError(String(err.message || err));
    }
  } finally {
    if (s === sampler) setRunning(false);
  }
}

// checkForm names the first setting in the boxes that cannot be sent as it
// is; the sampler checks the ranges and says which one is out.
function checkForm(o) {
  for (const [id, label] of [['nfe', 'NFE'], ['temperature', 'Temperature'], ['count', 'Count']]) {
    if ($(id).value.trim() === '') return `${label} is empty.`;
  }
  if (!/^\d+$/.test(o.seed)) return `Seed "${o.seed}" is not a whole number of at least 0.`;
  return '';
}

// Settings can come in the URL (?sampler=heun&nfe=20&seed=3&count=16&temperature=0.9&backend=cpu),
// so a grid can be shared as a link. A value that is not valid is named in
// an error and not used: the page waits for Generate instead of drawing a
// grid with settings nobody asked for.
function readURL() {
  const params = new URLSearchParams(location.search);
  const bad = [];
  const whole = (v) => /^\d+$/.test(v);
  const checks = {
    nfe: [(v) => whole(v) && +v >= 1 && +v <= 10000, 'a whole number from 1 to 10000'],
    count: [(v) => whole(v) && +v >= 1 && +v <= 4096, 'a whole number from 1 to 4096'],
    seed: [whole, 'a whole number of at least 0'],
    temperature: [(v) => v.trim() !== '' && +v > 0 && +v <= 10, 'a number in (0, 10]'],
    backend: [(v) => ['auto', 'gpu', 'cpu'].includes(v), 'auto, gpu or cpu'],
    guidance: [(v) => v.trim() !== '' && +v >= 0 && +v <= 8, 'a number from 0 to 8'],
  };
  for (const [key, [ok, want]] of Object.entries(checks)) {
    if (!params.has(key)) continue;
    const v = params.get(key);
    if (!ok(v)) {
      bad.push(`?${key}=${v} (want ${want})`);
      continue;
    }
    $(key).value = v;
    if (key === 'count') $('count').dataset.set = '1';
  }
  if (params.has('sampler')) $('sampler').dataset.want = params.get('sampler');
  if (params.has('class')) $('class').dataset.want = params.get('class');
  if (params.has('model')) {
    // A shipped model's id (models.json) picks it with its classifier;
    // anything else is a weights URL, without the shipped classifier (it
    // reads the shipped model's latents only).
    const m = shipped.find((e) => e.id === params.get('model'));
    if (m) {
      pickModel(m);
    } else {
      weightsURL = new URL(params.get('model'), location.href).href;
      classifierURL = '';
      $('model').value = '';
    }
  }
  if (params.has('classifier')) classifierURL = params.get('classifier') ? new URL(params.get('classifier'), location.href).href : '';
  $('guidanceout').value = $('guidance').value;
  for (const key of params.keys()) {
    if (!(key in checks) && !['sampler', 'class', 'model', 'classifier'].includes(key)) bad.push(`?${key} (not a setting: sampler, nfe, temperature, seed, count, backend, class, guidance, model, classifier)`);
  }
  return bad;
}

// The sampler name and the class can only be checked against the model,
// once it is loaded. A class is a name (any case) or an index.
function checkSampler() {
  const bad = [];
  const want = $('sampler').dataset.want;
  if (want && sampler && !sampler.samplers.includes(want)) {
    bad.push(`?sampler=${want} (want one of ${sampler.samplers.join(', ')})`);
  }
  const cls = $('class').dataset.want;
  if (cls && sampler) {
    const names = sampler.classes && sampler.classes.length ? sampler.classes : sampler.classifierClasses || [];
    const i = names.findIndex((n) => n.toLowerCase() === cls.toLowerCase());
    const idx = i >= 0 ? i : /^\d+$/.test(cls) && +cls < names.length ? +cls : -1;
    if (idx < 0) bad.push(names.length ? `?class=${cls} (want one of ${names.join(', ')})` : `?class=${cls} (this model has no classes)`);
    else $('class').value = String(idx);
    delete $('class').dataset.want;
  }
  return bad;
}

// A click on an image of the live grid puts it on the editor's canvas.
$('live').onclick = (e) => {
  const r = lastGrid;
  if (!r || !sampler) return;
  const cols = Math.ceil(Math.sqrt(r.count)), pad = 2, c = $('live');
  const rect = c.getBoundingClientRect();
  const x = ((e.clientX - rect.left) / rect.width) * c.width / 2, y = ((e.clientY - rect.top) / rect.height) * c.height / 2;
  const col = Math.floor((x - pad) / (r.width + pad)), row = Math.floor((y - pad) / (r.height + pad));
  const i = row * cols + col;
  if (col < 0 || col >= cols || i < 0 || i >= r.count) return;
  editor.setImage(sampler.imageData(r, i));
  $('editor').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
};
$('live').title = 'click an image to edit it below';
window.lsgmEditor = editor; // for the browser tests

$('generate').onclick = generate;
$('cancel').onclick = () => sampler && sampler.cancel();
$('reseed').onclick = () => { $('seed').value = Math.floor(Math.random() * 1e9); generate(); };
$('backend').onchange = () => load(false);
$('count').oninput = () => { $('count').dataset.set = '1'; };
$('guidance').oninput = () => { $('guidanceout').value = $('guidance').value; };

// The shipped models (models.json, written by the site build): a picker
// when there is more than one. A fetch that fails leaves the default alone.
let shipped = [];
async function readModels() {
  try {
    const r = await fetch('models.json');
    if (r.ok) shipped = await r.json();
  } catch (e) { /* the default model only */ }
  if (!Array.isArray(shipped)) shipped = [];
  const sel = $('model');
  for (const m of shipped) sel.add(new Option(m.title, m.id));
  if (shipped.length) pickModel(shipped[0]); // the default, with its classifier (if it has one)
  sel.add(new Option('(a weights file from the URL)', ''));
  sel.options[sel.length - 1].hidden = true;
  $('modelbox').hidden = shipped.length < 2;
}

function pickModel(m) {
  weightsURL = m.file;
  classifierURL = m.classifier || '';
  $('model').value = m.id;
}

$('model').onchange = () => {
  const m = shipped.find((e) => e.id === $('model').value);
  if (!m) return;
  pickModel(m);
  $('class').value = '';
  load(true);
};

(async () => {
  await readModels();
  const bad = readURL();
  await load(false);
  bad.push(...checkSampler());
  if (bad.length) {
    showError(`Settings in the URL that were not used: ${bad.join('; ')}. Fix them in the boxes and press Generate.`);
    if (sampler) $('status').textContent += ' Waiting for Generate.';
    return;
  }
  generate();
})();
