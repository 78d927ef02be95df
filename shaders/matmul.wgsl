// Tiled matrix multiply with fused bias and activation (the linear layer):
//   y[i, o] = act(b[o] + sum_k x[i, k] w[o, k]),  x [m, k], w [n, k], y [m, n].
// A workgroup of 8x8 threads computes a 32x32 tile of y, each thread a 4x4
// block (4 consecutive rows by 4 consecutive columns); the k axis goes
// through workgroup memory 16 at a time, as vec4s, so the inner loop reads
// two vectors per 16 multiply-adds (software adapters gather workgroup
// reads lane by lane; see conv2d.wgsl).

struct Params { m: u32, n: u32, k: u32, act: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TM = 32u;
const TN = 32u;
const TK = 16u;

var<workgroup> xs: array<vec4<f32>, 128>; // [TK][TM / 4]: 4 rows of x a vector
var<workgroup> ws: array<vec4<f32>, 128>; // [TK][TN / 4]: 4 rows of w a vector

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * TM;
  let col0 = wg.x * TN;
  var acc0 = vec4<f32>(); // row 4 l.y + i in acc_i, columns 4 l.x ..
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < p.k; k0 += TK) {
    // This thread fills vector li % 8 of tile rows li / 8 and li / 8 + 8.
    for (var t = 0u; t < 2u; t++) {
      let e = li + 64u * t;
      let kk = k0 + e / 8u;
      var xv = vec4<f32>();
      var wv = vec4<f32>();
      if (kk < p.k) {
        for (var j = 0u; j < 4u; j++) {
          let r = row0 + 4u * (e % 8u) + j;
          if (r < p.m) { xv[j] = x[r * p.k + kk]; }
          let c = col0 + 4u * (e % 8u) + j;
          if (c < p.n) { wv[j] = w[c * p.k + kk]; }
        }
      }
      xs[e] = xv;
      ws[e] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let a = xs[kk * 8u + l.y];
      let bv = ws[kk * 8u + l.x];
      acc0 += a.x * bv;
      acc1 += a.y * bv;
      acc2 += a.z * bv;
      acc3 += a.w * bv;
    }
    workgroupBarrier();
  }
  var acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + 4u * l.y + i;
    if (r >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + 4u * l.x + j;
      if (c < p.n) {
        var v = acc[i][j] + b[c];
        if (p.act == 1u) { v = silu(v); }
        y[r * p.n + c] = v;
      }
    }
  }
}
