// 2-D convolution (cross-correlation, zero padding) with fused bias and
// activation, as an implicit GEMM: y[o, p] = act(b[o] + sum_q w[o, q] X[q, p])
// where p runs over (image, oy, ox), q over (channel, ky, kx), and X, the
// im2col matrix, is never stored: each tile of it is gathered from x into
// workgroup memory. Tiling as in matmul.wgsl: 32x32 outputs a workgroup, 4x4 a
// thread, 16 taps at a time.

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, k: u32, stride: u32, pad: u32,
  ho: u32, wo: u32, act: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TM = 32u;
const TN = 32u;
const TK = 16u;

var<workgroup> ws: array<f32, 512>; // [TM][TK] weights
var<workgroup> xs: array<f32, 512>; // [TK][TN] gathered inputs

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

// gather returns X[q, col]: the input under tap q of output position col, or
// zero in the padding.
fn gather(q: u32, col: u32) -> f32 {
  let kk = p.k * p.k;
  let ic = q / kk;
  let ky = (q % kk) / p.k;
  let kx = q % p.k;
  let hw = p.ho * p.wo;
  let img = col / hw;
  let oy = (col % hw) / p.wo;
  let ox = col % p.wo;
  let iy = i32(oy * p.stride + ky) - i32(p.pad);
  let ix = i32(ox * p.stride + kx) - i32(p.pad);
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
  return x[((img * p.c + ic) * p.h + u32(iy)) * p.w + u32(ix)];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let kdim = p.c * p.k * p.k;
  let ncols = p.n * p.ho * p.wo;
  let row0 = wg.y * TM;
  let col0 = wg.x * TN;
  var acc: array<f32, 16>;
  for (var q0 = 0u; q0 < kdim; q0 += TK) {
    for (var e = li; e < TM * TK; e += 64u) {
      let r = row0 + e / TK;
      let q = q0 + e % TK;
      var v = 0.0;
      if (r < p.o && q < kdim) { v = wt[r * kdim + q]; }
      ws[e] = v;
      let qq = q0 + e / TN;
      let col = col0 + e % TN;
      var u = 0.0;
      if (qq < kdim && col < ncols) { u = gather(qq, col); }
      xs[e] = u;
    }
    workgroupBarrier();
    for (var q = 0u; q < TK; q++) {
      var a: array<f32, 4>;
      var bb: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = ws[(l.y + 8u * i) * TK + q];
        bb[i] = xs[q * TN + l.x + 8u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] += a[i] * bb[j];
        }
      }
    }
    workgroupBarrier();
  }
  let hw = p.ho * p.wo;
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + l.y + 8u * i;
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + l.x + 8u * j;
      if (r < p.o && col < ncols) {
        var v = acc[i * 4u + j] + b[r];
        if (p.act == 1u) { v = silu(v); }
        y[((col / hw) * p.o + r) * hw + col % hw] = v;
      }
    }
  }
}
