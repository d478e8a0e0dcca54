#!/usr/bin/env bash
# For a CUDA machine with PyTorch 2.x (no package installs needed): builds ladder against
# PyTorch's libtorch, runs the test suite with CUDA available, then the memory/speed
# benchmark in the paper's setting (t5-base shape, batch 100, source 128, target 8) in
# fp32 and bf16, and prints the tables last.
# Header-only dependencies missing there (nlohmann-json, CLI11, GoogleTest) can be carried
# as Debian packages unpacked into third_party/debs (see scripts/fetch-debs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
extra_prefix="$prefix"
if [ -d third_party/debs/usr ]; then
  extra_prefix="$prefix;$PWD/third_party/debs/usr;$PWD/third_party/debs/usr/lib/x86_64-linux-gnu/cmake"
fi
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$extra_prefix" \
  -DCMAKE_CXX_FLAGS="-I$PWD/third_party/debs/usr/include" > build-gpu.log 2>&1 || { tail -30 build-gpu.log; exit 1; }
cmake --build build-gpu -j"$(nproc)" >> build-gpu.log 2>&1 || { grep -E "error" build-gpu.log | head -30; exit 1; }

(cd build-gpu && ctest -j4 --output-on-failure) | tail -15 || true

out=${OUT:-/tmp}
for precision in fp32 bf16; do
  build-gpu/ladder bench memory --model arch:t5-base --batch 100 --src-len 128 --tgt-len 8 \
    --methods full,lora,adapter,bitfit,prompt,lst --device cuda --precision "$precision" \
    --json "$out/bench-t5-base-$precision.json" > "$out/bench-t5-base-$precision.txt"
done
build-gpu/ladder bench memory --model arch:t5-large --batch 100 --src-len 128 --tgt-len 8 \
  --methods full,lst --device cuda --precision fp32 --json "$out/bench-t5-large-fp32.json" > "$out/bench-t5-large-fp32.txt"

echo "== peers (transformers / PEFT / plain PyTorch LST, one H100, same shape) =="
echo "full fp32 15.2 GiB 0.256 s | bf16 13.5 GiB 0.117 s; LoRA fp32 9.7 GiB 0.206 s | bf16 8.9 GiB 0.115 s"
echo "plain LST fp32 4.40 GiB 0.138 s | bf16 4.0 GiB 0.099 s; t5-large full 41.1 GiB 0.81 s, LST 11.6 GiB 0.39 s"
for f in "$out"/bench-t5-base-fp32.txt "$out"/bench-t5-base-bf16.txt "$out"/bench-t5-large-fp32.txt; do
  echo "== $f"; cat "$f"
done
