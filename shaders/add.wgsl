// y = a + b for n samples of size elements; b has bsize elements a sample,
// broadcast over the size / bsize positions of each (a per-channel bias when
// bsize is the channel count, the whole tensor when bsize = size).

struct Params { n: u32, size: u32, bsize: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.n * p.size) { return; }
  let i = idx / p.size;
  let j = idx % p.size;
  y[idx] = a[idx] + b[i * p.bsize + j / (p.size / p.bsize)];
}
