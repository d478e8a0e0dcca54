#!/usr/bin/env bash
# The first accuracy table on real weights: llama2.c's stories260K (a pretrained Llama, 260K
# parameters, its own 512-token tokenizer) against the same architecture with random weights
# (arch:MODEL), every fine-tuning method, each at its best learning rate from a small grid
# chosen on validation, two seeds; then `ladder bench accuracy` makes the table and the chart.
#
#   bench/stories.sh WORK_DIR [OUT_DIR]        (OUT_DIR: bench/results/stories260k)
#
# Two tasks:
#   text  adapting the language model to text outside its domain (TinyStories -> Debian's
#         fortunes): `--task text`, every token learned; scored by test perplexity;
#   sst2  SST-2 posed as prompts (the sentence, "\nlabel:", then the word negative/positive);
#         scored by test accuracy (the 872 GLUE dev sentences; 1,000 training rows held out
#         as validation, the paper's split).
#
# Phases (each resumable: a finished run is kept, an interrupted one resumed):
#   1. WORK/model: the converted checkpoint; WORK/data/fortunes/{train,validation,test}.tsv:
#      fortunes.tsv shuffled with a fixed generator and cut 80/10/10 (a single file has no test
#      split in ladder, and --max-eval-examples takes the first rows, so they must be shuffled).
#   2. grid: seed 1 of every backbone x task x method x learning rate (GRID_<method> below),
#      WORK/grid/<backbone>/<task>/<method>/lr<LR>/seed1.
#   3. choice: per backbone x task x method, the learning rate whose run has the highest
#      validation score at its LAST evaluation (metrics.json "last": the final model, which is
#      also the one tested; for text the score is -loss). Ties: the earlier (smaller) rate.
#      Written to OUT/chosen_lr.json with every grid score.
#   4. table: seeds SEEDS at the chosen rate: WORK/table/<backbone>/<task>/<method>/seed<N> is a
#      relative link to WORK/grid/.../lr<LR>/seed<N> (seed 1 is the grid's own run, same
#      settings), each scored with `ladder eval --split test --checkpoint last` on the whole
#      test split; then `ladder bench accuracy --runs WORK/table --out OUT`.
#
# Every setting goes through `ladder train` flags and so is recorded in each run's run.json;
# bench.json next to it records the wall time of `ladder train`, its updates and the mean
# seconds per update of training alone (from the trainer's eta in log.jsonl).
# Runs go JOBS at a time with THREADS CPU threads each (2 x 1 on a 2-core CPU).
# SMOKE=1: two methods, a few updates and eval examples: checks the pipeline end to end (~2 min).
set -euo pipefail
# WORK_DIR and OUT_DIR as given (relative to where the script is called from); the rest, and the
# defaults, relative to the repository.
[[ $# -ge 1 && -n $1 ]] || { echo "usage: bench/stories.sh WORK_DIR [OUT_DIR]" >&2; exit 2; }
WORK=$(realpath -m "$1")
OUT=bench/results/stories260k
[[ -n ${2:-} ]] && OUT=$(realpath -m "$2")
cd "$(dirname "$0")/.."
LADDER=${LADDER:-build/ladder}
CHECKPOINT=${CHECKPOINT:-tests/data/llama2c/stories260K.bin}  # llama2.c's run.c format
TOKENIZER=${TOKENIZER:-tests/data/llama2c/tok512.bin}         # its tokenizer (llama2.c's tok512.bin)
GLUE=${GLUE:-../shared/data/glue}
FORTUNES=${FORTUNES:-../shared/data/fortunes/fortunes.tsv}
SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
  METHODS=${METHODS:-"lora lst"}
else
  METHODS=${METHODS:-"full adapter lora bitfit prompt lst"}
fi
TASKS=${TASKS:-"sst2 text"}  # in this order: the longer runs first, so that each phase ends on short ones
SEEDS=${SEEDS:-"1 2"}
BACKBONES=${BACKBONES:-"pretrained random"}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}
DEVICE=${DEVICE:-cpu}  # or cuda on a GPU machine
TITLE=${TITLE:-"stories260K (pretrained Llama, 260K parameters) vs random weights: fortunes perplexity and SST-2 accuracy"}

die() { echo "bench/stories.sh: $*" >&2; exit 1; }
[[ -x $LADDER ]] || die "$LADDER is missing or not executable (build ladder, or set LADDER=path/to/ladder)"
[[ -f $CHECKPOINT ]] || die "$CHECKPOINT is missing (llama2.c's stories260K.bin; set CHECKPOINT=)"
[[ -f $TOKENIZER ]] || die "$TOKENIZER is missing (llama2.c's tok512.bin; set TOKENIZER=)"
[[ " $TASKS " != *" sst2 "* || -f $GLUE/SST-2/train.tsv ]] ||
  die "$GLUE/SST-2/train.tsv is missing (the ../shared GLUE data; set GLUE=the glue folder)"
[[ " $TASKS " != *" text "* || -f $FORTUNES ]] ||
  die "$FORTUNES is missing (the ../shared fortunes data; set FORTUNES=fortunes.tsv)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq): it reads the runs' metrics.json"

# ---- Recipe -------------------------------------------------------------------------------
# Batch 16, by length buckets. Updates per task, the same for every method, backbone and rate;
# sized so that the whole table (72 grid runs, 24 second seeds, 48 test evaluations) fits in
# an hour on 2 CPU cores, JOBS=2 x THREADS=1. Measured on the 2-core development machine
# (2026-12-07, JOBS=2, 1 thread each; CPU seconds, i.e. the wall time on an otherwise idle
# machine): an SST-2 run of 300 updates 30-65 s (LST fastest, prompt tuning slowest; about
# 0.09-0.19 s per update), a text run of 100 updates 25-55 s (fortunes average 69 tokens at the
# 128 cap, SST-2 prompts about 35), a whole test split 5-20 s: about 35 minutes for the table,
# about 50 when other work takes a third of the machine (bench.json per run has the times).
# Warmup a tenth of each run (ladder's default, the authors' 500, would outlast it). One
# validation evaluation, at the end, on the first 200 validation examples: the choice reads it
# (the final model, the one tested).
# text: loss on every token, texts cut to 128 tokens; SST-2: greedy decoding of the label word.
task_args() {
  if [[ $SMOKE == 1 ]]; then
    echo "--max-steps 6 --eval-every 3 --warmup-steps 1 --max-eval-examples 16 --log-every 2"
    return
  fi
  case $1 in
    text) echo "--max-steps 100 --eval-every 100 --warmup-steps 10 --max-eval-examples 200" ;;
    sst2) echo "--max-steps 300 --eval-every 300 --warmup-steps 30 --max-eval-examples 200" ;;
    *) echo "bench/stories.sh: no recipe for task $1" >&2; return 1 ;;
  esac
}
data_args() {
  case $1 in
    text) echo "--task text --data $WORK/data/fortunes --text-field text --max-target-length 128" ;;
    sst2) echo "--task sst2 --data $GLUE" ;;
    *) echo "bench/stories.sh: unknown task $1" >&2; return 1 ;;
  esac
}
# Test split: all of it (SST-2 872 sentences, fortunes 1,522 texts); SMOKE: the first 32.
TEST_EXAMPLES=0
[[ $SMOKE == 1 ]] && TEST_EXAMPLES=32

