// General matrix product c [m, n] = A B over strided operands, so either may
// be read transposed: A(i, q) = a[i sam + q sak], B(q, j) = b[q sbk + j sbn].
// 32x32 outputs a workgroup of 64 threads, 16 terms at a time through
// workgroup memory; each thread sums a 4x4 block.

struct Params { m: u32, n: u32, k: u32, _p: u32, sam: u32, sak: u32, sbk: u32, sbn: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const T = 32u;
const TK = 16u;
var<workgroup> as_: array<f32, 512>; // [TK][T]
var<workgroup> bs: array<f32, 512>;  // [TK][T]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * T;
  let col0 = wg.x * T;
  let tr = (li / 8u) * 4u;
  let tc = (li % 8u) * 4u;
  var acc: array<array<f32, 4>, 4>;
  for (var q0 = 0u; q0 < p.k; q0 += TK) {
    for (var e = li; e < TK * T; e += 64u) {
      let q = q0 + e / T;
      let i = row0 + e % T;
      let j = col0 + e % T;
      var av = 0.0;
      var bv = 0.0;
      if (q < p.k && i < p.m) { av = a[i * p.sam + q * p.sak]; }
      if (q < p.k && j < p.n) { bv = b[q * p.sbk + j * p.sbn]; }
      as_[e] = av;
      bs[e] = bv;
    }
    workgroupBarrier();
    for (var q = 0u; q < TK; q++) {
      for (var r = 0u; r < 4u; r++) {
        let av = as_[q * T + tr + r];
        for (var s = 0u; s < 4u; s++) { acc[r][s] += av * bs[q * T + tc + s]; }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    for (var s = 0u; s < 4u; s++) {
      let i = row0 + tr + r;
      let j = col0 + tc + s;
      if (i < p.m && j < p.n) { c[i * p.n + j] = acc[r][s]; }
    }
  }
}
