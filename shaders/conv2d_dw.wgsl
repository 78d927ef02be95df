// The convolution's weight gradient as an implicit GEMM:
// dw[o, q] = sum_r dy[o, r] X[q, r], with q over (channel, ky, kx), r over
// (image, oy, ox), and X the im2col matrix gathered from x tile by tile,
// never stored. 32x32 outputs a workgroup of 64 threads (4x4 each), 16 terms
// at a time. The sum over r (a whole batch of pixels) is split into p.splits
// chunks along the grid's z axis, each writing its own partial [o, q] block,
// so a small weight still fills a large GPU; reduce.wgsl adds the partials.

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, k: u32, stride: u32, pad: u32,
  ho: u32, wo: u32, chunk: u32, _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

const T = 32u;
const TK = 16u;
var<workgroup> ds: array<f32, 512>; // [TK][T]: dy, rows o
var<workgroup> xs: array<f32, 512>; // [TK][T]: X, columns q

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let kk = p.k * p.k;
  let nq = p.c * kk;
  let hw = p.ho * p.wo;
  let nr = p.n * hw;
  let o0 = wg.y * T;
  let q0 = wg.x * T;
  let r0 = wg.z * p.chunk;
  let r1 = min(r0 + p.chunk, nr);
  let to = (li / 8u) * 4u;
  let tq = (li % 8u) * 4u;
  var acc: array<array<f32, 4>, 4>;
  for (var rb = r0; rb < r1; rb += TK) {
    for (var e = li; e < TK * T; e += 64u) {
      let r = rb + e / T;
      let j = e % T;
      var dv = 0.0;
      var xv = 0.0;
      if (r < r1) {
        let img = r / hw;
        let pix = r % hw;
        if (o0 + j < p.o) { dv = dy[(img * p.o + o0 + j) * hw + pix]; }
        let q = q0 + j;
        if (q < nq) {
          let ic = q / kk;
          let iy = i32((pix / p.wo) * p.stride + (q % kk) / p.k) - i32(p.pad);
          let ix = i32((pix % p.wo) * p.stride + q % p.k) - i32(p.pad);
          if (iy >= 0 && ix >= 0 && iy < i32(p.h) && ix < i32(p.w)) {
            xv = x[((img * p.c + ic) * p.h + u32(iy)) * p.w + u32(ix)];
          }
        }
      }
      ds[e] = dv;
      xs[e] = xv;
    }
    workgroupBarrier();
    for (var t = 0u; t < TK; t++) {
      for (var a = 0u; a < 4u; a++) {
        let dv = ds[t * T + to + a];
        for (var b = 0u; b < 4u; b++) { acc[a][b] += dv * xs[t * T + tq + b]; }
      }
    }
    workgroupBarrier();
  }
  let base = wg.z * p.o * nq;
  for (var a = 0u; a < 4u; a++) {
    for (var b = 0u; b < 4u; b++) {
      let oc = o0 + to + a;
      let q = q0 + tq + b;
      if (oc < p.o && q < nq) { dw[base + oc * nq + q] = acc[a][b]; }
    }
  }
}
