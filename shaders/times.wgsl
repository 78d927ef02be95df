// Diffusion times for a training step (runtime.TimeSampler.Fill): sample i
// takes the Philox uniform rho at counter (i/4, 0, step, stream), word i%4,
// maps it to t in [eps, 1] by the scheme's draw, and writes
// out = [t, weight, m_t, sigma_t, sigma_t / (m_t^2 + sigma_t^2)], n each
// at offsets 0, stride, 2 stride, ...
// Draws: 0 uniform t, 1 log var(t) uniform, 2 var(t) uniform, 3 a tabulated
// inverse CDF (table: the CDF at ntab + 1 knots, then each cell's density).
// Weights: 0 ll (g2/var), 1 one, 2 g2. SDEs (a, b, s0 their parameters):
// 0 VP (beta_start, beta_end, sigma2_0), 1 geometric VP (sigma2_min,
// sigma2_max, sigma2_0), 2 VE (sigma_min, sigma_max), 3 sub-VP.
// float32 cancels where var(t) nears 0 or 1; each formula below is
// rearranged (expm1, log1p, the constants the host works out in float64)
// so that no quantity is the small difference of two rounded ones.

struct Params {
  seed_lo: u32, seed_hi: u32, n: u32, step: u32,
  stream: u32, stride: u32, _p1: u32, _p2: u32,
  draw: u32, weight: u32, kind: u32, ntab: u32,
  eps: f32, a: f32, b: f32, s0: f32,
  lr: f32,    // log(b / a): the geometric VP's and the VE's log ratio
  la: f32,    // log a
  lv0: f32,   // log var(eps)
  dlv: f32,   // log var(1) - log var(eps)
  v0ms0: f32, // var(eps) - s0
  dv: f32,    // var(1) - var(eps)
  omv1: f32,  // 1 - var(1)
  cgeo: f32,  // 1 - s0 + a - b
  ams0: f32,  // a - s0
  l1ms0: f32, // log(1 - s0)
  lv0s: f32,  // log(var(eps) / s0), where s0 > 0
  lv1: f32,   // log var(1)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

//#include philoxcore

// expm1f is e^x - 1 to float32 precision: its Taylor series where the
// subtraction would cancel.
fn expm1f(x: f32) -> f32 {
  if (abs(x) < 0.35) {
    return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 +
      x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))));
  }
  return exp(x) - 1.0;
}

// log1pf is log(1 + x): 2 atanh(x / (2 + x)) by its series on (-0.5, 1),
// where WGSL's log guarantees only an absolute error.
fn log1pf(x: f32) -> f32 {
  if (x > -0.5 && x < 1.0) {
    let y = x / (2.0 + x);
    let y2 = y * y;
    return 2.0 * y * (1.0 + y2 * (1.0 / 3.0 + y2 * (1.0 / 5.0 + y2 * (1.0 / 7.0 + y2 * (1.0 / 9.0 +
      y2 * (1.0 / 11.0 + y2 * (1.0 / 13.0 + y2 * (1.0 / 15.0 + y2 / 17.0))))))));
  }
  return log(1.0 + x);
}

fn logf(x: f32) -> f32 {
  if (x >= 0.5 && x <= 2.0) { return log1pf(x - 1.0); }
  return log(x);
}

// quad solves a t + (b - a) t^2 / 2 = B for t >= 0 (the VPs' integrated
// beta), in the form that does not cancel for small B.
fn quad(B: f32) -> f32 {
  return 2.0 * B / (p.a + sqrt(p.a * p.a + 2.0 * (p.b - p.a) * B));
}

// vp_b is the VP's integrated beta where var = s0 + vms0 = 1 - omv:
// -log(1 - vms0 / (1 - s0)), from whichever of the two is not rounded away.
fn vp_b(vms0: f32, omv: f32) -> f32 {
  let x = vms0 / (1.0 - p.s0);
  if (x < 0.5) { return -log1pf(-x); }
  return p.l1ms0 - logf(omv);
}

// subvp_b is the sub-VP's -log(1 - sqrt(var)), given sqrt(var) and
// 1 - sqrt(var).
fn subvp_b(sq: f32, omsq: f32) -> f32 {
  if (sq < 0.5) { return -log1pf(-sq); }
  return -logf(omsq);
}

// The SDE at t: mean m, variance v, 1 - v, g^2, and g^2 / (d var / dt).
struct At { m: f32, v: f32, omv: f32, g2: f32, r: f32 }

