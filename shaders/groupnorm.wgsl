// Group norm with per-channel scale and shift and an optional fused SiLU: one
// workgroup of 64 threads per (group, sample). Two passes over the group (mean,
// then the mean squared deviation) keep f32 accurate where the CPU reference
// accumulates in f64. Each pass leaves 64 partial sums that one thread adds
// up: two barriers a pass, where a tree takes seven, and on software
// adapters (SwiftShader, lavapipe), which suspend every invocation at every
// barrier, the barriers cost more than the arithmetic.

struct Params { c: u32, hw: u32, groups: u32, act: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WG = 64u;
var<workgroup> part: array<f32, WG>;
var<workgroup> stat: f32;

// total returns the sum of every thread's v.
fn total(li: u32, v: f32) -> f32 {
  part[li] = v;
  workgroupBarrier();
  if (li == 0u) {
    var s = 0.0;
    for (var i = 0u; i < WG; i++) { s += part[i]; }
    stat = s;
  }
  return workgroupUniformLoad(&stat);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wg.x;
  let i = wg.y;
  let cg = p.c / p.groups;
  let cnt = cg * p.hw;
  let off = (i * p.c + g * cg) * p.hw;
  var s = 0.0;
  for (var e = li; e < cnt; e += WG) { s += x[off + e]; }
  let mean = total(li, s) / f32(cnt);
  var s2 = 0.0;
  for (var e = li; e < cnt; e += WG) {
    let d = x[off + e] - mean;
    s2 += d * d;
  }
  let inv = inverseSqrt(total(li, s2) / f32(cnt) + p.eps);
  for (var j = 0u; j < cg; j++) {
    let ch = g * cg + j;
    let a = inv * gamma[ch];
    let bb = beta[ch] - mean * a;
    let base = off + j * p.hw;
    for (var e = li; e < p.hw; e += WG) {
      var v = x[base + e] * a + bb;
      if (p.act == 1u) { v = v / (1.0 + exp(-v)); }
      y[base + e] = v;
    }
  }
}
