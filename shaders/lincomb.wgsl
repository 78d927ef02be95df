// The fused vector update of a solver step: y = cy y + ca a + cb b + cc c + cd d.
// Every sampler update here (Euler, Heun, DDIM/DDPM, DPM-Solver++(2M),
// Euler-Maruyama, the denoised preview) is such a combination with scalar
// coefficients, so one dispatch makes a step's update. Unused inputs get a
// zero coefficient. Coefficients change every step: a dynamic offset.

struct Params { len: u32, cy: f32, ca: f32, cb: f32, cc: f32, cd: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read> d: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.len) { return; }
  var v = p.ca * a[i] + p.cb * b[i] + p.cc * c[i] + p.cd * d[i];
  if (p.cy != 0.0) { v += p.cy * y[i]; }
  y[i] = v;
}
