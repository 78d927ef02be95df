// Upsampling's input gradient: each element of dx [nc, h, w] sums its f x f
// block of dy [nc, h f, w f].

struct Params { nc: u32, h: u32, w: u32, f: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= p.nc * p.h * p.w) { return; }
  let x = e % p.w;
  let y = (e / p.w) % p.h;
  let i = e / (p.w * p.h);
  let wf = p.w * p.f;
  let base = (i * p.h + y) * p.f * wf + x * p.f;
  var s = 0.0;
  for (var a = 0u; a < p.f; a++) {
    for (var b = 0u; b < p.f; b++) { s += dy[base + a * wf + b]; }
  }
  dx[e] = s;
}
