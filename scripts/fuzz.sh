#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (torch-free core, clang, ASan + UBSan) into
# build-fuzz/ and runs each for SECONDS (default 60) on a copy of its seed corpus:
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]
# Installs clang and libclang-rt-14-dev (Debian 12, as root) when missing. Nothing is written
# into the source tree: corpora, scratch files and logs live in a temporary folder, which is
# kept (and named) when a target fails. Exits non-zero on any crash, sanitizer report, leak,
# timeout or out-of-memory. LADDER_FUZZ_JOBS sets the build parallelism (default 2);
# LADDER_FUZZ_TARGETS="safetensors index ..." runs only those targets (default: all eleven);
# LADDER_FUZZ_BUILD_DIR builds there instead of build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2; exit 2; }

packages=(clang libclang-rt-14-dev cmake ninja-build nlohmann-json3-dev liblzma-dev libhdf5-dev)
# shellcheck source=scripts/apt-packages.sh
source scripts/apt-packages.sh
apt_install_missing fuzz "${packages[@]}"

build=${LADDER_FUZZ_BUILD_DIR:-build-fuzz}
echo "== fuzz: building $build (clang, libFuzzer + ASan + UBSan)"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLADDER_FUZZ=ON -DLADDER_WITH_TORCH=OFF -DLADDER_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"${LADDER_FUZZ_JOBS:-2}"

# Seeds per target: files or folders (all files inside), relative to the repository root.
declare -A seeds=(
  [safetensors]="tests/fuzz/corpus/safetensors"
  [index]="tests/fuzz/corpus/index"
  [spiece]="tests/fuzz/corpus/spiece tests/data/tokenizer/tiny-spiece.model tests/data/tokenizer/tiny-bpe.model"
  [llama2c_tokenizer]="tests/fuzz/corpus/llama2c_tokenizer"
  [tsv]="tests/data/glue_samples/*/*.tsv tests/data/glue_samples/*/*.txt tests/data/glue_samples/malformed/*/*.tsv tests/data/custom_samples/*.tsv"
  [csv]="tests/data/custom_samples/*.csv"
  [jsonl]="tests/fuzz/corpus/jsonl tests/data/custom_samples/*.jsonl tests/data/trainer/sentiment.jsonl"
  [config]="tests/fuzz/corpus/config tests/data/fixtures/*/config.json tests/data/llama/*/config.json"
  [vl_tasks]="tests/data/vl/*/*.json tests/data/vl_world/vqa/test.json tests/data/vl_world/gqa/valid.json"
  [vl_metrics]="tests/fuzz/corpus/vl_metrics"
  [chat_template]="tests/fuzz/corpus/chat_template"
  [vl_features]="tests/fuzz/corpus/vl_features tests/data/vl/features_h5 tests/data/vl/features.safetensors tests/data/vl_world/features/synth_000000.h5"
)
declare -A dicts=([safetensors]=1 [index]=1 [jsonl]=1 [config]=1 [vl_tasks]=1)
# libhdf5 (C, not instrumented) mallocs sizes read from the file and handles a NULL answer as an
# error; ASan's default is to abort on a request beyond its limit instead, so for the HDF5
# reader malloc returns NULL as glibc's does (C++ new still aborts: ladder's own code is held
# to the usual rule).
declare -A asan_extra=([vl_features]=":allocator_may_return_null=1:fast_unwind_on_malloc=0")
# HDF5's own leaks when an open fails on a corrupt file (see the file) are not ladder's; the full (slow) unwind on
# malloc lets the suppression see H5Fopen in stacks through the uninstrumented libhdf5.
declare -A lsan_extra=([vl_features]="suppressions=$root/tests/fuzz/lsan-hdf5.supp")
# libhdf5 1.10.8 (Debian 12) has its own crashes on corrupt files (for example a NULL memcpy in
# its local-heap reader under H5Lexists, after a malloc of a size read from the file failed);
# ladder cannot reach inside it. For these targets a crash or out-of-memory whose first frame
# past the sanitizer, allocator and libc memory functions lies in that library is recorded as
# upstream (report, input kept) and fuzzing goes on from the grown corpus; one anywhere else
# (ladder's code, the harness) fails the run as always.
declare -A upstream_library=([vl_features]="libhdf5")
max_upstream_restarts=20
read -r -a targets <<<"${LADDER_FUZZ_TARGETS:-safetensors index spiece llama2c_tokenizer tsv csv jsonl config vl_tasks vl_metrics vl_features chat_template}"

work=$(mktemp -d "${TMPDIR:-/tmp}/ladder-fuzz.XXXXXX")
# Scratch files of the path-based readers (rewritten for every input) go to RAM when it can.
scratch_root=$work
[[ -d /dev/shm && -w /dev/shm ]] && scratch_root=/dev/shm
scratch=$(mktemp -d "$scratch_root/ladder-fuzz-scratch.XXXXXX")
keep=""
trap 'rm -rf "$scratch"; [[ -n $keep ]] || rm -rf "$work"' EXIT

