// 2-D convolution (cross-correlation, zero padding) with fused bias and
// activation, as an implicit GEMM: y[o, p] = act(b[o] + sum_q w[o, q] X[q, p])
// where p runs over (image, oy, ox), q over (channel, ky, kx), and X, the
// im2col matrix, is never stored: each tile of it is gathered from x into
// workgroup memory. 32x64 outputs a workgroup, 16 taps at a time; each
// thread sums a 4x8 block (4 consecutive rows by two runs of 4 columns).
// Workgroup memory holds vec4s, so the inner loop reads three vectors per
// 32 multiply-adds: software adapters (lavapipe, SwiftShader), which run
// invocations on CPU vector lanes, gather every workgroup read lane by lane,
// and scalar reads made them the bottleneck.

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
const TN = 64u;
const TK = 16u;

var<workgroup> ws: array<vec4<f32>, 128>; // [TK][TM / 4]: weights, 4 rows a vector
var<workgroup> xs: array<vec4<f32>, 256>; // [TK][TN / 4]: X, 4 columns a vector

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

// Col is where output column col (image, oy, ox) reads x, worked out once
// per thread: its image's offset and its top-left input position.
struct Col { xb: u32, iy0: i32, ix0: i32, live: bool }

fn column(col: u32) -> Col {
  let hw = p.ho * p.wo;
  let r = col % hw;
  return Col((col / hw) * p.c * p.h * p.w, i32((r / p.wo) * p.stride) - i32(p.pad),
             i32((r % p.wo) * p.stride) - i32(p.pad), col < p.n * hw);
}

// taps is X[q, cols[0..3]] (zero past the last tap q).
fn taps(cols: array<Col, 4>, q: u32) -> vec4<f32> {
  let kk = p.k * p.k;
  if (q >= p.c * kk) { return vec4<f32>(); }
  let ic = q / kk;
  let ky = (q % kk) / p.k;
  let kx = q % p.k;
  return vec4<f32>(tap(cols[0], ic, ky, kx), tap(cols[1], ic, ky, kx), tap(cols[2], ic, ky, kx), tap(cols[3], ic, ky, kx));
}

// tap is X[(ic, ky, kx), col]: x under the tap, or zero in the padding.
fn tap(c: Col, ic: u32, ky: u32, kx: u32) -> f32 {
  let iy = c.iy0 + i32(ky);
  let ix = c.ix0 + i32(kx);
  if (!c.live || iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
  return x[c.xb + (ic * p.h + u32(iy)) * p.w + u32(ix)];
}

// store8 adds the bias to a thread's 4 rows (r0 ..) by two runs of 4
// columns (c0 .., c0 + run ..), in acc[i] and acc[4 + i], applies the fused
// SiLU and stores them where y keeps them.
fn store8(a: array<vec4<f32>, 8>, r0: u32, c0: u32, run: u32) {
  var acc = a; // indexed at run time: a var
  let hw = p.ho * p.wo;
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + i;
    if (r >= p.o) { break; }
    for (var h = 0u; h < 2u; h++) {
      for (var j = 0u; j < 4u; j++) {
        let c = c0 + run * h + j;
        if (c < p.n * hw) {
          var v = acc[4u * h + i][j] + b[r];
          if (p.act == 1u) { v = silu(v); }
          y[((c / hw) * p.o + r) * hw + c % hw] = v;
        }
      }
    }
  }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let kk = p.k * p.k;
  let kdim = p.c * kk;
  let row0 = wg.y * TM;
  let col0 = wg.x * TN;
  // Loading: this thread fills vector li % 16 of X's tile rows li / 16 + 4 t
  // (columns 4 (li % 16) .. + 3; where they start in x is worked out once)
  // and vector li % 8 of the weights' tile rows li / 8 + 8 t.
  let g = li % 16u;
  var cols: array<Col, 4>;
  for (var j = 0u; j < 4u; j++) { cols[j] = column(col0 + 4u * g + j); }
  var acc0 = vec4<f32>(); // row 4 l.y + i in acc_i (columns 4 l.x ..) and
  var acc1 = vec4<f32>(); // acc_i + 4 (columns 32 + 4 l.x ..)
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  for (var q0 = 0u; q0 < kdim; q0 += TK) {
    for (var t = 0u; t < 4u; t++) {
      let e = li + 64u * t;
      let q = q0 + e / 16u;
      xs[e] = taps(cols, q);
    }
    for (var t = 0u; t < 2u; t++) {
      let e = li + 64u * t;
      let q = q0 + e / 8u;
      var wv = vec4<f32>();
      if (q < kdim) {
        for (var j = 0u; j < 4u; j++) {
          let r = row0 + 4u * (li % 8u) + j;
          if (r < p.o) { wv[j] = wt[r * kdim + q]; }
        }
      }
      ws[e] = wv;
    }
    workgroupBarrier();
    for (var qq = 0u; qq < TK; qq++) {
      let a = ws[qq * 8u + l.y];
      let b0 = xs[qq * 16u + l.x];
      let b1 = xs[qq * 16u + 8u + l.x];
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
  store8(array<vec4<f32>, 8>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7), row0 + 4u * l.y, col0 + 4u * l.x, 32u);
}

// narrow: the same convolution for at most 4 output channels (the
// networks' image and noise outputs), where main's 32-row tiles would
// compute 28 to 31 rows for nothing. A workgroup takes all 4 rows by 256
// columns, 8 taps at a time; each thread the 4 rows of its 4 columns.
const NK = 8u;
var<workgroup> nw: array<vec4<f32>, 8>;   // [NK]: the 4 rows' weights
var<workgroup> nx: array<vec4<f32>, 512>; // [NK][64]: X, 4 columns a vector

@compute @workgroup_size(64)
fn narrow(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let kk = p.k * p.k;
  let kdim = p.c * kk;
  let hw = p.ho * p.wo;
  let ncols = p.n * hw;
  let col0 = wg.x * 256u;
  // This thread gathers (and sums) columns col0 + 4 li .. + 3.
  var cols: array<Col, 4>;
  for (var j = 0u; j < 4u; j++) { cols[j] = column(col0 + 4u * li + j); }
  var acc0 = vec4<f32>(); // row i in acc_i, this thread's 4 columns
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var q0 = 0u; q0 < kdim; q0 += NK) {
    if (li < NK) {
      var wv = vec4<f32>();
      let q = q0 + li;
      if (q < kdim) {
        for (var j = 0u; j < 4u; j++) {
          if (j < p.o) { wv[j] = wt[j * kdim + q]; }
        }
      }
      nw[li] = wv;
    }
    for (var t = 0u; t < NK; t++) {
      let q = q0 + t;
      nx[t * 64u + li] = taps(cols, q);
    }
    workgroupBarrier();
    for (var t = 0u; t < NK; t++) {
      let a = nw[t];
      let bv = nx[t * 64u + li];
      acc0 += a.x * bv;
      acc1 += a.y * bv;
      acc2 += a.z * bv;
      acc3 += a.w * bv;
    }
    workgroupBarrier();
  }
  var acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < p.o; i++) {
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + 4u * li + j;
      if (c < ncols) {
        var v = acc[i][j] + b[i];
        if (p.act == 1u) { v = silu(v); }
        y[((c / hw) * p.o + i) * hw + c % hw] = v;
      }
    }
  }
}

