// Classifier-free guidance (Ho and Salimans 2021): the network ran on the
// conditional and unconditional halves of one batch, eps = [cond; uncond];
//   y = uncond + w (cond - uncond)   (runtime/sampler.CFG is the reference).

struct Params { len: u32, w: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> eps: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.len) { return; }
  let u = eps[p.len + i];
  y[i] = u + p.w * (eps[i] - u);
}
