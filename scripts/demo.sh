#!/usr/bin/env bash
# The main demonstration: builds ladder (scripts/setup.sh), shows what LST trains on
# T5-base and runs the CLI's forward pass on the reference fixtures, comparing it with the
# outputs Hugging Face transformers computed (tests/data/fixtures/*/golden.safetensors); then
# fine-tunes a real pretrained model (llama2.c's stories260K, with its own tokenizer) with LST
# until it answers questions about stories it has not seen, with its text before and after; and
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

# Real weights: llama2.c's stories260K (pretrained on TinyStories) with its own tokenizer, as a
# Hugging Face folder. It tells the story llama2.c documents, and knows nothing of questions.
stories=tests/data/llama2c
printf '\n== stories260K, a real pretrained Llama, with its own tokenizer\n'
run convert llama2c "$stories/stories260K.bin" --tokenizer "$stories/tok512.bin" --out "$work/stories260K"
run generate --model "$work/stories260K" --max-new-tokens 60 "Once upon a time"
question="Lucy had a green kite. She took it to the park. Q: What color was the kite? A:"
printf '\n== Before fine-tuning: a question about a story gets more story\n'
run generate --model "$work/stories260K" --max-new-tokens 16 "$question"

# LST on story questions (assets/story-qa: 2,000 training pairs, new stories in validation and
# test): only the side network (ladders from the frozen model's blocks) learns to answer.
printf '\n== Fine-tuning it with LST: 300 updates of 16 story questions (about 20 s)\n'
run train --model "$work/stories260K" --task completion --data assets/story-qa --method lst \
  --settings '{"reduction": 4, "fisher_samples": 256}' --lr 1e-2 --batch-size 16 --max-steps 300 \
  --warmup-steps 30 --eval-every 100 --log-every 50 --threads 2 --out "$work/story-qa-lst" >/dev/null
run eval --run "$work/story-qa-lst" --split test --checkpoint last --threads 2
printf '\n== After: the same question, and two it has not seen\n'
run predict --run "$work/story-qa-lst" --checkpoint last "$question" \
  "Tom had a purple car. He showed it to Mom. Q: What color was the car? A:" \
  "Mia had an orange doll. She was very happy. Q: What color was the doll? A:"

# The comparison LST is about: peak memory by category and step time of one AdamW training
# step per method, each in a fresh process (a few minutes on 2 cores; progress on stderr).
printf '\n== Training memory and speed per method: arch:t5-small, CPU, batch 8, source 128, target 8\n'
run bench memory --model arch:t5-small --batch 8 --src-len 128 --tgt-len 8 \
  --methods full,lora,adapter,bitfit,prompt,lst
