// Sum over the middle axis: x [outer, k, inner] -> y [outer, inner], the
// gradient of a broadcast. Short sums (k < 256: a row or a column of an
// image) run one thread per output; long ones (over a batch of pixels) one
// workgroup of 64 threads per output, each thread summing a strided share
// before one thread adds the 64 partial sums.

struct Params { outer: u32, k: u32, inner: u32, _p: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= p.outer * p.inner) { return; }
  let base = (e / p.inner) * p.k * p.inner + e % p.inner;
  var s = 0.0;
  for (var j = 0u; j < p.k; j++) { s += x[base + j * p.inner]; }
  y[e] = s;
}

const WG = 64u;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(64)
fn wide(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = wg.x + wg.y * nwg.x;
  let live = e < p.outer * p.inner;
  var s = 0.0;
  if (live) {
    let base = (e / p.inner) * p.k * p.inner + e % p.inner;
    for (var j = li; j < p.k; j += WG) { s += x[base + j * p.inner]; }
  }
  part[li] = s;
  workgroupBarrier();
  if (li == 0u && live) {
    var t = 0.0;
    for (var i = 0u; i < WG; i++) { t += part[i]; }
    y[e] = t;
  }
}
