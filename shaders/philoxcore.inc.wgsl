// Philox4x32-10 (runtime/rng.Philox4x32) and the exact uniforms of its
// words, shared by the noise (philox.wgsl) and the training images
// (images.wgsl). WGSL has no 64-bit product, so the 32x32 -> 64 multiply is
// built from 16-bit halves.

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

