// Included (//#include sincos) by the shaders that need sine and cosine to
// f32 accuracy: WGSL's own sin and cos are only guaranteed to 2^-11 absolute
// error, and SwiftShader's miss the time embedding's 1e-4 by 1.8 times.

// sincos2pi returns (cos 2 pi u, sin 2 pi u) for u >= 0. u is reduced exactly to
// q/4 + f with |f| <= 1/8, then Taylor series on |x| <= pi/4.
fn sincos2pi(u: f32) -> vec2<f32> {
  let q = round(u * 4.0);
  let f = u - q * 0.25;
  let x = f * 6.2831853071795864;
  let x2 = x * x;
  let s = x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0 * (1.0 - x2 / 110.0)))));
  let c = 1.0 - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0 * (1.0 - x2 / 90.0 * (1.0 - x2 / 132.0)))));
  switch (u32(q) & 3u) {
    case 0u: { return vec2<f32>(c, s); }
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}
