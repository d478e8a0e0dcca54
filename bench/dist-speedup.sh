#!/usr/bin/env bash
# One data-parallel timing run: `bash bench/dist-speedup.sh METHOD NPROC` trains METHOD (lst or
# lora) for 6 updates of a global batch of 64 SST-2 examples on arch:t5-small (random weights,
# the T5 tokenizer of ../shared) with NPROC workers (--nproc; --threads defaults to cores / N),
# in a scratch run folder removed afterwards. Time it as a whole process, 1 against 2 workers:
#   /usr/bin/time -v bash bench/dist-speedup.sh lst 1; /usr/bin/time -v bash bench/dist-speedup.sh lst 2
# The training lines go to stderr (their tok/s is the global batch's tokens over rank 0's time).
set -euo pipefail
cd "$(dirname "$0")/.."
method=${1:?METHOD (lst or lora)}
nproc=${2:?NPROC}
shared=${LADDER_SHARED:-../shared}
[[ -f $shared/tokenizers/t5/spiece.model && -d $shared/data/glue/SST-2 ]] ||
  { echo "dist-speedup: needs $shared/tokenizers/t5/spiece.model and $shared/data/glue/SST-2 (set LADDER_SHARED)" >&2; exit 2; }
settings=()
[[ $method == lst ]] && settings=(--settings '{"side_init": "magnitude"}')  # the training steps only, no Fisher pass
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
build/ladder train --nproc "$nproc" --model arch:t5-small --tokenizer "$shared/tokenizers/t5/spiece.model" \
  --task sst2 --data "$shared/data/glue" --max-train-examples 2048 --max-eval-examples 64 --batch-size 64 \
  --max-steps 6 --log-every 2 --method "$method" "${settings[@]}" --out "$run/run" >/dev/null
