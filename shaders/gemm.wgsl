// General matrix product c [m, n] = A B over strided operands, so either may
// be read transposed: A(i, q) = a[i sam + q sak], B(q, j) = b[q sbk + j sbn].
// Shaped like conv2d.wgsl's main: 32x64 outputs a workgroup of 8x8 threads,
// 16 terms at a time; tiles held as vec4s (A by 4 rows, B by 4 columns) so
// the inner loop reads three vectors per 32 multiply-adds, which software
// adapters need (they gather workgroup reads lane by lane); each thread sums
// 4 rows by two runs of 4 columns.

struct Params { m: u32, n: u32, k: u32, _p: u32, sam: u32, sak: u32, sbk: u32, sbn: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TM = 32u;
const TN = 64u;
const TK = 16u;

var<workgroup> as_: array<vec4<f32>, 128>; // [TK][TM / 4]
var<workgroup> bs: array<vec4<f32>, 256>;  // [TK][TN / 4]

fn av(i: u32, q: u32) -> f32 {
  if (i >= p.m || q >= p.k) { return 0.0; }
  return a[i * p.sam + q * p.sak];
}

fn bv(q: u32, j: u32) -> f32 {
  if (q >= p.k || j >= p.n) { return 0.0; }
  return b[q * p.sbk + j * p.sbn];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * TM;
  let col0 = wg.x * TN;
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  for (var q0 = 0u; q0 < p.k; q0 += TK) {
    for (var t = 0u; t < 2u; t++) { // A: vector li % 8 (rows 4 (li % 8) ..) of term li / 8 + 8 t
      let e = li + 64u * t;
      let q = q0 + e / 8u;
      let i = row0 + 4u * (e % 8u);
      as_[e] = vec4<f32>(av(i, q), av(i + 1u, q), av(i + 2u, q), av(i + 3u, q));
    }
    for (var t = 0u; t < 4u; t++) { // B: vector li % 16 (columns 4 (li % 16) ..) of term li / 16 + 4 t
      let e = li + 64u * t;
      let q = q0 + e / 16u;
      let j = col0 + 4u * (e % 16u);
      bs[e] = vec4<f32>(bv(q, j), bv(q, j + 1u), bv(q, j + 2u), bv(q, j + 3u));
    }
    workgroupBarrier();
    for (var qq = 0u; qq < TK; qq++) {
      let x = as_[qq * 8u + l.y];
      let b0 = bs[qq * 16u + l.x];
      let b1 = bs[qq * 16u + 8u + l.x];
      acc0 += x.x * b0;
      acc1 += x.y * b0;
      acc2 += x.z * b0;
      acc3 += x.w * b0;
      acc4 += x.x * b1;
      acc5 += x.y * b1;
      acc6 += x.z * b1;
      acc7 += x.w * b1;
    }
    workgroupBarrier();
  }
  var acc = array<vec4<f32>, 8>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
  for (var r = 0u; r < 4u; r++) {
    let i = row0 + 4u * l.y + r;
    if (i >= p.m) { break; }
    for (var h = 0u; h < 2u; h++) {
      for (var s = 0u; s < 4u; s++) {
        let j = col0 + 4u * l.x + 32u * h + s;
        if (j < p.n) { c[i * p.n + j] = acc[4u * h + r][s]; }
      }
    }
  }
}
