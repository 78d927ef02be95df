// A training batch of images (runtime.TrainImages), gathered on the device
// from the whole dataset uploaded once as bytes (4 a word, little-endian):
// sample i of the batch is image idx[i], its pixels k in 0..255 turned into
// the likelihood's scale. mode 0: the logistic's bin centres 2k/255 - 1;
// 1: k/255; 2: dynamically binarized, 1 where a uniform falls below k/255;
// 3: uniformly dequantized within the bin, (k + u) 2/256 - 1 (the data-space
// model). The uniforms are Philox's: counter (element/4, sample, step,
// stream), key the seed, word element%4.

struct Params {
  seed_lo: u32, seed_hi: u32, d: u32, count: u32,
  step: u32, stream: u32, mode: u32, _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

//#include philoxcore

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= p.count * p.d) { return; }
  let i = e / p.d;
  let j = e % p.d;
  let at = idx[i] * p.d + j;
  let k = f32((data[at / 4u] >> (8u * (at % 4u))) & 0xffu);
  var v: f32;
  switch p.mode {
    case 0u: { v = k * (2.0 / 255.0) - 1.0; }
    case 1u: { v = k * (1.0 / 255.0); }
    default: {
      let w = philox(vec4<u32>(j / 4u, i, p.step, p.stream), vec2<u32>(p.seed_lo, p.seed_hi));
      let u = uniform23(w[j % 4u]);
      if (p.mode == 2u) {
        v = select(0.0, 1.0, u < k * (1.0 / 255.0));
      } else {
        v = (k + u) * (2.0 / 256.0) - 1.0;
      }
    }
  }
  x[e] = v;
}
