// The benchmark page: ms per NFE per backend and batch, in this browser.
import { Sampler } from './lsgm.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const list = (key, def) => (params.get(key) || def).split(',').map((s) => s.trim()).filter(Boolean);

function fail(msg) {
  $('error').hidden = false;
  $('error').textContent = msg;
  $('status').textContent = 'Stopped.';
  document.body.dataset.done = 'error';
}

// kernelTable shows each WebGPU launch's time alone at batch n, the
// slowest first, with its share of its network's total.
function kernelTable(n, ks) {
  const total = {};
  for (const k of ks) total[k.net] = (total[k.net] || 0) + k.ms;
  const h = document.createElement('h2');
  h.textContent = `WebGPU launches at batch ${n}, each alone: score network ${(total.score || 0).toFixed(1)} ms, decoder ${(total.decoder || 0).toFixed(1)} ms`;
  const t = document.createElement('table');
  t.className = 'kernels';
  t.dataset.batch = String(n);
  t.innerHTML = '<thead><tr><th>net</th><th>node</th><th>kernel</th><th>ms</th><th>share</th></tr></thead>';
  const tb = document.createElement('tbody');
  for (const k of [...ks].sort((a, b) => b.ms - a.ms)) {
    const row = document.createElement('tr');
    row.dataset.ms = String(k.ms);
    for (const v of [k.net, k.node, k.kernel, k.ms.toFixed(2), `${(100 * k.ms / total[k.net]).toFixed(1)}%`]) {
      const td = document.createElement('td');
      td.textContent = v;
      row.append(td);
    }
    tb.append(row);
  }
  t.append(tb);
  $('kernels').append(h, t);
}

async function run() {
  const backends = list('backends', 'cpu,gpu');
  const batches = list('batches', '1,4,16,64').map(Number);
  const nfe = Number(params.get('nfe') || 10);
  const runs = Number(params.get('runs') || 3);
  const bad = backends.filter((b) => !['cpu', 'gpu'].includes(b));
  if (bad.length) return fail(`?backends: ${bad.join(', ')} (want cpu and/or gpu)`);
  if (!batches.every((n) => Number.isInteger(n) && n >= 1 && n <= 256)) return fail(`?batches=${params.get('batches')} (want whole numbers from 1 to 256)`);
  if (!(Number.isInteger(nfe) && nfe >= 2 && nfe <= 1000)) return fail(`?nfe=${params.get('nfe')} (want a whole number from 2 to 1000)`);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 20)) return fail(`?runs=${params.get('runs')} (want a whole number from 1 to 20)`);
  const body = $('results').querySelector('tbody');
  for (const backend of backends) {
    let s;
    try {
      $('status').textContent = `Loading the ${backend} backend…`;
      s = await Sampler.load({ weights: 'default.lsgm', backend });
    } catch (err) {
      body.insertAdjacentHTML('beforeend', `<tr><td>${backend}</td><td colspan="5">not available: ${String(err.message || err).replace(/</g, '&lt;')}</td></tr>`);
      continue;
    }
    const adapter = s.backend === 'webgpu' ? s.adapter : 'WebAssembly';
    for (const n of batches) {
      $('status').textContent = `${backend}, batch ${n}…`;
      const opts = { count: n, sampler: 'dpmpp2m', nfe, seed: 1, preview: false };
      await s.sample(opts); // warm: shaders compiled, buffers made
      const per = [];
      for (let i = 0; i < runs; i++) {
        const r = await s.sample(opts);
        per.push(r.ms / r.nfe);
      }
      const med = [...per].sort((a, b) => a - b)[Math.floor(per.length / 2)];
      const row = document.createElement('tr');
      row.dataset.backend = backend;
      row.dataset.batch = String(n);
      row.dataset.ms = String(med);
      for (const v of [backend, adapter, n, med.toFixed(1), per.map((x) => x.toFixed(1)).join(', '), (1000 * n / (med * nfe)).toFixed(1)]) {
        const td = document.createElement('td');
        td.textContent = String(v);
        row.append(td);
      }
      body.append(row);
    }
    if (params.get('kernels') === '1' && s.backend === 'webgpu') {
      for (const n of batches) {
        $('status').textContent = `per-kernel times, batch ${n}…`;
        kernelTable(n, await s.profile(n));
      }
    }
    s.terminate();
  }
  $('status').textContent = `Done: ${navigator.userAgent}`;
  document.body.dataset.done = 'ok';
}

run().catch((err) => fail(String(err.message || err)));
