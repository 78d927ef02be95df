// Runs a GOOS=js Go program in Node with the SIMD kernels loaded on its
// memory (see node-exec). Arguments: GOROOT/lib/wasm, the program, its args.
"use strict";
const [wasmLib, prog, ...args] = process.argv.slice(2);
globalThis.require = require;
globalThis.fs = require("fs");
globalThis.path = require("path");
globalThis.TextEncoder = require("util").TextEncoder;
globalThis.TextDecoder = require("util").TextDecoder;
globalThis.performance ??= require("performance");
globalThis.crypto ??= require("crypto");
require(path.join(wasmLib, "wasm_exec.js"));

(async () => {
  const go = new Go();
  go.argv = [prog, ...args];
  go.env = Object.assign({ TMPDIR: require("os").tmpdir() }, process.env);
  go.exit = process.exit;
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(prog), go.importObject);
  const kernels = await WebAssembly.instantiate(fs.readFileSync(process.env.LSGM_KERNELS),
    { env: { memory: instance.exports.mem } });
  globalThis.lsgmKernels = kernels.instance.exports;
  process.on("exit", (code) => { // as Go's runner: report a deadlock
    if (code === 0 && !go.exited) {
      go._pendingEvent = { id: 0 };
      go._resume();
    }
  });
  await go.run(instance);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