// half: the same convolution for 5 to 16 output channels (the decoder's
// full-resolution layers), where main's 32-row tiles would compute half
// their rows or more for nothing. A workgroup takes 16 rows by 128
// columns; each thread 4 rows by two runs of 4 columns.
var<workgroup> hw4: array<vec4<f32>, 64>;  // [TK][4]: 16 rows' weights, 4 rows a vector
var<workgroup> hx4: array<vec4<f32>, 512>; // [TK][32]: X, 4 columns a vector

@compute @workgroup_size(16, 4)
fn half(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let kk = p.k * p.k;
  let kdim = p.c * kk;
  let col0 = wg.x * 128u;
  // Loading: this thread fills vector li % 32 of X's tile rows li / 32 + 2 t
  // and vector li % 4 of the weights' tile row li / 4.
  let g = li % 32u;
  var cols: array<Col, 4>;
  for (var j = 0u; j < 4u; j++) { cols[j] = column(col0 + 4u * g + j); }
  var acc0 = vec4<f32>(); // row 4 l.y + i in acc_i (columns 4 l.x ..) and
  var acc1 = vec4<f32>(); // acc_i + 4 (columns 64 + 4 l.x ..)
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  for (var q0 = 0u; q0 < kdim; q0 += TK) {
    for (var t = 0u; t < 8u; t++) {
      let e = li + 64u * t;
      let q = q0 + e / 32u;
      hx4[e] = taps(cols, q);
    }
    let q = q0 + li / 4u;
    var wv = vec4<f32>();
    if (q < kdim) {
      for (var j = 0u; j < 4u; j++) {
        let r = 4u * (li % 4u) + j;
        if (r < p.o) { wv[j] = wt[r * kdim + q]; }
      }
    }
    hw4[li] = wv;
    workgroupBarrier();
    for (var qq = 0u; qq < TK; qq++) {
      let a = hw4[qq * 4u + l.y];
      let b0 = hx4[qq * 32u + l.x];
      let b1 = hx4[qq * 32u + 16u + l.x];
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
  store8(array<vec4<f32>, 8>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7), 4u * l.y, col0 + 4u * l.x, 64u);
}