fn sde_at(t: f32) -> At {
  var o: At;
  switch p.kind {
    case 0u: {
      let B = t * (p.a + 0.5 * (p.b - p.a) * t);
      o.m = exp(-0.5 * B);
      o.v = p.s0 - (1.0 - p.s0) * expm1f(-B);
      o.omv = (1.0 - p.s0) * exp(-B);
      o.g2 = p.a + (p.b - p.a) * t;
      o.r = 1.0 / o.omv;
    }
    case 1u: {
      o.v = p.a * expm1f(t * p.lr) + p.s0;
      o.omv = p.cgeo - p.b * expm1f((t - 1.0) * p.lr);
      o.m = sqrt(o.omv / (1.0 - p.s0));
      o.g2 = p.a * exp(t * p.lr) * p.lr / o.omv;
      o.r = 1.0 / o.omv;
    }
    case 2u: {
      let sg = p.a * exp(t * p.lr);
      o.v = sg * sg;
      o.m = 1.0;
      o.g2 = 2.0 * o.v * p.lr;
      o.omv = 1.0 - o.v;
    }
    default: {
      let B = t * (p.a + 0.5 * (p.b - p.a) * t);
      let e = exp(-B);
      let d = -expm1f(-B);
      o.v = d * d;
      o.omv = 1.0 - o.v;
      o.m = exp(-0.5 * B);
      o.g2 = (p.a + (p.b - p.a) * t) * d * (1.0 + e);
      o.r = (1.0 + e) / (2.0 * e);
    }
  }
  return o;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let words = philox(vec4<u32>(i / 4u, 0u, p.step, p.stream), vec2<u32>(p.seed_lo, p.seed_hi));
  let rho = uniform23(words[i % 4u]);
  var t: f32;
  var dens = 0.0; // the table's density of t
  switch p.draw {
    case 0u: { t = p.eps + (1.0 - p.eps) * rho; }
    case 1u: {
      // log var from the nearer end: its rounding is what t inherits
      var lv = p.lv0 + rho * p.dlv;
      if (rho > 0.5) { lv = p.lv1 - (1.0 - rho) * p.dlv; }
      // var - s0 without cancelling near var = s0
      var vms0 = exp(lv);
      if (p.s0 > 0.0) { vms0 = p.s0 * expm1f(p.lv0s + rho * p.dlv); }
      switch p.kind {
        case 0u: { t = quad(vp_b(vms0, -expm1f(lv))); }
        case 1u: { t = log1pf(vms0 / p.a) / p.lr; }
        default: { t = quad(subvp_b(exp(0.5 * lv), -expm1f(0.5 * lv))); }
      }
    }
    case 2u: {
      let omv = p.omv1 + (1.0 - rho) * p.dv;
      let vms0 = p.v0ms0 + rho * p.dv;
      switch p.kind {
        case 0u: { t = quad(vp_b(vms0, omv)); }
        case 1u: { t = log1pf(vms0 / p.a) / p.lr; }
        default: {
          let sq = sqrt(vms0);
          t = quad(subvp_b(sq, omv / (1.0 + sq)));
        }
      }
    }
    default: {
      var lo = 0u;
      var hi = p.ntab; // table[lo] <= rho < table[hi]
      while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (table[mid] <= rho) { lo = mid; } else { hi = mid; }
      }
      let f = (rho - table[lo]) / (table[lo + 1u] - table[lo]);
      t = p.eps + (1.0 - p.eps) * (f32(lo) + f) / f32(p.ntab);
      dens = table[p.ntab + 1u + lo];
    }
  }
  t = clamp(t, p.eps, 1.0);
  let s = sde_at(t);
  var w: f32;
  switch p.draw {
    case 0u: {
      var wt = 1.0;
      if (p.weight == 0u) { wt = s.g2 / s.v; } else if (p.weight == 2u) { wt = s.g2; }
      w = wt * (1.0 - p.eps) * 0.5;
    }
    case 1u: { w = s.r * p.dlv * 0.5; }
    case 2u: { w = s.r * p.dv * 0.5; }
    default: { w = 0.5 / dens; }
  }
  let sg = sqrt(s.v);
  out[i] = t;
  out[p.stride + i] = w;
  out[2u * p.stride + i] = s.m;
  out[3u * p.stride + i] = sg;
  out[4u * p.stride + i] = sg / (s.m * s.m + s.v);
}
