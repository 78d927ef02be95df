// Decoded images to RGBA8, one packed u32 a pixel (R in the low byte), the
// only data a sampling run reads back. x is [n, c, hw] with c = 1 or 3; mode 0
// maps Bernoulli logits through sigmoid, mode 1 maps [-1, 1] to [0, 1].

struct Params { n: u32, c: u32, hw: u32, mode: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

fn byte(v: f32) -> u32 {
  var u = v;
  if (p.mode == 0u) { u = 1.0 / (1.0 + exp(-v)); } else { u = 0.5 * (v + 1.0); }
  return u32(floor(clamp(u, 0.0, 1.0) * 255.0 + 0.5));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.n * p.hw) { return; }
  let i = idx / p.hw;
  let q = idx % p.hw;
  let base = i * p.c * p.hw + q;
  let r = byte(x[base]);
  var g = r;
  var b = r;
  if (p.c == 3u) {
    g = byte(x[base + p.hw]);
    b = byte(x[base + 2u * p.hw]);
  }
  y[idx] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}
