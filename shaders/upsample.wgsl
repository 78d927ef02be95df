// Nearest-neighbour upsampling by an integer factor f: x [nc, h, w] -> y [nc, h f, w f].

struct Params { nc: u32, h: u32, w: u32, f: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  let wf = p.w * p.f;
  let hf = p.h * p.f;
  if (idx >= p.nc * hf * wf) { return; }
  let ox = idx % wf;
  let oy = (idx / wf) % hf;
  let i = idx / (wf * hf);
  y[idx] = x[(i * p.h + oy / p.f) * p.w + ox / p.f];
}
