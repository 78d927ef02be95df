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

//#include philoxcore

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
