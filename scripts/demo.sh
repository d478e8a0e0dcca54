#!/usr/bin/env bash
# The main demonstration: builds ladder (scripts/setup.sh), shows what LST trains on
# T5-base and runs the CLI's forward pass on the reference fixtures, comparing it with the
# outputs Hugging Face transformers computed (tests/data/fixtures/*/golden.safetensors), and
# ends with the memory/speed table of every method.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh ladder_cli  # only what the demo runs; scripts/test.sh builds the rest
ladder=build/ladder
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Shows the command as one would type it, then runs it.
run() {
  local shown="ladder" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:,=+-]+$ ]]; then shown+=" $arg"; else shown+=" '${arg//\'/\'\\\'\'}'"; fi
  done
  printf '\n$ %s\n' "$shown"
  "$ladder" "$@"
}

run inspect arch:t5-base
run inspect arch:t5-base --method lst
run tokenize --tokenizer tests/data/tokenizer/spiece.model "sst2 sentence: it's a charming and often affecting journey."

# Max |difference| per output tensor against golden.safetensors (Python standard library only).
compare() {
  python3 - "$1" "$2" <<'PY'
import json, struct, sys

def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        begin, end = info["data_offsets"]
        out[name] = struct.unpack("<%df" % ((end - begin) // 4), data[begin:end])
    return out

ours, golden = read(sys.argv[1]), read(sys.argv[2])
worst = 0.0
for name in sorted(ours):
    diff = max(abs(a - b) for a, b in zip(ours[name], golden[name]))
    worst = max(worst, diff)
print("  %d tensors compared, loss %.6f (transformers %.6f), max |difference| %.2e -> %s"
      % (len(ours), ours["loss"][0], golden["loss"][0], worst, "OK" if worst <= 1e-4 else "MISMATCH"))
sys.exit(0 if worst <= 1e-4 else 1)
PY
}

for fixture in t5-tiny-v1_0 t5-tiny-v1_1 t5-tiny-relpos t5-tiny-untied; do
  dir=tests/data/fixtures/$fixture
  # golden.safetensors holds the inputs too; forward reads input_ids, attention_mask, labels
  # and decoder_input_ids from it and ignores the rest.
  run forward --model "$dir" --inputs "$dir/golden.safetensors" --output "$work/$fixture.safetensors"
  if command -v python3 >/dev/null; then
    compare "$work/$fixture.safetensors" "$dir/golden.safetensors"
  fi
done

# A backbone ladder pretrained itself (assets/t5-mini-dict-wd, see its README): LST on a slice of
# SST-2, then the test split. Seconds, not an accuracy claim (that is bench/accuracy.sh).
glue=${GLUE_DIR:-../shared/data/glue}
if [[ -f $glue/SST-2/train.tsv ]]; then
  printf '\n== Fine-tuning the bundled pretrained backbone with LST (40 updates on SST-2)\n'
  run train --model assets/t5-mini-dict-wd --task sst2 --data "$glue" --method lst --batch-size 16 \
    --max-steps 40 --warmup-steps 4 --max-train-examples 640 --max-eval-examples 200 --log-every 10 --threads 2 \
    --settings '{"reduction": 4, "fisher_samples": 32}' --out "$work/sst2-lst"
  run eval --run "$work/sst2-lst" --split test --threads 2
else
  printf '\n(skipping the fine-tuning demo: %s is missing; set GLUE_DIR to a GLUE folder)\n' "$glue/SST-2/train.tsv"
fi

# The comparison LST is about: peak memory by category and step time of one AdamW training
# step per method, each in a fresh process (a few minutes on 2 cores; progress on stderr).
printf '\n== Training memory and speed per method: arch:t5-small, CPU, batch 8, source 128, target 8\n'
run bench memory --model arch:t5-small --batch 8 --src-len 128 --tgt-len 8 \
  --methods full,lora,adapter,bitfit,prompt,lst
