// One input of a concatenation: sample i of x (size elements) goes to
// y[i * total + off ...]. A concat of k inputs is k dispatches into one y.

struct Params { n: u32, size: u32, total: u32, off: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.n * p.size) { return; }
  let i = idx / p.size;
  y[i * p.total + p.off + idx % p.size] = x[idx];
}
