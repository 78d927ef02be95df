// Tiled matrix multiply with fused bias and activation (the linear layer):
//   y[i, o] = act(b[o] + sum_k x[i, k] w[o, k]),  x [m, k], w [n, k], y [m, n].
// A workgroup of 8x8 threads computes a 32x32 tile of y, each thread a 4x4
// block strided by 8 (so neighbouring threads read neighbouring words of the
// workgroup tiles); the k axis goes through workgroup memory 16 at a time.

struct Params { m: u32, n: u32, k: u32, act: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TM = 32u;
const TN = 32u;
const TK = 16u;

var<workgroup> xs: array<f32, 512>; // [TM][TK]
var<workgroup> ws: array<f32, 512>; // [TK][TN]

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * TM;
  let col0 = wg.x * TN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += TK) {
    for (var e = li; e < TM * TK; e += 64u) {
      let r = row0 + e / TK;
      let kk = k0 + e % TK;
      var v = 0.0;
      if (r < p.m && kk < p.k) { v = x[r * p.k + kk]; }
      xs[e] = v;
      let c = col0 + e / TK;
      var u = 0.0;
      if (c < p.n && kk < p.k) { u = w[c * p.k + kk]; }
      ws[(e % TK) * TN + e / TK] = u;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var bb: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[(l.y + 8u * i) * TK + kk];
        bb[i] = ws[kk * TN + l.x + 8u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] += a[i] * bb[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + l.y + 8u * i;
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + l.x + 8u * j;
      if (r < p.m && c < p.n) {
        var v = acc[i * 4u + j] + b[c];
        if (p.act == 1u) { v = silu(v); }
        y[r * p.n + c] = v;
      }
    }
  }
}
