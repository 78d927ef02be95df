// Sinusoidal time embedding (Vaswani et al. 2017, as in DDPM):
//   y[i] = [sin(s t_i f_0 ..), cos(s t_i f_0 ..)],  f_j = 10000^(-j/h), h = dim/2.
// The phase is reduced in turns, and sine and cosine are the shared
// sincos2pi's: WGSL guarantees its own sin and cos only to 2^-11 absolute,
// and SwiftShader's are off by up to 1.8e-4 here.

struct Params { n: u32, dim: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const TAU = 6.283185307179586;

//#include sincos

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  let h = p.dim / 2u;
  if (idx >= p.n * h) { return; }
  let i = idx / h;
  let j = idx % h;
  let f = exp(-log(10000.0) * f32(j) / f32(h));
  let turns = p.scale * t[i] * f / TAU;
  let cs = sincos2pi(turns - floor(turns)); // in [0, 1): sincos2pi takes u >= 0
  y[i * p.dim + j] = cs.y;
  y[i * p.dim + h + j] = cs.x;
}