# The first frame of a sanitizer or libFuzzer report that is not the sanitizer runtime, the
# fuzzer, an allocator or a libc memory function: "FUNCTION (MODULE+OFFSET)" or "FUNCTION FILE:LINE".
first_frame() {
  grep -E '^ +#[0-9]+ 0x[0-9a-f]+ ' "$1" |
    grep -vE ' in (__sanitizer|__asan|__lsan|__ubsan|__interceptor_|__memcpy|__memmove|__memset|__mem[a-z]*_avx|mem(cpy|move|set)|(m|c|re)alloc|free|operator new|fuzzer::|__sanitizer::|__asan::)' |
    head -n 1 | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ (in )?//; s/ \(BuildId: [0-9a-f]+\)//'
}
# True when the report in LOG is a crash or out-of-memory (not a leak, a timeout or ladder's own
# failure message) and its first frame lies in LIBRARY.
crash_is_in() {
  grep -qE '^==[0-9]+== ?ERROR: (AddressSanitizer|libFuzzer: out-of-memory \(malloc)' "$1" || return 1
  grep -q '^ladder fuzz:' "$1" && return 1
  [[ $(first_frame "$1") == *"/$2"* ]]
}

total=0
ran=0
failed=()
for target in "${targets[@]}"; do
  binary=$build/fuzz_$target
  [[ -n ${seeds[$target]:-} ]] || { echo "fuzz: unknown target '$target'" >&2; exit 2; }
  if [[ ! -x $binary ]]; then
    echo "== fuzz_$target: not built (see the CMake configure output), skipped"
    continue
  fi
  corpus=$work/corpus/$target
  mkdir -p "$corpus" "$work/artifacts/$target" "$scratch/$target"
  for pattern in ${seeds[$target]}; do  # unquoted: the globs expand here
    for seed in $pattern; do
      if [[ -d $seed ]]; then
        cp "$seed"/* "$corpus"/
      elif [[ -f $seed ]]; then
        cp "$seed" "$corpus/$(echo "${seed#tests/}" | tr / _)"
      else
        echo "fuzz: missing seed $seed" >&2
        exit 1
      fi
    done
  done
  flags=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
         -artifact_prefix="$work/artifacts/$target/")
  [[ -n ${dicts[$target]:-} ]] && flags+=(-dict="$root/tests/fuzz/json.dict")
  log=$work/$target.log
  echo "== fuzz_$target: ${seconds}s on $(ls "$corpus" | wc -l) seeds"
  deadline=$((SECONDS + seconds))
  execs=0
  upstream=0
  while :; do
    status=0
    TMPDIR=$scratch/$target ASAN_OPTIONS=detect_leaks=1${asan_extra[$target]:-} LSAN_OPTIONS=${lsan_extra[$target]:-} UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$binary" "${flags[@]}" -max_total_time=$((deadline > SECONDS ? deadline - SECONDS : 1)) "$corpus" >"$log" 2>&1 || status=$?
    run_execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    execs=$((execs + ${run_execs:-0}))
    ((status != 0)) || break
    library=${upstream_library[$target]:-}
    [[ -n $library ]] && crash_is_in "$log" "$library" || break
    upstream=$((upstream + 1))
    keep=1
    cp "$log" "$work/$target.upstream-$upstream.log"
    echo "fuzz_$target: a crash inside $library (upstream, not ladder's): $(first_frame "$log"); input and log kept in $work"
    if ((upstream >= max_upstream_restarts)); then
      echo "fuzz_$target: $upstream crashes inside $library; fuzzing could not go on"
      break
    fi
    if ((deadline <= SECONDS)); then
      status=0
      break
    fi
  done
  ran=$((ran + 1))
  total=$((total + execs))
  if ((status != 0)); then
    failed+=("fuzz_$target")
    keep=1
    echo "fuzz_$target: FAILED (exit $status) after $execs executions; log $log"
    # The report: the sanitizer's or libFuzzer's error line, the stack, the input's file.
    sed -n '/^==[0-9]*==ERROR\|runtime error\|^ladder fuzz:\|ALARM\|out-of-memory\|Test unit written/,$p' "$log" |
      grep -v '^ *#[0-9]* .* in fuzzer::\|__libc_start\|in _start\|in main ' | cut -c1-240 | head -n 40 || true
  elif ((upstream > 0)); then
    echo "fuzz_$target: $execs executions, corpus now $(ls "$corpus" | wc -l) inputs, no crash in ladder ($upstream inside ${upstream_library[$target]})"
  else
    echo "fuzz_$target: $execs executions, corpus now $(ls "$corpus" | wc -l) inputs, no crash"
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]} (crash inputs and logs kept in $work); $total executions over $ran targets"
  exit 1
fi
echo "fuzz: $total executions over $ran targets (${seconds}s each), no crashes"
