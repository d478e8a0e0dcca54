#!/usr/bin/env bash
# ladder's LST training step against the plain-PyTorch peer (bench/peers/lst_peer.py) on the
# same shapes, in one go: rounds alternate ladder and peer runs so that the load of a shared
# machine falls on both, and the table shows medians over rounds and ladder/peer ratios.
#
#   LADDER=/work/main/build/ladder bench/lst-vs-peer.sh [--out FILE.json] [--row SPEC]... [-- LADDER FLAGS]
#   bench/lst-vs-peer.sh --records WORK/records.jsonl [--row SPEC]...   # the table again, no runs
#
# A row is "NAME|PRECISION|LADDER FLAGS|PEER FLAGS": ladder run with those flags against the
# peer run with its flags, both at PRECISION (fp32|bf16). Rows that share a precision and peer
# flags share one peer baseline. Without --row: "lst fp32|fp32||" and "lst bf16|bf16||". E.g.
#   --row "lst cached|fp32|--cached-states|--backbone-dropout off"
# Flags after -- go to every ladder run. Environment: ARCH (t5-small), BATCH (8), SRC (128),
# TGT (8), THREADS (2), WARMUP (2), STEPS (3), ROUNDS (3), PY (/usr/bin/python3: needs torch),
# WORK (a temporary folder for the raw records and logs).
set -euo pipefail
cd "$(dirname "$0")/.."
LADDER=${LADDER:-build/ladder}
ARCH=${ARCH:-t5-small} BATCH=${BATCH:-8} SRC=${SRC:-128} TGT=${TGT:-8} THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2} STEPS=${STEPS:-3} ROUNDS=${ROUNDS:-3} PY=${PY:-/usr/bin/python3}
WORK=${WORK:-$(mktemp -d /tmp/lst-vs-peer.XXXXXX)}
OUT="" ROWS=() PASS=() GIVEN=
while (($#)); do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --row) ROWS+=("$2"); shift 2 ;;
    --records) GIVEN=$2; shift 2 ;;
    --) shift; PASS=("$@"); break ;;
    *) echo "lst-vs-peer.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
((${#ROWS[@]})) || ROWS=("lst fp32|fp32||" "lst bf16|bf16||")
[[ -n $GIVEN || -x $LADDER ]] || { echo "lst-vs-peer.sh: no ladder binary at $LADDER (set LADDER=...)" >&2; exit 2; }
# The peer's PyTorch and ladder load the same OpenBLAS, which ladder may restart on wider kernels
# than it detects (ladder --version says which): the peer gets the same ones.
if [[ -z ${OPENBLAS_CORETYPE:-} && -z $GIVEN ]]; then
  core=$("$LADDER" --version | sed -n 's/.*OPENBLAS_CORETYPE=\([A-Za-z0-9]*\).*/\1/p')
  if [[ -n $core ]]; then export OPENBLAS_CORETYPE=$core; fi
fi
SHAPE=(--batch "$BATCH" --src-len "$SRC" --tgt-len "$TGT" --warmup "$WARMUP" --steps "$STEPS" --threads "$THREADS" --seed 0)
RECORDS=$WORK/records.jsonl
[[ -n $GIVEN ]] || : >"$RECORDS"

# One record line per run: {"row", "side", "round", "record"}; a failed run stops the script.
record() {
  local row=$1 side=$2 round=$3; shift 3
  local line
  line=$("$@" 2>>"$WORK/runs.log" | tail -n 1) || { echo "failed: $* (log: $WORK/runs.log)" >&2; exit 1; }
  "$PY" -c 'import json,sys; print(json.dumps({"row": sys.argv[1], "side": sys.argv[2], "round": int(sys.argv[3]), "record": json.loads(sys.argv[4])}))' \
    "$row" "$side" "$round" "$line" >>"$RECORDS"
  echo "  round $round $side $row: $(grep -o '"median_step_seconds": *[0-9.e-]*' <<<"$line" | tr -d ' ')" >&2
}

[[ -n $GIVEN ]] && ROUNDS=0 RECORDS=$GIVEN
for ((round = 1; round <= ROUNDS; round++)); do
  declare -A done_peer=()
  for spec in "${ROWS[@]}"; do
    IFS='|' read -r name precision ladder_flags peer_flags <<<"$spec"
    # shellcheck disable=SC2086  # the flags are word lists on purpose
    record "$name" ladder "$round" "$LADDER" bench step --method lst --model "arch:$ARCH" --precision "$precision" \
      "${SHAPE[@]}" $ladder_flags "${PASS[@]}"
    key="peer $precision${peer_flags:+ $peer_flags}"
    if [[ -z ${done_peer[$key]:-} ]]; then
      # shellcheck disable=SC2086
      record "$key" peer "$round" "$PY" bench/peers/lst_peer.py --arch "$ARCH" --precision "$precision" "${SHAPE[@]}" $peer_flags
      done_peer[$key]=1
    fi
  done
  unset done_peer
done

"$PY" - "$RECORDS" "$OUT" "$LADDER" "${ROWS[@]}" <<'EOF'
import json, statistics, sys
records_path, out_path, ladder, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = [json.loads(l) for l in open(records_path)]

def medians(row, side):
    recs = [r["record"] for r in runs if r["row"] == row and r["side"] == side]
    return {"step_s": statistics.median(r["median_step_seconds"] for r in recs),
            "peak_bytes": statistics.median(r["peak_bytes"] for r in recs),
            "step_s_runs": [r["median_step_seconds"] for r in recs], "peak_bytes_runs": [r["peak_bytes"] for r in recs]}

MiB = 1024 * 1024
table = []
# Medians over rounds, and the fastest round (min: the estimate least hit by other load).
print(f"{'row':<16} {'ladder s':>9} {'peer s':>9} {'time l/p':>9} {'best l/p':>9} {'ladder MiB':>11} {'peer MiB':>9} "
      f"{'peak l/p':>9}  baseline")
for spec in rows:
    name, precision, ladder_flags, peer_flags = (spec.split("|") + ["", "", ""])[:4]
    key = f"peer {precision}" + (f" {peer_flags}" if peer_flags else "")
    l, p = medians(name, "ladder"), medians(key, "peer")
    entry = {"row": name, "precision": precision, "ladder_flags": ladder_flags, "peer_flags": peer_flags,
             "ladder": l, "peer": p, "time_ratio": l["step_s"] / p["step_s"],
             "best_time_ratio": min(l["step_s_runs"]) / min(p["step_s_runs"]), "peak_ratio": l["peak_bytes"] / p["peak_bytes"]}
    table.append(entry)
    print(f"{name:<16} {l['step_s']:9.3f} {p['step_s']:9.3f} {entry['time_ratio']:9.2f} {entry['best_time_ratio']:9.2f} "
          f"{l['peak_bytes'] / MiB:11.1f} "
          f"{p['peak_bytes'] / MiB:9.1f} {entry['peak_ratio']:9.2f}  {key}")
print(f"(medians over {max(r['round'] for r in runs)} alternating rounds, best = fastest round of each; each run: median step of its timed steps; "
      "peak = peak RSS above the process baseline, high-water mark reset after warm-up)")
if out_path:
    shape = {k: runs[0]["record"].get(k) for k in ("arch", "batch", "source_length", "target_length", "threads")}
    with open(out_path, "w") as f:
        json.dump({"ladder": ladder, "shape": shape, "rows": table, "runs": runs}, f, indent=2)
        f.write("\n")
EOF
