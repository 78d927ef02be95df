// The convolution's weight gradient as an implicit GEMM:
// dw[o, q] = sum_r dy[o, r] X[q, r], with q over (channel, ky, kx), r over
// (image, oy, ox), and X the im2col matrix gathered from x tile by tile,
// never stored. Shaped like conv2d.wgsl's main: 32x64 outputs a workgroup
// of 8x8 threads, 16 terms at a time, tiles held as vec4s so the inner loop
// reads three vectors per 32 multiply-adds; each thread sums 4 rows by two
// runs of 4 columns, and gathers the same 4 taps of X throughout, so it
// works out where they read once. The sum over r (a whole batch of pixels)
// is split into p.chunk-long parts along the grid's z axis, each writing
// its own partial [o, q] block, so a small weight still fills a large GPU;
// reduce.wgsl adds the partials.

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, k: u32, stride: u32, pad: u32,
  ho: u32, wo: u32, chunk: u32, _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

const TM = 32u;
const TN = 64u;
const TK = 16u;

var<workgroup> ds: array<vec4<f32>, 128>; // [TK][TM / 4]: dy, 4 rows a vector
var<workgroup> xs: array<vec4<f32>, 256>; // [TK][TN / 4]: X, 4 taps a vector

// Tap is where a column q of X reads: its channel's plane and its offsets.
struct Tap { plane: u32, ky: i32, kx: i32, live: bool }

fn tap(q: u32) -> Tap {
  let kk = p.k * p.k;
  return Tap((q / kk) * p.h * p.w, i32((q % kk) / p.k) - i32(p.pad), i32(q % p.k) - i32(p.pad), q < p.c * kk);
}

// xval is X[t, r] for output position r = (img, oy, ox), given as the image's
// offset and the top-left input position.
fn xval(t: Tap, xb: u32, iy0: i32, ix0: i32) -> f32 {
  let iy = iy0 + t.ky;
  let ix = ix0 + t.kx;
  if (!t.live || iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
  return x[xb + t.plane + u32(iy) * p.w + u32(ix)];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let nq = p.c * p.k * p.k;
  let hw = p.ho * p.wo;
  let nr = p.n * hw;
  let o0 = wg.y * TM;
  let q0 = wg.x * TN;
  let r0 = wg.z * p.chunk;
  let r1 = min(r0 + p.chunk, nr);
  // Loading: this thread fills vector li % 16 of X's tile rows li / 16 + 4 t
  // (taps 4 (li % 16) .. + 3, fixed) and vector li % 8 of dy's rows li / 8 + 8 t.
  var taps: array<Tap, 4>;
  for (var j = 0u; j < 4u; j++) { taps[j] = tap(q0 + 4u * (li % 16u) + j); }
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  for (var rb = r0; rb < r1; rb += TK) {
    for (var t = 0u; t < 4u; t++) {
      let e = li + 64u * t;
      let r = rb + e / 16u;
      var v = vec4<f32>();
      if (r < r1) {
        let img = r / hw;
        let pix = r % hw;
        let xb = img * p.c * p.h * p.w;
        let iy0 = i32((pix / p.wo) * p.stride);
        let ix0 = i32((pix % p.wo) * p.stride);
        v = vec4<f32>(xval(taps[0], xb, iy0, ix0), xval(taps[1], xb, iy0, ix0),
                      xval(taps[2], xb, iy0, ix0), xval(taps[3], xb, iy0, ix0));
      }
      xs[e] = v;
    }
    for (var t = 0u; t < 2u; t++) {
      let e = li + 64u * t;
      let r = rb + e / 8u;
      var v = vec4<f32>();
      if (r < r1) {
        let base = (r / hw) * p.o * hw + r % hw;
        for (var j = 0u; j < 4u; j++) {
          let oc = o0 + 4u * (li % 8u) + j;
          if (oc < p.o) { v[j] = dy[base + oc * hw]; }
        }
      }
      ds[e] = v;
    }
    workgroupBarrier();
    for (var tt = 0u; tt < TK; tt++) {
      let a = ds[tt * 8u + l.y];
      let b0 = xs[tt * 16u + l.x];
      let b1 = xs[tt * 16u + 8u + l.x];
      acc0 += a.x * b0;
      acc1 += a.y * b0;
      acc2 += a.z * b0;
      acc3 += a.w * b0;
      acc4 += a.x * b1;
      acc5 += a.y * b1;
      acc6 += a.z * b1;
      acc7 += a.w * b1;
    }
    workgroupBarrier();
  }
  var acc = array<vec4<f32>, 8>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
  let base = wg.z * p.o * nq;
  for (var i = 0u; i < 4u; i++) {
    let oc = o0 + 4u * l.y + i;
    if (oc >= p.o) { break; }
    for (var h = 0u; h < 2u; h++) {
      for (var j = 0u; j < 4u; j++) {
        let q = q0 + 4u * l.x + 32u * h + j;
        if (q < nq) { dw[base + oc * nq + q] = acc[4u * h + i][j]; }
      }
    }
  }
}