# Method settings: trainable shares near LST's at reduction 4 (side width 16: 5.33% of the
# 260,032 parameters): LoRA r 12 on q, v (5.17%), adapters with bottleneck d/8 (4.49%);
# BitFit (1.15%) and 25 prompt vectors (0.62%) have no knob that reaches it.
method_args() {
  case $1 in
    full)    echo "" ;;
    adapter) echo "--settings {\"reduction_factor\":8}" ;;
    lora)    echo "--settings {\"r\":12}" ;;
    bitfit)  echo "" ;;
    prompt)  echo "--settings {\"num_virtual_tokens\":25}" ;;
    lst)     echo "--settings {\"reduction\":4,\"fisher_samples\":128}" ;;
    *) echo "bench/stories.sh: unknown method $1" >&2; return 1 ;;
  esac
}
# Learning-rate grids, three half-decades each around the usual rates, scaled up for runs two
# orders of magnitude shorter than the paper's; LST's centred a decade above full fine-tuning's
# (the authors' advice: LST wants about 10x the baselines' rate; the paper: 3e-3 vs 3e-4).
# Adapters one step up from LoRA's: an interrupted first grid at these updates put both
# backbones' best adapter rate at 1e-2, the top of 1e-3..1e-2.
GRID_full=${GRID_full:-"3e-4 1e-3 3e-3"}
GRID_adapter=${GRID_adapter:-"3e-3 1e-2 3e-2"}
GRID_lora=${GRID_lora:-"1e-3 3e-3 1e-2"}
GRID_bitfit=${GRID_bitfit:-"3e-3 1e-2 3e-2"}
GRID_prompt=${GRID_prompt:-"3e-2 1e-1 3e-1"}
GRID_lst=${GRID_lst:-"3e-3 1e-2 3e-2"}
grid_of() { local v="GRID_$1"; echo "${!v}"; }

