// The discretized logistic likelihood of runtime.Logistic, per element:
// which 0 writes -log P(x | mu, ls), 1 and 2 write dy times its derivative by
// mu and by ls. An inner bin's mass is sigmoid(a) sigmoid(-b) (1 - e^-d) with
// a, b the bin's standardised edges and d = a - b, so nothing subtracts
// nearly equal numbers; -expm1(-d) and d / expm1(d) take their series below
// 1e-2, where 1 - e^-d would cancel in f32.

struct Params { len: u32, which: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> ls: array<f32>;
@group(0) @binding(3) var<storage, read> xv: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

const HALF = 1.0 / 255.0;
const MIN_LOG_SCALE = -7.0;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
fn softplus(v: f32) -> f32 { return max(v, 0.0) + log(1.0 + exp(-abs(v))); }

// one_minus_exp_neg is 1 - e^-d for d > 0.
fn one_minus_exp_neg(d: f32) -> f32 {
  if (d < 1e-2) { return d * (1.0 - d * (0.5 - d * (1.0 / 6.0 - d / 24.0))); }
  return 1.0 - exp(-d);
}

// d_over_expm1 is d / (e^d - 1) for d > 0.
fn d_over_expm1(d: f32) -> f32 {
  if (d < 1e-2) { return 1.0 - d * (0.5 - d / 12.0); }
  return d / (exp(d) - 1.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.len) { return; }
  let clamped = ls[i] < MIN_LOG_SCALE;
  let l = max(ls[i], MIN_LOG_SCALE);
  let inv = exp(-l);
  let x = xv[i];
  let c = x - mu[i];
  let a = inv * (c + HALF);
  let b = inv * (c - HALF);
  var nll = 0.0;
  var da = 0.0;
  var db = 0.0;
  var dd = 0.0;
  if (x < -0.999) {
    nll = softplus(-a);
    da = -sigmoid(-a);
  } else if (x > 0.999) {
    nll = softplus(b);
    db = sigmoid(b);
  } else {
    let d = 2.0 * inv * HALF;
    nll = softplus(-a) + softplus(b) - log(one_minus_exp_neg(d));
    da = -sigmoid(-a);
    db = sigmoid(b);
    dd = d_over_expm1(d);
  }
  switch p.which {
    case 0u: { y[i] = nll; }
    case 1u: { y[i] = dy[i] * (da + db) * -inv; }
    default: {
      var v = -da * a - db * b + dd;
      if (clamped) { v = 0.0; }
      y[i] = dy[i] * v;
    }
  }
}
