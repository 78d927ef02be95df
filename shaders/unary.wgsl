// Elementwise activations: op 0 is SiLU x sigmoid(x), op 1 is sigmoid(x).

struct Params { len: u32, op: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.len) { return; }
  let v = x[i];
  let s = 1.0 / (1.0 + exp(-v));
  if (p.op == 0u) { y[i] = v * s; } else { y[i] = s; }
}