# ---- 1. Model and data ---------------------------------------------------------------------
MODEL=$WORK/model
mkdir -p "$WORK"
if [[ ! -f $MODEL/config.json ]]; then
  rm -rf "$MODEL.tmp"
  "$LADDER" convert llama2c "$CHECKPOINT" --tokenizer "$TOKENIZER" --out "$MODEL.tmp" >&2
  rm -rf "$MODEL" && mv "$MODEL.tmp" "$MODEL"
fi
if [[ " $TASKS " == *" text "* && ! -f $WORK/data/fortunes/test.tsv ]]; then
  # Park-Miller's generator (exact in any awk's doubles) gives every row a distinct key; sorted
  # by key, row i goes to test (i % 10 == 0), validation (1) or train (the rest). Lines are
  # copied as they are (one record per line), header on each file.
  tmp=$WORK/data/fortunes.tmp
  rm -rf "$tmp" && mkdir -p "$tmp"
  head -n 1 "$FORTUNES" | tee "$tmp/train.tsv" "$tmp/validation.tsv" >"$tmp/test.tsv"
  tail -n +2 "$FORTUNES" | awk 'BEGIN { x = 42 } { x = (x * 16807) % 2147483647; printf "%d\t%s\n", x, $0 }' |
    LC_ALL=C sort -n -k1,1 | cut -f2- |
    awk -v dir="$tmp" '{ f = (NR - 1) % 10 == 0 ? "test" : (NR - 1) % 10 == 1 ? "validation" : "train"; print >> (dir "/" f ".tsv") }'
  rm -rf "$WORK/data/fortunes" && mv "$tmp" "$WORK/data/fortunes"
fi

# ---- Runs ----------------------------------------------------------------------------------
# One training run, resumable; bench.json records its wall time, updates and seconds per update.
train_run() {
  local backbone=$1 task=$2 method=$3 lr=$4 seed=$5
  local run="$WORK/grid/$backbone/$task/$method/lr$lr/seed$seed"
  [[ -f $run/bench.json ]] && return 0
  if [[ -f $run/failed ]]; then echo "FAILED before: $run (remove $run/failed to retry)"; return 1; fi
  local model=$MODEL
  [[ $backbone == random ]] && model="arch:$MODEL"
  mkdir -p "$(dirname "$run")"
  local start=$SECONDS rc=0
  # shellcheck disable=SC2046 # the recipes are word lists
  if [[ -f $run/run.json ]]; then
    "$LADDER" train --resume "$run" --threads "$THREADS" --device "$DEVICE" >>"$run.log" 2>&1 || rc=$?
  else
    "$LADDER" train --model "$model" $(data_args "$task") --method "$method" --lr "$lr" --seed "$seed" \
      --batch-size 16 --bucket --threads "$THREADS" --device "$DEVICE" --out "$run" \
      $(task_args "$task") $(method_args "$method") >"$run.log" 2>&1 || rc=$?
  fi
  local seconds=$((SECONDS - start))
  if ((rc != 0)); then
    # Interrupted (SIGINT/SIGTERM: 130/143): resumed next time. Anything else (a diverged run at
    # too high a rate, a bad flag) fails the same way again: marked, and never chosen.
    ((rc == 130 || rc == 143)) || echo "exit $rc after ${seconds}s: $(tail -n 1 "$run.log")" >"$run/failed"
    echo "FAILED $backbone $task $method lr $lr seed $seed (exit $rc; see $run.log)"
    return 1
  fi
  # Mean update time of training alone: the trainer's eta is (mean update time) x (updates left).
  local updates step
  updates=$(jq '.global_step' "$run/metrics.json")
  step=$(jq -s '[.[] | select(.type == "train" and .total_steps > .step and .eta_seconds > 0)
                 | .eta_seconds / (.total_steps - .step)] | last // -1' "$run/log.jsonl")
  echo "{\"train_wall_seconds\": $seconds, \"updates\": $updates, \"step_seconds\": $step}" >"$run/bench.json.tmp"
  mv "$run/bench.json.tmp" "$run/bench.json"
  echo "trained $backbone $task $method lr $lr seed $seed (${seconds}s)"
}
# A table entry: train (seed > 1; seed 1 comes from the grid), link, test.
table_run() {
  local backbone=$1 task=$2 method=$3 lr=$4 seed=$5
  train_run "$backbone" "$task" "$method" "$lr" "$seed" || return 1
  local run="$WORK/grid/$backbone/$task/$method/lr$lr/seed$seed"
  local entry="$WORK/table/$backbone/$task/$method/seed$seed"
  mkdir -p "$(dirname "$entry")"
  ln -sfn "../../../../grid/$backbone/$task/$method/lr$lr/seed$seed" "$entry"
  [[ -f $run/eval_test.json ]] && return 0
  # The final model, as the authors test it; the whole test split.
  "$LADDER" eval --run "$run" --split test --checkpoint last --max-eval-examples "$TEST_EXAMPLES" \
    --threads "$THREADS" --device "$DEVICE" >>"$run.log" 2>&1 || { echo "FAILED test of $run (see $run.log)"; return 1; }
  echo "tested $backbone $task $method lr $lr seed $seed"
}
export -f train_run table_run task_args data_args method_args
export WORK MODEL GLUE LADDER THREADS DEVICE SMOKE TEST_EXAMPLES

