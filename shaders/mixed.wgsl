// LSGM's mixed score (lsgm-math.md section 3), in place on the network's output:
//   eps = (1 - c) k z + c eps',  c = sigmoid(mixing logit) per latent element,
//   k = sigma_t / (m_t^2 + sigma_t^2) (a dynamic parameter; it changes with t).

struct Params { len: u32, dim: u32, k: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> coeff: array<f32>;
@group(0) @binding(3) var<storage, read_write> eps: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.len) { return; }
  let c = coeff[i % p.dim];
  eps[i] = (1.0 - c) * p.k * z[i] + c * eps[i];
}
