// The input gradient of group normalisation without its affine part, one
// workgroup of 64 threads per (group, sample), as groupnorm.wgsl:
// dx = rstd (dy - mean(dy) - xhat mean(dy xhat)), with the statistics in two
// passes (mean, then the mean squared deviation) and the two gradient means
// in a third.

struct Params { c: u32, hw: u32, groups: u32, _p: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const WG = 64u;
var<workgroup> part: array<vec2<f32>, WG>;
var<workgroup> stat: vec2<f32>;

// total returns the sum of every thread's v.
fn total(li: u32, v: vec2<f32>) -> vec2<f32> {
  part[li] = v;
  workgroupBarrier();
  if (li == 0u) {
    var s = vec2<f32>();
    for (var i = 0u; i < WG; i++) { s += part[i]; }
    stat = s;
  }
  return workgroupUniformLoad(&stat);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let cnt = p.c / p.groups * p.hw;
  let off = (wg.y * p.groups + wg.x) * cnt;
  var s = 0.0;
  for (var e = li; e < cnt; e += WG) { s += x[off + e]; }
  let mean = total(li, vec2<f32>(s, 0.0)).x / f32(cnt);
  var s2 = 0.0;
  for (var e = li; e < cnt; e += WG) {
    let d = x[off + e] - mean;
    s2 += d * d;
  }
  let rstd = inverseSqrt(total(li, vec2<f32>(s2, 0.0)).x / f32(cnt) + p.eps);
  var g = vec2<f32>();
  for (var e = li; e < cnt; e += WG) {
    let d = dy[off + e];
    g += vec2<f32>(d, d * (x[off + e] - mean) * rstd);
  }
  let m = total(li, g) / f32(cnt);
  for (var e = li; e < cnt; e += WG) {
    let xh = (x[off + e] - mean) * rstd;
    dx[off + e] = rstd * (dy[off + e] - m.x - xh * m.y);
  }
}
