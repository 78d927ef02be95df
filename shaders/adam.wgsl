// One Adam (or Adamax) step of a parameter range, in place (runtime.AdamStep
// from runtime.AdamStepAt): the gradient scaled by its group's clipping
// factor, then the moments and the parameters. The factor and the finite
// flag come from gradnorm.wgsl's state, the optimizer's step count t from
// the counters it keeps, so the learning rate's warm-up, min(1, t / warmup),
// and the bias corrections 1 - beta^t = -expm1(t ln beta) are worked out
// here and a step needs nothing from the host. A step with a non-finite
// gradient anywhere changes nothing, as on the CPU.

// b1, b2, their complements and logarithms come from the host in f64: 1 - b2
// computed here from f32 0.999 would be off by 1e-5.
struct Params {
  n: u32, group: u32, max: u32, groups: u32,
  b1: f32, b2: f32, eps: f32, lr: f32,
  nb1: f32, nb2: f32, lnb1: f32, lnb2: f32,
  warmup: f32, gid: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<f32>; // finite, norms[groups], clips[groups]
@group(0) @binding(3) var<storage, read> counters: array<f32>; // runtime.Count*
@group(0) @binding(4) var<storage, read_write> w: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;

// oneMinusPow is 1 - beta^t = -expm1(t ln beta), by its series where
// 1 - exp would cancel.
fn oneMinusPow(lnb: f32, t: f32) -> f32 {
  let x = t * lnb;
  if (abs(x) < 1e-2) { return -x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x / 24.0))); }
  return 1.0 - exp(x);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n || state[0] != 1.0) { return; }
  let t = counters[p.gid];
  let lr = p.lr * min(1.0, t / p.warmup);
  let c1 = oneMinusPow(p.lnb1, t);
  let c2 = oneMinusPow(p.lnb2, t);
  let gi = g[i] * state[1u + p.groups + p.group];
  let mi = p.b1 * m[i] + p.nb1 * gi;
  var vi: f32;
  var step: f32;
  if (p.max == 1u) {
    vi = max(p.b2 * v[i], abs(gi));
    step = lr / c1 * mi / (vi + p.eps);
  } else {
    vi = p.b2 * v[i] + p.nb2 * gi * gi;
    step = lr * (mi / c1) / (sqrt(vi / c2) + p.eps);
  }
  m[i] = mi;
  v[i] = vi;
  w[i] -= step;
}
