#!/usr/bin/env bash
# Builds the browser build's WebAssembly SIMD kernels (one C file per op in
# this folder) into one module, lsgm-kernels.wasm, with Debian's clang and
# lld, and checks what makes it safe to run on the Go program's memory:
# it imports that memory, has no data segment and never touches a global
# (the C stack pointer), so it writes only the buffers it is handed.
# Usage: build.sh OUT.wasm
set -euo pipefail
out=${1:?usage: build.sh OUT.wasm}
dir=$(cd "$(dirname "$0")" && pwd)
for tool in clang wasm-ld wasm-objdump; do
	command -v "$tool" >/dev/null || { echo "simd: $tool not found (make setup installs clang, lld and wabt)" >&2; exit 1; }
done
clang --target=wasm32 -msimd128 -mbulk-memory -O3 -nostdlib -Wall -Werror \
	-Wl,--no-entry -Wl,--import-memory -Wl,--strip-debug \
	-o "$out" "$dir"/*.c
sections=$(wasm-objdump -h "$out")
if grep -qE '^ *(Data|DataCount) ' <<<"$sections"; then
	echo "simd: $out has a data segment, which would overwrite the Go program's memory" >&2
	exit 1
fi
if wasm-objdump -d "$out" | grep -qE 'global\.(get|set)'; then
	echo "simd: $out uses the C stack (a global), which lives in the Go program's memory; keep temporaries in locals" >&2
	exit 1
fi
