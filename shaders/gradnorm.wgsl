// Global-norm gradient clipping and the non-finite guard, on the device so a
// training step needs no round trip. partial: PARTS workgroups each add the
// squares of a strided share of one gradient range into their slot. decide:
// one thread adds each group's slots into its norm, writes the clipping
// factor clip / norm where the norm exceeds clip (runtime.ClipFactor), and
// the flag (1: every norm finite) that adam.wgsl and ema.wgsl obey; on a
// finite step it also counts the step of each group's optimizer (counter
// gid0, gid1: runtime.CountT), from which adam.wgsl takes its bias
// corrections and warm-up.

struct Params { n: u32, slot: u32, groups: u32, parts: u32, clip: f32, gid0: u32, gid1: u32, _p: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> parts: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>; // finite, norms[groups], clips[groups]
@group(0) @binding(4) var<storage, read_write> counters: array<f32>; // runtime.Count*

const WG = 64u;
var<workgroup> acc: array<f32, WG>;

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = wg.x * WG + li; i < p.n; i += p.parts * WG) { s += x[i] * x[i]; }
  acc[li] = s;
  workgroupBarrier();
  if (li == 0u) {
    var t = 0.0;
    for (var j = 0u; j < WG; j++) { t += acc[j]; }
    parts[p.slot * p.parts + wg.x] += t;
  }
}

@compute @workgroup_size(1)
fn decide() {
  var finite = 1.0;
  for (var g = 0u; g < p.groups; g++) {
    var s = 0.0;
    for (var j = 0u; j < p.parts; j++) {
      s += parts[g * p.parts + j];
      parts[g * p.parts + j] = 0.0; // ready for the next step
    }
    let norm = sqrt(s);
    // NaN fails every comparison; +Inf is caught by the bound.
    if (!(norm <= 3.0e38)) { finite = 0.0; }
    var f = 1.0;
    if (p.clip > 0.0 && norm > p.clip) { f = p.clip / norm; }
    state[1u + g] = norm;
    state[1u + p.groups + g] = f;
  }
  state[0] = finite;
  if (finite == 1.0) {
    counters[p.gid0] += 1.0;
    if (p.groups > 1u) { counters[p.gid1] += 1.0; }
  }
}
