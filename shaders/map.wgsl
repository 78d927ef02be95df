// Elementwise functions of up to three inputs over strided views, the
// trainer's generic tensor op: y(i) = f(a(i), b(i), c(i)) for every index i
// of a 4-D shape, each operand at off + dot(i, stride). A zero stride
// broadcasts, a negative one flips, a permuted one transposes, and an offset
// view writes one part of a concatenation. The function numbers are
// runtime.MapOp's.

struct Params {
  shape: vec4<u32>,
  total: u32, op: u32, _p0: u32, _p1: u32,
  off: vec4<i32>, // y, a, b, c
  ys: vec4<i32>,
  as_: vec4<i32>,
  bs: vec4<i32>,
  cs: vec4<i32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

// softplus(v) = log(1 + e^v) = max(v, 0) + log(1 + e^-|v|), without overflow.
fn softplus(v: f32) -> f32 { return max(v, 0.0) + log(1.0 + exp(-abs(v))); }

fn apply(av: f32, bv: f32, cv: f32) -> f32 {
  switch p.op {
    case 0u: { return av; }
    case 1u: { return -av; }
    case 2u: { return exp(av); }
    case 3u: { return av * av; }
    case 4u: { return sigmoid(av); }
    case 5u: { return av + bv; }
    case 6u: { return av - bv; }
    case 7u: { return av * bv; }
    case 8u: { return av / bv; }
    case 9u: {
      let s = sigmoid(av);
      return bv * s * (1.0 + av * (1.0 - s));
    }
    case 10u: { return softplus(av) - bv * av; }
    case 11u: { return cv * (sigmoid(av) - bv); }
    default: { return 0.0; }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= p.total) { return; }
  let i = vec4<i32>(vec4<u32>(e / (p.shape.y * p.shape.z * p.shape.w), (e / (p.shape.z * p.shape.w)) % p.shape.y,
                              (e / p.shape.w) % p.shape.z, e % p.shape.w));
  var bv = 0.0;
  var cv = 0.0;
  if (p.op >= 5u) { bv = b[p.off.z + dot(i, p.bs)]; }
  if (p.op == 11u) { cv = c[p.off.w + dot(i, p.cs)]; }
  y[p.off.x + dot(i, p.ys)] = apply(a[p.off.y + dot(i, p.as_)], bv, cv);
}
