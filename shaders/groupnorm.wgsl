// Group norm with per-channel scale and shift and an optional fused SiLU: one
// workgroup of 256 threads per (group, sample). Two passes over the group (mean,
// then the mean squared deviation) keep f32 accurate where the CPU reference
// accumulates in f64.

struct Params { c: u32, hw: u32, groups: u32, act: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

fn total(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wg.x;
  let i = wg.y;
  let cg = p.c / p.groups;
  let cnt = cg * p.hw;
  let off = (i * p.c + g * cg) * p.hw;
  var s = 0.0;
  for (var e = li; e < cnt; e += 256u) { s += x[off + e]; }
  let mean = total(li, s) / f32(cnt);
  var s2 = 0.0;
  for (var e = li; e < cnt; e += 256u) {
    let d = x[off + e] - mean;
    s2 += d * d;
  }
  let inv = inverseSqrt(total(li, s2) / f32(cnt) + p.eps);
  for (var e = li; e < cnt; e += 256u) {
    let ch = g * cg + e / p.hw;
    var v = (x[off + e] - mean) * inv * gamma[ch] + beta[ch];
    if (p.act == 1u) { v = v / (1.0 + exp(-v)); }
    y[off + e] = v;
  }
}
