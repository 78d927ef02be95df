// Philox4x32-10 normal noise, the same function of (seed, sample, step,
// stream, element) as runtime/rng: counter (element/4, first + sample, step,
// stream), key = the seed's two halves; each block gives four normals by
// Box-Muller. WGSL has no 64-bit product, so the 32x32 -> 64 multiply is built
// from 16-bit halves. log, sin and cos are written out: WGSL's built-ins are
// only accurate to 2^-11 or so near the points that matter (log near 1), and
// the noise must match the CPU to 1e-6. Entry point normals writes the noise;
// raw writes the Philox words themselves (to test integer equality).

struct Params {
  seed_lo: u32, seed_hi: u32, first: u32, dim: u32,
  step: u32, stream: u32, count: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> raw: array<u32>;

// mulwide returns the 64-bit product a b as (high word, low word).
fn mulwide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let hi = a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox(c0: vec4<u32>, k0: vec2<u32>) -> vec4<u32> {
  var ctr = c0;
  var key = k0;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) {
      key += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    let p0 = mulwide(0xD2511F53u, ctr.x);
    let p1 = mulwide(0xCD9E8D57u, ctr.z);
    ctr = vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
  }
  return ctr;
}

// uniform23 is (k + 0.5) / 2^23 for the top 23 bits k: exact in f32.
fn uniform23(v: u32) -> f32 { return (f32(v >> 9u) + 0.5) * (1.0 / 8388608.0); }

// ln for u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), then
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series
// (the first term left out is below 1e-10); e ln 2 in two parts.
fn ln(u: f32) -> f32 {
  let bits = bitcast<u32>(u);
  var e = i32((bits >> 23u) & 0xffu) - 127;
  var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
  if (m > 1.41421356) {
    m = m * 0.5;
    e += 1;
  }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
  let fe = f32(e);
  return fe * 0.693145751953125 + (fe * 1.428606820309417e-6 + 2.0 * s * series);
}

//#include sincos

fn boxmuller(u1: f32, u2: f32) -> vec2<f32> {
  let r = sqrt(-2.0 * ln(u1));
  return r * sincos2pi(u2);
}

// block returns the Philox words of thread idx and the place they go: the
// sample and the first element.
fn block(idx: u32) -> vec4<u32> {
  let per = (p.dim + 3u) / 4u;
  let i = idx / per;
  let blk = idx % per;
  return philox(vec4<u32>(blk, p.first + i, p.step, p.stream), vec2<u32>(p.seed_lo, p.seed_hi));
}

@compute @workgroup_size(64)
fn normals(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  let per = (p.dim + 3u) / 4u;
  if (idx >= p.count * per) { return; }
  let r = block(idx);
  let ab = boxmuller(uniform23(r.x), uniform23(r.y));
  let cd = boxmuller(uniform23(r.z), uniform23(r.w));
  var v = array<f32, 4>(ab.x, ab.y, cd.x, cd.y);
  let i = idx / per;
  let e0 = (idx % per) * 4u;
  for (var j = 0u; j < 4u; j++) {
    if (e0 + j < p.dim) { y[i * p.dim + e0 + j] = v[j]; }
  }
}

@compute @workgroup_size(64)
fn words(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  let per = (p.dim + 3u) / 4u;
  if (idx >= p.count * per) { return; }
  let r = block(idx);
  raw[4u * idx] = r.x;
  raw[4u * idx + 1u] = r.y;
  raw[4u * idx + 2u] = r.z;
  raw[4u * idx + 3u] = r.w;
}
