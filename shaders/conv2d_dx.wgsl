// The convolution's input gradient, one thread per element of dx [n, c, h, w]:
// dx[c, iy, ix] = sum over o and the taps (ky, kx) that read (iy, ix) of
// dy[o, oy, ox] w[o, c, ky, kx], where oy stride + ky - pad = iy. The GPU
// program runs it only where the padding exceeds k - 1; otherwise the
// gradient is a stride-1 convolution of (spread-out) dy with the flipped,
// transposed kernel and runs on conv2d.wgsl's tuned tiles.

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, k: u32, stride: u32, pad: u32,
  ho: u32, wo: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= p.n * p.c * p.h * p.w) { return; }
  let ix = e % p.w;
  let iy = (e / p.w) % p.h;
  let ic = (e / (p.w * p.h)) % p.c;
  let img = e / (p.w * p.h * p.c);
  let hw = p.ho * p.wo;
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
      for (var oc = 0u; oc < p.o; oc++) {
        s += dy[(img * p.o + oc) * hw + oy * p.wo + ox] * wt[((oc * p.c + ic) * p.k + ky) * p.k + kx];
      }
    }
  }
  dx[e] = s;
}