run_all() {  # lines of arguments on stdin -> FUNCTION, JOBS at a time
  # shellcheck disable=SC2016 # expanded by the inner bash
  xargs -P "$JOBS" -L 1 bash -c '"$0" "$@" || true' "$1"
}

# ---- 2. Grid (seed 1) ----------------------------------------------------------------------
# In TASKS order (sst2's runs are the longer ones).
first_seed=${SEEDS%% *}
for task in $TASKS; do for method in $METHODS; do for lr in $(grid_of "$method"); do
  for backbone in $BACKBONES; do echo "$backbone $task $method $lr $first_seed"; done
done; done; done | run_all train_run

# ---- 3. Choice on validation ---------------------------------------------------------------
mkdir -p "$OUT"
choices=$WORK/chosen_lr.jsonl
: >"$choices"
for backbone in $BACKBONES; do for task in $TASKS; do for method in $METHODS; do
  scores="{}"
  for lr in $(grid_of "$method"); do
    metrics="$WORK/grid/$backbone/$task/$method/lr$lr/seed$first_seed/metrics.json"
    score=null
    [[ -f $metrics ]] && score=$(jq 'if .finished then .last.metrics.score else null end' "$metrics")
    scores=$(jq -c --arg lr "$lr" --argjson s "$score" '. + {($lr): $s}' <<<"$scores")
  done
  # Highest validation score; a diverged or unfinished run (null) never wins; ties: grid order.
  jq -c --arg b "$backbone" --arg t "$task" --arg m "$method" '
    [to_entries[] | select(.value != null)] as $done
    | {backbone: $b, task: $t, method: $m, validation_scores: .,
       lr: (if ($done | length) == 0 then null
            else ($done | reduce .[] as $e (.[0]; if $e.value > .value then $e else . end) | .key) end)}' \
    <<<"$scores" >>"$choices"
done; done; done
recipe="{}"
for task in $TASKS; do recipe=$(jq -c --arg t "$task" --arg a "$(task_args "$task")" '.tasks[$t] = $a' <<<"$recipe"); done
for method in $METHODS; do
  recipe=$(jq -c --arg m "$method" --arg a "$(method_args "$method")" --arg g "$(grid_of "$method")" \
    '.methods[$m] = {args: $a, grid: ($g | split(" "))}' <<<"$recipe")
done
jq -s --arg rule "highest validation score (metrics.json last evaluation; text: -loss) of seed $first_seed; ties: the earlier rate of the grid" \
  --argjson smoke "$([[ $SMOKE == 1 ]] && echo true || echo false)" --argjson recipe "$recipe" \
  --arg common "--batch-size 16 --bucket --threads $THREADS --device $DEVICE; test: ladder eval --split test --checkpoint last --max-eval-examples $TEST_EXAMPLES (0: all)" \
  '{rule: $rule, smoke: $smoke, recipe: ($recipe + {common: $common}), choices: .}' "$choices" >"$OUT/chosen_lr.json.tmp"
mv "$OUT/chosen_lr.json.tmp" "$OUT/chosen_lr.json"
jq -r '.choices[] | "chosen \(.backbone) \(.task) \(.method): lr \(.lr)  (validation \(.validation_scores))"' "$OUT/chosen_lr.json"

# ---- 4. Table: every seed at the chosen rate, tested -----------------------------------------
rm -rf "$WORK/table"  # links only; rebuilt from the current choice
for seed in $SEEDS; do
  jq -r --arg s "$seed" '.choices[] | select(.lr != null) | "\(.backbone) \(.task) \(.method) \(.lr) \($s)"' "$OUT/chosen_lr.json"
done | run_all table_run

"$LADDER" bench accuracy --runs "$WORK/table" --out "$OUT" --title "$TITLE"
