// One Adam (or Adamax) step of a parameter range, in place (runtime.AdamStep):
// the gradient scaled by its group's clipping factor, then the moments and
// the parameters. The factor and the finite flag come from gradnorm.wgsl's
// state, the learning rate and bias corrections from the host's per-step
// hyper buffer, so a step with a non-finite gradient anywhere changes
// nothing, as on the CPU.

// b1, b2 and their complements come from the host: 1 - b2 rounded from f64
// is exact to f32 precision; computed here from f32 0.999 it is off by 1e-5.
struct Params { n: u32, group: u32, max: u32, groups: u32, b1: f32, b2: f32, eps: f32, _p: f32, nb1: f32, nb2: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<f32>; // finite, norms[groups], clips[groups]
@group(0) @binding(3) var<storage, read> hyper: array<f32>; // per group: lr, c1, c2
@group(0) @binding(4) var<storage, read_write> w: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n || state[0] != 1.0) { return; }
  let gi = g[i] * state[1u + p.groups + p.group];
  let lr = hyper[3u * p.group];
  let c1 = hyper[3u * p.group + 1u];
  let c2 = hyper[3u * p.group + 2u];
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
