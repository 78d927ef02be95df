// y[i] = v for i < len: sets the network's time input for one evaluation.
// The parameters change every step, so they come through a dynamic offset.

struct Params { len: u32, v: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i < p.len) { y[i] = p.v; }
}
