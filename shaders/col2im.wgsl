// col2im, the last half of a strided convolution's input gradient: given
// cols[n, (c, ky, kx), oy, ox] = sum_o w[o, c, ky, kx] dy[n, o, oy, ox] (a
// 1x1 convolution on conv2d.wgsl's tiles), each thread sums the at most
// k^2 / stride^2 columns that read its element of dx [n, c, h, w]:
// those with oy stride + ky - pad = iy and ox stride + kx - pad = ix.

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  k: u32, stride: u32, pad: u32, _p0: u32,
  ho: u32, wo: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= p.n * p.c * p.h * p.w) { return; }
  let ix = e % p.w;
  let iy = (e / p.w) % p.h;
  let ic = (e / (p.w * p.h)) % p.c;
  let img = e / (p.w * p.h * p.c);
  let hw = p.ho * p.wo;
  let kk = p.k * p.k;
  let base = (img * p.c + ic) * kk * hw;
  var s = 0.0;
  for (var ky = 0u; ky < p.k; ky++) {
    let ty = i32(iy + p.pad) - i32(ky);
    if (ty < 0 || ty % i32(p.stride) != 0) { continue; }
    let oy = u32(ty) / p.stride;
    if (oy >= p.ho) { continue; }
    for (var kx = 0u; kx < p.k; kx++) {
      let tx = i32(ix + p.pad) - i32(kx);
      if (tx < 0 || tx % i32(p.stride) != 0) { continue; }
      let ox = u32(tx) / p.stride;
      if (ox >= p.wo) { continue; }
      s += cols[base + (ky * p.k + kx) * hw + oy * p.wo + ox];
    }
  }
  dx[e] = s;
}
