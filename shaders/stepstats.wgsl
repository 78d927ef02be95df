// A device-resident training step's bookkeeping (runtime.StepStats), one
// thread after the optimizer: on a finite step it adds the step's values
// (its loss parts and the posterior's statistic, gathered into vals, and
// each optimizer group's gradient norm from gradnorm.wgsl's state) into the
// counters' sums and counts it, clearing the run of skipped steps; on a
// non-finite one it counts the skip and the run. The host reads the
// counters once per logged step.

struct Params { groups: u32, gid0: u32, gid1: u32, nvals: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> vals: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// The counters' layout: runtime.Count*.
const SKIPPED = 2u;
const STREAK = 3u;
const MAXSTREAK = 4u;
const FINITE = 5u;
const SUMS = 6u;

@compute @workgroup_size(1)
fn main() {
  if (state[0] != 1.0) {
    c[SKIPPED] += 1.0;
    c[STREAK] += 1.0;
    c[MAXSTREAK] = max(c[MAXSTREAK], c[STREAK]);
    return;
  }
  c[STREAK] = 0.0;
  c[FINITE] += 1.0;
  for (var i = 0u; i < p.nvals; i++) { c[SUMS + i] += vals[i]; }
  // the norms: group gid's at SUMS + nvals + gid
  c[SUMS + p.nvals + p.gid0] += state[1u];
  if (p.groups > 1u) { c[SUMS + p.nvals + p.gid1] += state[2u]; }
}
