#!/usr/bin/env bash
# The GPU check, ready for a CUDA machine lent for minutes (an H200 with PyTorch 2.x, no package
# installs, no network):
#
#   scripts/gpu-check.sh          build against the machine's PyTorch libtorch, run the CUDA and
#                                 attention tests, then the paper's setting (arch:t5-base, batch
#                                 100, source 128, target 8; fp32 and bf16; all six methods;
#                                 t5-large full vs lst); one table last, memory as GiB and as the
#                                 authors' "GB" (max_memory_allocated / 1024**2 / 1000)
#   scripts/gpu-check.sh --cpu    the same steps on a CPU libtorch 2.x (Debian 13's, in the chroot
#                                 of scripts/trixie-root.sh; needs root) with small shapes, so the
#                                 script itself is tested before any GPU sees it
#
# What it needs besides libtorch: CMake, a C++17 compiler, python3, and nlohmann-json, CLI11 and
# GoogleTest, which scripts/fetch-debs.sh unpacks into third_party/debs (carry that folder).
# Outputs go to $OUT (default /tmp/ladder-gpu-check): build log, JSON, the table (table.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=cuda
[[ ${1:-} == --cpu ]] && mode=cpu
out=${OUT:-/tmp/ladder-gpu-check}
mkdir -p "$out"
start=$SECONDS
stamp() { echo "== [$((SECONDS - start)) s] $*"; }

if [[ $mode == cpu && -z ${LADDER_IN_TRIXIE:-} ]]; then
  root=${LADDER_TRIXIE_ROOT:-/var/tmp/ladder-trixie}
  # shellcheck source=scripts/trixie-root.sh
  source scripts/trixie-root.sh
  trap trixie_leave EXIT INT TERM
  trixie_root_ready "$root" python3
  trixie_enter "$root" "$PWD"
  mkdir -p "$root/tmp/ladder-gpu-check"
  trixie_run "$root" env LADDER_IN_TRIXIE=1 OUT=/tmp/ladder-gpu-check bash scripts/gpu-check.sh --cpu
  cp "$root"/tmp/ladder-gpu-check/* "$out"/ 2>/dev/null || true
  exit 0
fi

if [[ $mode == cuda ]]; then
  build=build-gpu
  prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  cxx_flags=""
  if [[ -d third_party/debs/usr ]]; then
    prefix="$prefix;$PWD/third_party/debs/usr;$PWD/third_party/debs/usr/lib/x86_64-linux-gnu/cmake"
    cxx_flags="-I$PWD/third_party/debs/usr/include"
  fi
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  stamp "configure against $(python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda)')"
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_FLAGS="$cxx_flags" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
  grep "ladder: libtorch" "$out/build.log" || true
  stamp "build (-j$(nproc))"
  cmake --build "$build" -j"$(nproc)" >>"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
  device=cuda
  base="arch:t5-base" large="arch:t5-large" shape=(--batch 100 --src-len 128 --tgt-len 8)
else
  build=build-torch2  # the build scripts/test-libtorch2.sh keeps
  stamp "build against $(dpkg-query -W -f='libtorch-dev ${Version}' libtorch-dev) (CPU)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >"$out/build.log" 2>&1 ||
    { tail -30 "$out/build.log"; exit 1; }
  cmake --build "$build" -j"$(nproc)" >>"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
  device=cpu
  base="arch:t5-small" large="arch:t5-small" shape=(--batch 2 --src-len 32 --tgt-len 8 --warmup 1 --steps 2)
fi

stamp "CUDA, attention and golden LST tests"
"$build/ladder_tests" --gtest_filter='Cuda*:AttentionKernels*:AttentionCore*:Fixtures/LstGolden*:Fidelity.NativeRandperm*' \
  >"$out/tests.log" 2>&1 || { tail -40 "$out/tests.log"; exit 1; }
grep -E "^\[  (PASSED|SKIPPED|FAILED) " "$out/tests.log" | sort | uniq -c | head -5
grep -m1 "no CUDA here" "$out/tests.log" || true

jsons=()
for precision in fp32 bf16; do
  stamp "bench memory $base, $device, $precision, every method"
  "$build/ladder" bench memory --model "$base" "${shape[@]}" --methods full,lora,adapter,bitfit,prompt,lst \
    --device "$device" --precision "$precision" --json "$out/base-$precision.json" >"$out/base-$precision.txt" 2>"$out/base-$precision.err" ||
    { tail -5 "$out/base-$precision.err"; }
  jsons+=("$out/base-$precision.json")
done
stamp "bench memory $large, $device, fp32, full vs lst"
"$build/ladder" bench memory --model "$large" "${shape[@]}" --methods full,lst --device "$device" --precision fp32 \
  --json "$out/large-fp32.json" >"$out/large-fp32.txt" 2>"$out/large-fp32.err" || { tail -5 "$out/large-fp32.err"; }
jsons+=("$out/large-fp32.json")

stamp "done; the table ($out/table.md)"
echo "peers measured on one H100 with the same shapes (transformers / PEFT / plain PyTorch LST):"
echo "  full fp32 15.2 GiB 0.256 s | LoRA fp32 9.7 GiB 0.206 s | plain LST fp32 4.40 GiB 0.138 s, bf16 4.0 GiB 0.099 s"
echo "  the paper (T5-base, batch 100): full 17.6 GB, LoRA 12.6 GB, LST 5.5 GB"
python3 bench/gpu_table.py "$out/table.md" "${jsons[@]}"
