// The EMA of the parameters, s = d s + (1 - d) w (runtime.EMAUpdate), with
// the decay d and 1 - d from the host's per-step hyper buffer; skipped when
// gradnorm.wgsl found the step's gradient non-finite.

struct Params { n: u32, at: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<f32>;
@group(0) @binding(3) var<storage, read> hyper: array<f32>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n || state[0] != 1.0) { return; }
  s[i] = hyper[p.at] * s[i] + hyper[p.at + 1u] * w[i];
}
