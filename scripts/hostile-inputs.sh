#!/usr/bin/env bash
# A battery of hostile inputs against the ladder CLI (build/ladder, or $LADDER):
#   bash scripts/hostile-inputs.sh
# Corrupt safetensors, bad config.json values, broken tokenizers, malformed data, out-of-range
# flags, damaged run folders, mismatched adapter folders and spoilt vision-language data and
# image features, each against the tiny fixtures (tests/data/fixtures/t5-tiny-v1_0,
# tiny-tokenizer, glue_samples, vl_world) with --threads 1. LADDER_HOSTILE_ONLY=ERE runs only
# the cases whose name matches ERE (e.g. '^vl-'); the fixtures and setup runs are made anyway.
# Every command runs under `timeout 60` with its address space capped (LADDER_HOSTILE_VMEM_KB,
# default 8 GiB, so a runaway allocation fails instead of taking the machine), stdin from
# /dev/null, in a scratch folder. Everything written lives in one mktemp -d folder, removed on
# exit. One line per case:
#   CLEAN|CRASH|HANG|SILENT|UNCLEAR <case>: <the error line of stderr, cut at 160 chars>
#   CLEAN   non-zero exit and the error line matches the case's expectation (names the file,
#           key or flag at fault)
#   CRASH   killed by a signal (exit >= 128 but 130/143) or sanitizer/abort/terminate text
#   HANG    the 60 s timeout fired
#   SILENT  exit 0 on a bad input (or, for an "out:" case, exit 0 with the wrong output)
#   UNCLEAR non-zero exit but the message does not name the cause (raw libtorch/c10/json/std
#           text, empty stderr, a wrapped-around or 40-digit number, no match for the expectation)
# then `cases N, clean C, unclear U, silent S, hangs H, crashes K` (a recap of the cases that
# were not clean and the time taken go to stderr). Exits 1 if any crash, hang
# or silent case occurred. A case is `t NAME EXPECT COMMAND...`; EXPECT is a case-insensitive
# ERE the error line must match (several joined by '&' must all match), or "out:ERE" for a
# valid input whose stdout must match ERE (a control that the harmless variant is accepted).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
L=${LADDER:-$ROOT/build/ladder}
[[ -x $L ]] || { echo "hostile-inputs: $L not found (build first)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "hostile-inputs: python3 is needed to make the fixtures" >&2; exit 2; }
VMEM_KB=${LADDER_HOSTILE_VMEM_KB:-8388608}
M0=$ROOT/tests/data/fixtures/t5-tiny-v1_0
M1=$ROOT/tests/data/fixtures/t5-tiny-v1_1
GOLD=$M0/golden.safetensors
TOK=$ROOT/tests/data/fixtures/tiny-tokenizer/spiece.model
BIGTOK=$ROOT/tests/data/tokenizer/spiece.model   # the real T5 tokenizer: 32,000 pieces
G=$ROOT/tests/data/glue_samples
CS=$ROOT/tests/data/custom_samples
CORPUS=$ROOT/tests/data/pretrain/tiny_dictionary.txt

W=$(mktemp -d "${TMPDIR:-/tmp}/ladder-hostile.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$W/cwd" "$W/log" "$W/r" "$W/p" "$W/empty"
T0=$SECONDS

# --- the runner -------------------------------------------------------------------------------
N=0; C=0; U=0; S=0; H=0; K=0; BAD=()
CRASH_RE='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|terminate called|Aborted|Segmentation fault|core dumped|stack smashing|double free|free\(\): |malloc\(\): |corrupted size'
RAW_RE='c10::|c10/|Exception raised from|basic_string|vector::_M|std::bad_alloc|bad_alloc|std::(out_of_range|invalid_argument|length_error|logic_error)|\bsto(i|l|ll|ul|ull|f|d)\b|-9223372036854775808|18446744073709551615|[0-9]{40,}|\[json\.exception\.(type_error|out_of_range|invalid_iterator|other_error)|INTERNAL ASSERT|Expected .* to be|^ *frame #'

ONLY=${LADDER_HOSTILE_ONLY:-}
t() {
  [[ -z $ONLY || $1 =~ $ONLY ]] || return 0
  local name=$1 expect=$2; shift 2
  N=$((N + 1))
  local out=$W/log/$N.out err=$W/log/$N.err start=$SECONDS rc cls line
  ( ulimit -v "$VMEM_KB" 2>/dev/null; cd "$W/cwd" && exec timeout -k 5 60 "$@" ) >"$out" 2>"$err" </dev/null
  rc=$?
  # the error line: the first line saying "error", else the last non-empty line of stderr
  line=$(grep -a -m1 -i 'error' "$err")
  [[ -n $line ]] || line=$(grep -av '^[[:space:]]*$' "$err" | tail -n1)
  line=${line:0:160}
  if ((rc == 124)) || { ((rc == 137)) && ((SECONDS - start >= 60)); }; then cls=HANG
  elif { ((rc >= 128)) && ((rc != 130 && rc != 143)); } || grep -aqE "$CRASH_RE" "$err"; then cls=CRASH
  elif [[ $expect == out:* ]]; then
    if ((rc == 0)) && grep -aqiE -- "${expect#out:}" "$out"; then cls=CLEAN
    elif ((rc == 0)); then cls=SILENT; line="exit 0, stdout lacks /${expect#out:}/: $(head -c 120 "$out" | tr '\n' ' ')"
    else cls=UNCLEAR; line="valid input refused (exit $rc): $line"
    fi
  elif ((rc == 0)); then   # what it said instead of failing: its first stderr line, else stdout
    cls=SILENT; line=$(grep -av '^[[:space:]]*$' "$err" | head -n1); line=${line:0:160}
    [[ -n $line ]] || line="exit 0; stdout: $(head -c 120 "$out" | tr '\n' ' ')"
  else
    cls=CLEAN
    if [[ -z $line ]] || grep -aqE -- "$RAW_RE" <<<"$line"; then cls=UNCLEAR
    else
      local e IFS='&'
      for e in $expect; do grep -aqiE -- "$e" <<<"$line" || cls=UNCLEAR; done
    fi
    [[ -n $line ]] || line="(empty stderr, exit $rc)"
  fi
  [[ -n $line || $cls == CLEAN ]] || line="(no stderr, exit $rc)"
  case $cls in CLEAN) C=$((C + 1)) ;; UNCLEAR) U=$((U + 1)) ;; SILENT) S=$((S + 1)) ;; HANG) H=$((H + 1)) ;; CRASH) K=$((K + 1)) ;; esac
  [[ $cls == CLEAN ]] || BAD+=("$cls $name (exit $rc)")
  printf '%s %s: %s\n' "$cls" "$name" "$line"
}

# --- fixtures ---------------------------------------------------------------------------------
python3 - "$W" "$M0" "$M1" "$TOK" "$GOLD" <<'PY' || { echo "hostile-inputs: making the fixtures failed" >&2; exit 2; }
import json, os, random, shutil, struct, sys
W, M0, M1, TOK, GOLD = sys.argv[1:6]
rnd = random.Random(20221106)

def read_st(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def enc_header(h):
    s = json.dumps(h).encode(); return s + b' ' * ((8 - len(s) % 8) % 8)
def st_bytes(h, data, hlen=None, raw=None):
    s = raw if raw is not None else enc_header(h)
    return struct.pack('<Q', len(s) if hlen is None else hlen) + s + data
def write_tensors(path, tensors):  # tensors: name -> (dtype, shape, bytes)
    h, data = {}, b''
    for k, (dt, shape, b) in tensors.items():
        h[k] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(b)]}; data += b
    open(path, 'wb').write(st_bytes(h, data))
def i64(vals): return struct.pack('<%dq' % len(vals), *vals)

ST = open(M0 + '/model.safetensors', 'rb').read()
H, D = read_st(M0 + '/model.safetensors')
CFG = json.load(open(M0 + '/config.json'))
K = 'decoder.block.0.layer.0.SelfAttention.k.weight'   # [64, 64], bytes [0, 16384)
O = 'decoder.block.0.layer.0.SelfAttention.o.weight'   # [64, 64], bytes [16384, 32768)

def model(name, st=ST, cfg=None):
    d = f'{W}/m/{name}'; os.makedirs(d)
    if cfg is not False:
        open(d + '/config.json', 'w').write(cfg if isinstance(cfg, str) else json.dumps(CFG, indent=1))
    if st is not None:
        open(d + '/model.safetensors', 'wb').write(st)
def hdr(f):
    h = json.loads(json.dumps(H)); f(h); return st_bytes(h, D)
def cfg_raw(key, raw):    # config.json with KEY's value written as raw JSON text (None: key removed)
    c = dict(CFG)
    if raw is None: del c[key]; return json.dumps(c, indent=1)
    c[key] = '@@RAW@@'; return json.dumps(c, indent=1).replace('"@@RAW@@"', raw)
def setk(t, k, v): return lambda h: h[t].__setitem__(k, v)

# model.safetensors
model('st-empty', b'')
model('st-3-bytes', b'\x10\x00\x00')
model('st-header-len-2^63', st_bytes(H, D, hlen=2**63 - 1))
model('st-header-len-2^64-1', st_bytes(H, D, hlen=2**64 - 1))
model('st-header-len-past-eof', st_bytes(H, D, hlen=len(ST) + 64))
model('st-header-len-0', st_bytes(H, D, hlen=0))
model('st-header-len-cuts-json', st_bytes(H, D, hlen=len(enc_header(H)) // 2))
model('st-header-garbage-json', st_bytes(H, D, raw=b'{"shared.weight": {"dtype": "F32", "shape": [1' + b' ' * 17))
model('st-header-json-array', st_bytes(H, D, raw=b'[1, 2, 3]       '))
model('st-header-binary', st_bytes(H, D, raw=bytes(rnd.randrange(256) for _ in range(4096))))
model('st-dtype-unknown', hdr(setk('shared.weight', 'dtype', 'Q7')))
model('st-dtype-int32', hdr(setk('shared.weight', 'dtype', 'I32')))        # same byte size
model('st-dtype-bool-size', hdr(setk('shared.weight', 'dtype', 'BOOL')))   # 1 byte each: size mismatch
model('st-dtype-number', hdr(setk('shared.weight', 'dtype', 5)))
model('st-shape-vs-bytes', hdr(setk('shared.weight', 'shape', [1100, 63])))
model('st-shape-vs-model', hdr(setk('shared.weight', 'shape', [550, 128])))  # same bytes, wrong shape
model('st-shape-negative', hdr(setk('shared.weight', 'shape', [-1100, -64])))
model('st-shape-2^62', hdr(setk('shared.weight', 'shape', [2**62, 2**62])))
model('st-shape-string', hdr(setk('shared.weight', 'shape', '1100x64')))
model('st-ranges-overlap-full', hdr(setk(O, 'data_offsets', [0, 16384])))      # o reads k's bytes
model('st-ranges-overlap-half', hdr(setk(O, 'data_offsets', [8192, 24576])))
model('st-range-past-eof', hdr(setk(O, 'data_offsets', [len(D), len(D) + 16384])))
model('st-range-reversed', hdr(setk(O, 'data_offsets', [32768, 16384])))
model('st-range-missing', hdr(lambda h: h[O].pop('data_offsets')))
model('st-tensor-missing', hdr(lambda h: h.pop('encoder.final_layer_norm.weight')))
h2 = json.loads(json.dumps(H)); h2['encoder.block.9.layer.0.SelfAttention.q.weight'] = {'dtype': 'F32', 'shape': [64, 64], 'data_offsets': [len(D), len(D) + 16384]}
model('st-tensor-unexpected', st_bytes(h2, D + bytes(16384)))
model('st-data-truncated', ST[:len(ST) // 2])
model('st-random-bytes', bytes(rnd.randrange(256) for _ in range(4096)))
model('no-model-safetensors', None)
d = f'{W}/m/index-missing-shard'; os.makedirs(d); shutil.copy(M0 + '/config.json', d)
json.dump({'metadata': {}, 'weight_map': {k: 'model-00001-of-00002.safetensors' for k in H if k != '__metadata__'}}, open(d + '/model.safetensors.index.json', 'w'))
d = f'{W}/m/index-garbage'; os.makedirs(d); shutil.copy(M0 + '/config.json', d)
open(d + '/model.safetensors.index.json', 'w').write('{"weight_map": [')

# config.json
model('cfg-missing', ST, cfg=False)
model('cfg-not-json', cfg='d_model = 64\n')
model('cfg-empty', cfg='')
model('cfg-json-array', cfg='[64, 4, 16]')
for k in ['d_model', 'num_layers', 'vocab_size', 'num_heads']:
    model(f'cfg-no-{k}', cfg=cfg_raw(k, None))
for name, k, raw in [
        ('eps-0', 'layer_norm_epsilon', '0'), ('eps-negative', 'layer_norm_epsilon', '-1e-6'),
        ('eps-string', 'layer_norm_epsilon', '"1e-6"'),
        ('num_layers-2.5', 'num_layers', '2.5'), ('num_layers-1e9', 'num_layers', '1e9'),
        ('num_layers-negative', 'num_layers', '-2'), ('num_layers-true', 'num_layers', 'true'),
        ('num_layers-2.0', 'num_layers', '2.0'),
        ('d_ff-1e12', 'd_ff', '1e12'), ('d_model-1e300', 'd_model', '1e300'),
        ('d_model-string', 'd_model', '"64"'), ('d_model-32', 'd_model', '32'),
        ('d_kv-null', 'd_kv', 'null'), ('num_heads-0', 'num_heads', '0'),
        ('vocab_size-1e9', 'vocab_size', '1000000000'),
        ('pad_token_id-5000', 'pad_token_id', '5000'), ('decoder_start-5000', 'decoder_start_token_id', '5000'),
        ('eos_token_id-negative', 'eos_token_id', '-1'),
        ('buckets-0', 'relative_attention_num_buckets', '0'),
        ('feed_forward_proj-bogus', 'feed_forward_proj', '"gated-swish-ish"'),
        ('dropout_rate-1.5', 'dropout_rate', '1.5')]:
    model('cfg-' + name, cfg=cfg_raw(k, raw))

# tokenizers
os.makedirs(f'{W}/t/dir.model')
open(f'{W}/t/empty.model', 'wb').close()
open(f'{W}/t/random.model', 'wb').write(bytes(rnd.randrange(256) for _ in range(4096)))
open(f'{W}/t/truncated.model', 'wb').write(open(TOK, 'rb').read()[:100000])
open(f'{W}/t/safetensors.model', 'wb').write(ST)

# forward inputs
GH, GD = read_st(GOLD)
ids = list(struct.unpack('<%dq' % (len(GD[GH['input_ids']['data_offsets'][0]:GH['input_ids']['data_offsets'][1]]) // 8), GD[GH['input_ids']['data_offsets'][0]:GH['input_ids']['data_offsets'][1]]))
B, S = GH['input_ids']['shape']
lab = [5, 6, 7, 1, 0]
os.makedirs(f'{W}/in')
L3 = ('I64', [B, 5], i64(lab * B)); L1 = ('I64', [1, 5], i64(lab))
write_tensors(f'{W}/in/ids-big.safetensors', {'input_ids': ('I64', [B, S], i64([5000] * (B * S))), 'labels': L3})
write_tensors(f'{W}/in/ids-negative.safetensors', {'input_ids': ('I64', [B, S], i64([-3] * (B * S))), 'labels': L3})
write_tensors(f'{W}/in/ids-float.safetensors', {'input_ids': ('F32', [B, S], struct.pack('<%df' % (B * S), *map(float, ids))), 'labels': L3})
write_tensors(f'{W}/in/ids-3d.safetensors', {'input_ids': ('I64', [1, B, S], i64(ids)), 'labels': L1})
write_tensors(f'{W}/in/ids-empty.safetensors', {'input_ids': ('I64', [1, 0], b''), 'labels': L1})
write_tensors(f'{W}/in/no-input_ids.safetensors', {'labels': L1})
write_tensors(f'{W}/in/mask-shape.safetensors', {'input_ids': ('I64', [B, S], i64(ids)), 'attention_mask': ('I64', [B, S - 1], i64([1] * (B * (S - 1)))), 'labels': L3})
write_tensors(f'{W}/in/mask-values.safetensors', {'input_ids': ('I64', [B, S], i64(ids)), 'attention_mask': ('I64', [B, S], i64([7] * (B * S))), 'labels': L3})
write_tensors(f'{W}/in/labels-1d.safetensors', {'input_ids': ('I64', [B, S], i64(ids)), 'labels': ('I64', [5], i64(lab))})
write_tensors(f'{W}/in/labels-5000.safetensors', {'input_ids': ('I64', [B, S], i64(ids)), 'labels': ('I64', [B, 5], i64([5000] * (B * 5)))})
write_tensors(f'{W}/in/labels-batch.safetensors', {'input_ids': ('I64', [B, S], i64(ids)), 'labels': ('I64', [B + 1, 5], i64(lab * (B + 1)))})
write_tensors(f'{W}/in/decoder-ids-negative.safetensors', {'input_ids': ('I64', [B, S], i64(ids)), 'decoder_input_ids': ('I64', [B, 5], i64([-7] * (B * 5)))})
open(f'{W}/in/garbage.safetensors', 'wb').write(b'not a safetensors file at all\n')

# custom data
os.makedirs(f'{W}/d/custom-no-train'); open(f'{W}/d/custom-no-train/validation.jsonl', 'w').write('{"text": "a", "label": "x"}\n')
open(f'{W}/d/empty.jsonl', 'w').close()
open(f'{W}/d/header-only.csv', 'w').write('text,label\n')
open(f'{W}/d/not-object.jsonl', 'w').write('{"text": "a", "label": "x"}\n[1, 2]\n{"text": "b", "label": "y"}\n')
open(f'{W}/d/label-object.jsonl', 'w').write('{"text": "a", "label": {"x": 1}}\n{"text": "b", "label": "y"}\n{"text": "c", "label": "y"}\n')
open(f'{W}/d/label-blank.jsonl', 'w').write(''.join('{"text": "t%d", "label": "   "}\n' % i for i in range(6)))
open(f'{W}/d/label-spaces.jsonl', 'w').write(''.join('{"text": "t%d", "label": "%s"}\n' % (i, ' pos ' if i % 2 else '\\tneg  ') for i in range(8)))
open(f'{W}/d/one-row.jsonl', 'w').write('{"text": "only one", "label": "x"}\n')
open(f'{W}/d/bad-utf8.jsonl', 'wb').write(b'{"text": "ok", "label": "a"}\n{"text": "\xff\xfe bad", "label": "b"}\n{"text": "fine", "label": "a"}\n')
open(f'{W}/d/random.tsv', 'wb').write(bytes(rnd.randrange(256) for _ in range(2048)))
for name, train in [('rte-empty-train', ''), ('rte-header-only', 'index\tsentence1\tsentence2\tlabel\n'),
                    ('rte-binary-train', bytes(rnd.randrange(256) for _ in range(2048)).decode('latin-1'))]:
    os.makedirs(f'{W}/d/{name}')
    open(f'{W}/d/{name}/train.tsv', 'w', encoding='latin-1').write(train)
PY
# GLUE folders built from the samples
for n in rte-empty-train rte-header-only rte-binary-train; do cp "$G/RTE/dev.tsv" "$W/d/$n/"; done
mkdir -p "$W/d/rte-no-dev" "$W/d/cola-malformed" "$W/d/stsb-malformed"
cp "$G/RTE/train.tsv" "$W/d/rte-no-dev/"
cp "$G/malformed/CoLA/train.tsv" "$W/d/cola-malformed/"; cp "$G/CoLA/dev.tsv" "$W/d/cola-malformed/"
cp "$G/malformed/STS-B/train.tsv" "$W/d/stsb-malformed/"; cp "$G/STS-B/dev.tsv" "$W/d/stsb-malformed/"
printf 'No tab in this line at all.\n' >"$W/d/no-tab.txt"
: >"$W/d/empty-corpus.txt"
head -c 3000 /dev/urandom >"$W/d/random.txt.xz"
printf '{"d_model": ' >"$W/d/garbage-config.json"
touch "$W/d/a-file"

# runs and adapter folders made by ladder itself (must succeed)
setup() { ( ulimit -v "$VMEM_KB"; cd "$W/cwd" && timeout 120 "$@" ) >"$W/log/setup.out" 2>"$W/log/setup.err" </dev/null \
  || { echo "hostile-inputs: setup failed: $*" >&2; cat "$W/log/setup.err" >&2; exit 2; }; }
TRB=("$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" --max-steps 1 --batch-size 2 --threads 1)
setup "$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" --method lora --max-steps 2 --batch-size 2 --threads 1 --out "$W/base"
( ulimit -v "$VMEM_KB"; cd "$W/cwd" && exec "$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" \
    --method lora --max-steps 600 --batch-size 2 --eval-every 100000 --log-every 50 --threads 1 --out "$W/unfinished" ) \
  >"$W/log/unfinished.out" 2>"$W/log/unfinished.err" </dev/null &
UPID=$!
for _ in $(seq 300); do grep -q 'step 100/' "$W/log/unfinished.err" 2>/dev/null && break; kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
kill -TERM "$UPID" 2>/dev/null; wait "$UPID"
grep -q '"finished": false' "$W/unfinished/last/training_state.json" 2>/dev/null \
  || { echo "hostile-inputs: could not make an interrupted run" >&2; cat "$W/log/unfinished.err" >&2; exit 2; }
for m in lora bitfit; do setup "$L" init --model "$M0" --tokenizer "$TOK" --method $m --threads 1 --out "$W/a/$m"; done
setup "$L" init --model "$M1" --tokenizer "$TOK" --method lora --threads 1 --out "$W/a/lora-v1_1"
setup "$L" init --model "$M0" --tokenizer "$TOK" --method lst --settings '{"side_init": "magnitude"}' --threads 1 --out "$W/a/lst"

cprun() { rm -rf "$W/r/$2"; cp -r "$W/$1" "$W/r/$2"; echo "$W/r/$2"; }           # copy a run for one case
cpad() { rm -rf "$W/a/$2"; cp -r "$W/a/$1" "$W/a/$2"; echo "$W/a/$2"; }           # copy an adapter folder
jset() { python3 -c 'import json,sys; p,k,v=sys.argv[1:4]; d=json.load(open(p)); o=d
ks=k.split("."); [o:=o[x] for x in ks[:-1]]; o[ks[-1]]=json.loads(v); json.dump(d,open(p,"w"),indent=1)' "$@"; }
cut_half() { local s; s=$(stat -c %s "$1"); truncate -s $((s / 2)) "$1"; }

FW=("$L" forward --threads 1 --inputs "$GOLD" --output "$W/out.safetensors")
INS=("$L" inspect --threads 1)
# trn NAME EXPECT FLAGS...: a short training run on the fixtures; FLAGS replace the defaults they name
trn() {
  local n=$1 e=$2 f v; shift 2
  local a=("$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" --out "$W/r/$n")
  for f in --max-steps=1 --batch-size=2 --threads=1; do [[ " $* " == *" ${f%=*} "* ]] || a+=("${f%=*}" "${f#*=}"); done
  t "$n" "$e" "${a[@]}" "$@"
}
# trx NAME EXPECT MODEL TOKENIZER TASK DATA FLAGS...: a short lora training run with those inputs
trx() { local n=$1 e=$2; shift 2; t "$n" "$e" "$L" train --model "$1" --tokenizer "$2" --task "$3" --data "$4" \
  --method lora --max-steps 1 --batch-size 2 --threads 1 --out "$W/r/$n" "${@:5}"; }
PT=("$L" pretrain --corpus "$CORPUS" --tokenizer "$TOK" --d-model 32 --d-kv 8 --num-heads 4 --d-ff 64 --num-layers 1
    --num-decoder-layers 1 --batch-size 2 --max-steps 1 --input-length 16 --baseline-examples 0 --threads 1)
pt() { local n=$1 e=$2; shift 2; t "$n" "$e" "${PT[@]}" --out "$W/p/$n" "$@"; }
EV=("$L" eval --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" --threads 1)
m() { echo "$W/m/$1"; }

# --- model.safetensors ------------------------------------------------------------------------
SF='model\.safetensors'
t st-empty                  "$SF"                "${FW[@]}" --model "$(m st-empty)"
t st-3-bytes                "$SF"                "${FW[@]}" --model "$(m st-3-bytes)"
t st-header-len-2^63        "$SF&header"         "${FW[@]}" --model "$(m st-header-len-2^63)"
t st-header-len-2^64-1      "$SF&header"         "${FW[@]}" --model "$(m st-header-len-2^64-1)"
t st-header-len-past-eof    "$SF&header"         "${FW[@]}" --model "$(m st-header-len-past-eof)"
t st-header-len-0           "$SF"                "${FW[@]}" --model "$(m st-header-len-0)"
t st-header-len-cuts-json   "$SF"                "${FW[@]}" --model "$(m st-header-len-cuts-json)"
t st-header-garbage-json    "$SF"                "${FW[@]}" --model "$(m st-header-garbage-json)"
t st-header-json-array      "$SF"                "${FW[@]}" --model "$(m st-header-json-array)"
t st-header-binary          "$SF"                "${FW[@]}" --model "$(m st-header-binary)"
t st-dtype-unknown          "$SF&dtype|Q7"       "${FW[@]}" --model "$(m st-dtype-unknown)"
t st-dtype-int32            "shared\.weight"     "${FW[@]}" --model "$(m st-dtype-int32)"
t st-dtype-bool-size        "shared\.weight"     "${FW[@]}" --model "$(m st-dtype-bool-size)"
t st-dtype-number           "$SF&dtype"          "${FW[@]}" --model "$(m st-dtype-number)"
t st-shape-vs-bytes         "shared\.weight"     "${FW[@]}" --model "$(m st-shape-vs-bytes)"
t st-shape-vs-model         "shared\.weight"     "${FW[@]}" --model "$(m st-shape-vs-model)"
t st-shape-negative         "shared\.weight|shape" "${FW[@]}" --model "$(m st-shape-negative)"
t st-shape-2^62             "shared\.weight"     "${FW[@]}" --model "$(m st-shape-2^62)"
t st-shape-string           "$SF&shape"          "${FW[@]}" --model "$(m st-shape-string)"
t st-ranges-overlap-full    "$SF&overlap|o\.weight" "${FW[@]}" --model "$(m st-ranges-overlap-full)"
t st-ranges-overlap-half    "$SF&overlap|o\.weight" "${FW[@]}" --model "$(m st-ranges-overlap-half)"
t st-range-past-eof         "$SF"                "${FW[@]}" --model "$(m st-range-past-eof)"
t st-range-reversed         "$SF&o\.weight|offset" "${FW[@]}" --model "$(m st-range-reversed)"
t st-range-missing          "$SF&data_offsets|o\.weight" "${FW[@]}" --model "$(m st-range-missing)"
t st-tensor-missing         "final_layer_norm"   "${FW[@]}" --model "$(m st-tensor-missing)"
t st-tensor-unexpected      "block\.9"           "${FW[@]}" --model "$(m st-tensor-unexpected)"
t st-data-truncated         "$SF"                "${FW[@]}" --model "$(m st-data-truncated)"
t st-random-bytes           "$SF"                "${FW[@]}" --model "$(m st-random-bytes)"
t st-random-bytes-inspect   "$SF"                "${INS[@]}" "$(m st-random-bytes)"
t st-truncated-generate     "$SF"                "$L" generate --threads 1 --model "$(m st-data-truncated)" --tokenizer "$TOK" "hello"
t no-model-safetensors      "$SF"                "${FW[@]}" --model "$(m no-model-safetensors)"
t index-missing-shard       "model-00001-of-00002" "${FW[@]}" --model "$(m index-missing-shard)"
t index-garbage             "index\.json"        "${FW[@]}" --model "$(m index-garbage)"
t model-is-a-file           "config\.json"       "${FW[@]}" --model "$M0/config.json"
t model-missing-dir         "no-such-model"      "${FW[@]}" --model "$W/no-such-model"
t arch-unknown              "t5-huge"            "${INS[@]}" arch:t5-huge

# --- config.json ------------------------------------------------------------------------------
CF='config\.json'
t cfg-missing               "$CF"                "${INS[@]}" "$(m cfg-missing)"
t cfg-not-json              "$CF"                "${INS[@]}" "$(m cfg-not-json)"
t cfg-empty                 "$CF"                "${INS[@]}" "$(m cfg-empty)"
t cfg-json-array            "$CF"                "${INS[@]}" "$(m cfg-json-array)"
for k in d_model num_layers vocab_size num_heads; do t cfg-no-$k "$CF&$k" "${INS[@]}" "$(m cfg-no-$k)"; done
t cfg-eps-0                 "$CF&layer_norm_epsilon" "${INS[@]}" "$(m cfg-eps-0)"
t cfg-eps-negative          "$CF&layer_norm_epsilon" "${INS[@]}" "$(m cfg-eps-negative)"
t cfg-eps-negative-forward  "$CF&layer_norm_epsilon" "${FW[@]}" --model "$(m cfg-eps-negative)"
t cfg-eps-string            "$CF&layer_norm_epsilon" "${INS[@]}" "$(m cfg-eps-string)"
t cfg-num_layers-2.5        "$CF&num_layers"     "${INS[@]}" "$(m cfg-num_layers-2.5)"
t cfg-num_layers-2.0-valid  "out:layer"          "${INS[@]}" "$(m cfg-num_layers-2.0)"
t cfg-num_layers-1e9        "$CF&num_layers"     "${INS[@]}" "$(m cfg-num_layers-1e9)"
t cfg-num_layers-negative   "$CF&num_layers"     "${INS[@]}" "$(m cfg-num_layers-negative)"
t cfg-num_layers-true       "$CF&num_layers"     "${INS[@]}" "$(m cfg-num_layers-true)"
t cfg-d_ff-1e12             "$CF&d_ff"           "${INS[@]}" "$(m cfg-d_ff-1e12)"
t cfg-d_ff-1e12-forward     "$CF&d_ff"           "${FW[@]}" --model "$(m cfg-d_ff-1e12)"
t cfg-d_model-1e300         "$CF&d_model"        "${INS[@]}" "$(m cfg-d_model-1e300)"
t cfg-d_model-string        "$CF&d_model"        "${INS[@]}" "$(m cfg-d_model-string)"
t cfg-d_model-32-vs-weights "shape|d_model"      "${FW[@]}" --model "$(m cfg-d_model-32)"
t cfg-d_kv-null             "$CF&d_kv"           "${INS[@]}" "$(m cfg-d_kv-null)"
t cfg-num_heads-0           "$CF&num_heads"      "${INS[@]}" "$(m cfg-num_heads-0)"
t cfg-vocab_size-1e9        "$CF&vocab_size|memory" "${INS[@]}" "$(m cfg-vocab_size-1e9)"
t cfg-pad_token_id-5000     "$CF&pad_token_id"   "${INS[@]}" "$(m cfg-pad_token_id-5000)"
t cfg-pad_token_id-5000-gen "$CF&pad_token_id"   "$L" generate --threads 1 --model "$(m cfg-pad_token_id-5000)" --tokenizer "$TOK" "hello"
t cfg-decoder_start-5000    "$CF&decoder_start_token_id" "${FW[@]}" --model "$(m cfg-decoder_start-5000)"
t cfg-eos_token_id-negative "$CF&eos_token_id"   "${INS[@]}" "$(m cfg-eos_token_id-negative)"
t cfg-buckets-0             "$CF&relative_attention_num_buckets" "${INS[@]}" "$(m cfg-buckets-0)"
t cfg-feed_forward_proj-bogus "$CF&feed_forward_proj|gated-swish" "${INS[@]}" "$(m cfg-feed_forward_proj-bogus)"
trx cfg-dropout_rate-1.5-train "$CF&dropout_rate" "$(m cfg-dropout_rate-1.5)" "$TOK" rte "$G/RTE"

# --- tokenizer --------------------------------------------------------------------------------
t tok-directory             "dir\.model"         "$L" tokenize --tokenizer "$W/t/dir.model" "hello"
t tok-empty                 "empty\.model"       "$L" tokenize --tokenizer "$W/t/empty.model" "hello"
t tok-random-bytes          "random\.model"      "$L" tokenize --tokenizer "$W/t/random.model" "hello"
t tok-truncated             "truncated\.model"   "$L" tokenize --tokenizer "$W/t/truncated.model" "hello"
t tok-safetensors           "safetensors\.model" "$L" tokenize --tokenizer "$W/t/safetensors.model" "hello"
t tok-missing               "nope\.model"        "$L" tokenize --tokenizer "$W/t/nope.model" "hello"
t tok-directory-generate    "dir\.model"         "$L" generate --threads 1 --model "$M0" --tokenizer "$W/t/dir.model" "hello"
trx tok-empty-train         "empty\.model"       "$M0" "$W/t/empty.model" rte "$G/RTE"
trx tok-random-train        "random\.model"      "$M0" "$W/t/random.model" rte "$G/RTE"
t tok-default-missing       "spiece\.model"      "$L" generate --threads 1 --model "$M0" "hello"
t tok-vocab-too-big-for-model "vocab|1100|32" "$L" generate --threads 1 --model "$M0" --tokenizer "$BIGTOK" "translate English to German: The house is wonderful."

# --- data -------------------------------------------------------------------------------------
DT=("$L" data --task rte --split train --data)
t data-missing-dir          "no-such-dir"        "${DT[@]}" "$W/no-such-dir"
t data-file-not-dir         "a-file"             "${DT[@]}" "$W/d/a-file"
t data-empty-dir            "empty|rte|train"    "${DT[@]}" "$W/empty"
t data-rte-no-dev           "dev\.tsv"           "$L" data --task rte --split validation --data "$W/d/rte-no-dev"
t data-rte-empty-train      "train\.tsv"         "${DT[@]}" "$W/d/rte-empty-train"
t data-rte-header-only      "train\.tsv"         "${DT[@]}" "$W/d/rte-header-only"
t data-rte-binary-train     "train\.tsv"         "${DT[@]}" "$W/d/rte-binary-train"
t data-rte-malformed        "train\.tsv"         "${DT[@]}" "$G/malformed/RTE"
t data-cola-malformed       "train\.tsv"         "$L" data --task cola --split train --data "$W/d/cola-malformed"
t data-stsb-malformed       "train\.tsv"         "$L" data --task stsb --split train --data "$W/d/stsb-malformed"
t data-task-bogus           "bogus"              "$L" data --task bogus --data "$G"
CT=("$L" data --task custom --split train --data)
t custom-missing-file       "nope\.jsonl"        "${CT[@]}" "$W/d/nope.jsonl"
t custom-bad-jsonl          "bad\.jsonl"         "${CT[@]}" "$CS/bad.jsonl"
t custom-jsonl-not-object   "not-object\.jsonl"  "${CT[@]}" "$W/d/not-object.jsonl"
t custom-jsonl-label-object "label-object\.jsonl&label" "${CT[@]}" "$W/d/label-object.jsonl"
t custom-jsonl-bad-utf8     "bad-utf8\.jsonl"    "${CT[@]}" "$W/d/bad-utf8.jsonl"
t custom-csv-unterminated   "unterminated\.csv"  "${CT[@]}" "$CS/unterminated.csv"
t custom-csv-after-quote    "after_quote\.csv"   "${CT[@]}" "$CS/after_quote.csv"
t custom-tsv-bad-columns    "bad_columns\.tsv"   "${CT[@]}" "$CS/bad_columns.tsv"
t custom-tsv-random-bytes   "random\.tsv"        "${CT[@]}" "$W/d/random.tsv"
t custom-empty-file         "empty\.jsonl"       "${CT[@]}" "$W/d/empty.jsonl"
t custom-header-only        "header-only\.csv"   "${CT[@]}" "$W/d/header-only.csv"
t custom-unknown-extension  "notes\.xml"         "${CT[@]}" "$CS/notes.xml"
t custom-one-row            "one-row\.jsonl"     "${CT[@]}" "$W/d/one-row.jsonl"
t custom-folder-no-train    "train"              "${CT[@]}" "$W/d/custom-no-train"
t custom-no-such-text-field "nope"               "${CT[@]}" "$CS/reviews.jsonl" --text-field nope
t custom-no-such-target     "nope"               "${CT[@]}" "$CS/translate.csv" --source-field source --target-field nope
t custom-labels-blank       "label-blank\.jsonl&label" "${CT[@]}" "$W/d/label-blank.jsonl"
t custom-labels-spaces-trimmed 'out:"target": ?"(pos|neg)"' "${CT[@]}" "$W/d/label-spaces.jsonl"
trx custom-train-labels-blank "label-blank\.jsonl&label" "$M0" "$TOK" custom "$W/d/label-blank.jsonl"
trx train-data-missing      "no-such-dir"        "$M0" "$TOK" rte "$W/no-such-dir"

# --- flags ------------------------------------------------------------------------------------
trn flag-lr-nan             "lr"                 --method lora --lr nan
trn flag-lr-0               "lr"                 --method lora --lr 0
trn flag-lr-inf             "lr"                 --method lora --lr inf
trn flag-lr-1e400           "lr"                 --method lora --lr 1e400
trn flag-lr-text            "lr"                 --method lora --lr fast
trn flag-max-grad-norm--1   "max-grad-norm"      --method lora --max-grad-norm -1
trn flag-max-grad-norm-nan  "max-grad-norm"      --method lora --max-grad-norm nan
trn flag-weight-decay-nan   "weight-decay"       --method lora --weight-decay nan
trn flag-seed--1            "seed"               --method lora --seed -1
trn flag-seed-2^64          "seed"               --method lora --seed 18446744073709551616
trn flag-max-steps-1e20     "max-steps"          --method lora --max-steps 1e20
trn flag-max-steps-0        "max-steps"          --method lora --max-steps 0
trn flag-threads-100000     "threads"            --method lora --threads 100000
trn flag-threads--1         "threads"            --method lora --threads -1
trn flag-batch-size-0       "batch-size"         --method lora --batch-size 0
trn flag-batch-size-2.5     "batch-size"         --method lora --batch-size 2.5
trn flag-grad-accum-0       "grad-accum"         --method lora --grad-accum 0
trn flag-epochs-0           "epochs"             --method lora --epochs 0
trn flag-warmup--5          "warmup"             --method lora --warmup-steps -5
trn flag-max-source-length-1  "max-source-length"  --method lora --max-source-length 1
trn flag-eval-batch-size-0  "eval-batch-size"    --method lora --eval-batch-size 0
trn flag-stsb-step-0.3      "stsb-step"          --method lora --stsb-step 0.3
trn flag-method-bogus       "method&bogus"       --method bogus
trx flag-task-bogus         "task|bogus"         "$M0" "$TOK" bogus "$G/RTE"
trn flag-precision-fp16     "precision"          --method lora --precision fp16
trn flag-out-and-resume     "resume|out"         --method lora --resume "$W/base"
trn settings-not-json       "settings"           --method lora --settings '{"r": 8'
trn settings-array          "settings"           --method lora --settings '[8]'
trn settings-lora-r--1      "\br\b"              --method lora --settings '{"r": -1}'
trn settings-lora-r-0       "\br\b"              --method lora --settings '{"r": 0}'
trn settings-lora-r-string  "\br\b"              --method lora --settings '{"r": "8"}'
trn settings-lora-r-2.5     "\br\b"              --method lora --settings '{"r": 2.5}'
trn settings-lora-unknown-key  "rr"                --method lora --settings '{"rr": 8}'
trn settings-lora-bad-module  "target_modules|nonexistent" --method lora --settings '{"target_modules": ["nonexistent"]}'
trn settings-lora-dropout-1.5  "dropout"           --method lora --settings '{"dropout": 1.5}'
trn settings-adapter-rf-0   "reduction_factor"   --method adapter --settings '{"reduction_factor": 0}'
trn settings-prompt-tokens-0  "num_virtual_tokens" --method prompt --settings '{"num_virtual_tokens": 0}'
trn settings-lst-fisher--5  "fisher_samples"     --method lst --settings '{"fisher_samples": -5}'
trn settings-lst-side-init  "side_init|bogus"    --method lst --settings '{"side_init": "bogus"}'
trn flag-lst-reduction-1000 "reduction"          --method lst --reduction 1000
trn flag-lst-side-layers-99 "side-layers|side_layers|99" --method lst --side-layers 99
trn flag-lst-side-layers--1 "side-layers|side_layers|-1" --method lst --side-layers -1
t inspect-settings-bad      "settings"           "${INS[@]}" "$M0" --method lora --settings '{"r":'
t generate-max-new-tokens-0 "max-new-tokens"     "$L" generate --threads 1 --model "$M0" --tokenizer "$TOK" --max-new-tokens 0 "hi"
t generate-max-new-1e20     "max-new-tokens"     "$L" generate --threads 1 --model "$M0" --tokenizer "$TOK" --max-new-tokens 1e20 "hi"
t tokenize-max-length-0     "max-length"         "$L" tokenize --tokenizer "$TOK" --max-length 0 "hi"
t eval-batch-size-0         "batch-size"         "${EV[@]}" --weights "$W/a/lora" --batch-size 0
t bench-memory-bogus-method "bogus"              "$L" bench memory --threads 1 --model "$M0" --batch 1 --src-len 4 --tgt-len 2 --warmup 0 --steps 1 --methods bogus
t bench-memory-batch-0      "batch"              "$L" bench memory --threads 1 --model "$M0" --batch 0 --src-len 4 --tgt-len 2 --warmup 0 --steps 1 --methods lora
pt pretrain-noise-density-1.5 "noise.density"    --noise-density 1.5
pt pretrain-noise-density-0 "noise.density"      --noise-density 0
pt pretrain-mean-span-0     "mean.*span"   --mean-span-length 0
pt pretrain-dropout-1.5     "dropout"            --dropout 1.5
pt pretrain-adam-beta2-1.5  "adam-beta2"         --adam-beta2 1.5
pt pretrain-lr-nan          "lr"                 --lr nan
pt pretrain-max-grad-norm--1 "max-grad-norm"     --max-grad-norm -1
pt pretrain-weight-decay--1 "weight-decay"       --weight-decay -1
pt pretrain-vocab-size-10   "vocab-size|vocab"   --vocab-size 10
t pretrain-d-model-huge     "d-model|d_model|memory" "$L" pretrain --corpus "$CORPUS" --tokenizer "$TOK" --d-model 100000000 \
  --num-layers 1 --num-decoder-layers 1 --batch-size 2 --max-steps 1 --input-length 16 --baseline-examples 0 --threads 1 --out "$W/p/huge"
pt pretrain-ffn-bogus       "feed-forward-proj|bogus" --feed-forward-proj bogus
t pretrain-corpus-missing   "nope\.txt"          "${PT[@]/$CORPUS/$W/d/nope.txt}" --out "$W/p/corpus-missing"
t pretrain-corpus-empty     "empty-corpus\.txt"  "${PT[@]/$CORPUS/$W/d/empty-corpus.txt}" --out "$W/p/corpus-empty"
t pretrain-corpus-bad-xz    "random\.txt\.xz"    "${PT[@]/$CORPUS/$W/d/random.txt.xz}" --out "$W/p/corpus-bad-xz"
t pretrain-corpus-truncated-xz "truncated\.txt\.xz" "${PT[@]/$CORPUS/$ROOT/tests/data/pretrain/truncated.txt.xz}" --out "$W/p/corpus-trunc"
PTB=("$L" pretrain --corpus "$CORPUS" --tokenizer "$TOK" --batch-size 2 --max-steps 1 --input-length 16 --baseline-examples 0 --threads 1)
t pretrain-config-garbage   "garbage-config\.json" "${PTB[@]}" --config "$W/d/garbage-config.json" --out "$W/p/config-garbage"
t pretrain-init-missing     "no-such-init"       "${PTB[@]}" --init "$W/no-such-init" --out "$W/p/init-missing"
t pretrain-init-bad-weights "model\.safetensors" "${PTB[@]}" --init "$(m st-data-truncated)" --out "$W/p/init-bad"
t pretrain-resume-non-run   "empty"              "$L" pretrain --threads 1 --resume "$W/empty"

# --- run folders ------------------------------------------------------------------------------
RS=("$L" train --threads 1 --resume)
t resume-non-run-dir        "empty"              "${RS[@]}" "$W/empty"
t resume-missing-dir        "no-such-run"        "${RS[@]}" "$W/no-such-run"
R=$(cprun base runjson-garbage); echo '{"method": "lora", ' >"$R/run.json"
t resume-run.json-garbage   "run\.json"          "${RS[@]}" "$R"
R=$(cprun base runjson-empty); : >"$R/run.json"
t resume-run.json-empty     "run\.json"          "${RS[@]}" "$R"
R=$(cprun base runjson-array); echo '[1, 2]' >"$R/run.json"
t resume-run.json-array     "run\.json"          "${RS[@]}" "$R"
R=$(cprun unfinished runjson-method-number); jset "$R/run.json" method 5
t resume-run.json-method-5  "run\.json&method"   "${RS[@]}" "$R"
R=$(cprun unfinished runjson-batch-0); jset "$R/run.json" training.batch_size 0
t resume-run.json-batch-0   "run\.json&batch_size" "${RS[@]}" "$R"
R=$(cprun unfinished runjson-lr-neg); jset "$R/run.json" training.learning_rate -1
t resume-run.json-lr--1     "run\.json&learning_rate" "${RS[@]}" "$R"
R=$(cprun unfinished runjson-model-gone); jset "$R/run.json" model "\"$W/moved-away\""
t resume-run.json-model-gone "moved-away"        "${RS[@]}" "$R"
R=$(cprun unfinished control); t resume-valid-control 'out:"global_step": ?600' "${RS[@]}" "$R"
R=$(cprun unfinished state-batch); jset "$R/last/training_state.json" batch_in_epoch 1000000
t resume-state-batch_in_epoch-1e6 "training_state\.json&batch_in_epoch" "${RS[@]}" "$R"
R=$(cprun unfinished state-step); jset "$R/last/training_state.json" global_step -1
t resume-state-global_step--1 "training_state\.json&step" "${RS[@]}" "$R"
R=$(cprun unfinished state-garbage); echo 'step=5' >"$R/last/training_state.json"
t resume-state-garbage      "training_state\.json" "${RS[@]}" "$R"
R=$(cprun unfinished state-gone); rm "$R/last/training_state.json"
t resume-state-missing      "training_state\.json" "${RS[@]}" "$R"
R=$(cprun unfinished optim-cut); cut_half "$R/last/optimizer.safetensors"
t resume-optimizer-truncated "optimizer\.safetensors" "${RS[@]}" "$R"
R=$(cprun unfinished optim-gone); rm "$R/last/optimizer.safetensors"
t resume-optimizer-missing  "optimizer\.safetensors" "${RS[@]}" "$R"
R=$(cprun unfinished adapter-gone); rm "$R/last/adapter_model.safetensors"
t resume-adapter-missing    "adapter_model\.safetensors" "${RS[@]}" "$R"
R=$(cprun base out-again)
t out-into-existing-run     "out-again"          "${TRB[@]}" --method lora --out "$R"
t out-is-a-file             "a-file"             "${TRB[@]}" --method lora --out "$W/d/a-file"
t out-under-dev-null        "dev/null"           "${TRB[@]}" --method lora --out /dev/null/run
t eval-run-non-run-dir      "empty"              "$L" eval --threads 1 --run "$W/empty"
R=$(cprun base eval-runjson); echo 'nope' >"$R/run.json"
t eval-run.json-garbage     "run\.json"          "$L" eval --threads 1 --run "$R"
R=$(cprun base eval-best-gone); rm -r "$R/best"
t eval-best-missing         "best"               "$L" eval --threads 1 --run "$R" --checkpoint best
R=$(cprun base predict-cut); cut_half "$R/last/adapter_model.safetensors"
t predict-adapter-truncated "adapter_model\.safetensors" "$L" predict --threads 1 --run "$R" --checkpoint last "a"$'\t'"b"
t predict-input-missing     "nope\.txt"          "$L" predict --threads 1 --run "$W/base" --input "$W/d/nope.txt"
t predict-pair-without-tab  "tab|pair"           "$L" predict --threads 1 --run "$W/base" --input "$W/d/no-tab.txt"
t predict-run-missing       "no-such-run"        "$L" predict --threads 1 --run "$W/no-such-run" "a"$'\t'"b"

# --- adapter folders --------------------------------------------------------------------------
A=$(cpad lora says-bitfit); jset "$A/ladder_config.json" method '"bitfit"'
t eval-weights-config-says-bitfit "ladder_config\.json|bitfit|lora" "${EV[@]}" --weights "$A"
t forward-adapter-config-says-bitfit "ladder_config\.json|bitfit|lora" "${FW[@]}" --model "$M0" --adapter "$A"
A=$(cpad lora says-lst); jset "$A/ladder_config.json" method '"lst"'
t forward-adapter-config-says-lst "ladder_config\.json|lst|lora" "${FW[@]}" --model "$M0" --adapter "$A"
A=$(cpad lora says-bogus); jset "$A/ladder_config.json" method '"bogus"'
t eval-weights-method-bogus "bogus"              "${EV[@]}" --weights "$A"
t eval-weights-method-flag-mismatch "method&bitfit|lora" "${EV[@]}" --weights "$W/a/lora" --method bitfit
A=$(cpad lora no-weights); rm "$A/adapter_model.safetensors"
t eval-weights-no-safetensors "adapter_model\.safetensors" "${EV[@]}" --weights "$A"
t forward-adapter-no-safetensors "adapter_model\.safetensors" "${FW[@]}" --model "$M0" --adapter "$A"
A=$(cpad lora no-config); rm "$A/adapter_config.json"
t eval-weights-no-config    "adapter_config\.json" "${EV[@]}" --weights "$A"
A=$(cpad lora config-garbage); echo '{"method": ' >"$A/ladder_config.json"
t forward-adapter-config-garbage "ladder_config\.json" "${FW[@]}" --model "$M0" --adapter "$A"
# PEFT's own LoRA folders (adapter_config.json alone): read, and what ladder's LoRA does not compute refused.
A=$(cpad lora peft-only); rm "$A/ladder_config.json"
t eval-weights-peft-lora-folder 'out:"score"' "${EV[@]}" --weights "$A"
A=$(cpad lora peft-dora); rm "$A/ladder_config.json"; jset "$A/adapter_config.json" use_dora true
t eval-weights-peft-dora    "adapter_config\.json&use_dora" "${EV[@]}" --weights "$A"
A=$(cpad lora peft-pattern); rm "$A/ladder_config.json"; jset "$A/adapter_config.json" target_modules '".*\\\\.q$"'
t eval-weights-peft-pattern "adapter_config\.json&target_modules" "${EV[@]}" --weights "$A"
A=$(cpad lora peft-r-16); rm "$A/ladder_config.json"; jset "$A/adapter_config.json" r 16
t eval-weights-peft-r-16    "lora_A|shape" "${EV[@]}" --weights "$A"
A=$(cpad lora r-16); jset "$A/ladder_config.json" settings.r 16
t eval-weights-config-r-16  "lora_A|shape|\br\b" "${EV[@]}" --weights "$A"
A=$(cpad lora weights-cut); cut_half "$A/adapter_model.safetensors"
t eval-weights-truncated    "adapter_model\.safetensors" "${EV[@]}" --weights "$A"
A=$(cpad lora tensor-gone)
python3 - "$A/adapter_model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
del h[sorted(k for k in h if k != '__metadata__')[0]]
s = json.dumps(h).encode(); s += b' ' * ((8 - len(s) % 8) % 8); open(p, 'wb').write(struct.pack('<Q', len(s)) + s + b[8 + n:])
PY
t forward-adapter-tensor-missing "lora_A|lora_B|missing" "${FW[@]}" --model "$M0" --adapter "$A"
t eval-weights-of-another-model "model|backbone|checksum" "${EV[@]}" --weights "$W/a/lora-v1_1"
t forward-adapter-of-another-model "model|backbone|checksum" "${FW[@]}" --model "$M0" --adapter "$W/a/lora-v1_1"
t forward-adapter-lst-on-v1_1 "model|backbone|checksum" "${FW[@]}" --model "$M1" --adapter "$W/a/lst"
t eval-weights-missing-dir  "no-such-adapter"    "${EV[@]}" --weights "$W/a/no-such-adapter"
t eval-weights-is-run-dir   "adapter_config\.json|best|last" "${EV[@]}" --weights "$W/base"

# --- forward inputs ---------------------------------------------------------------------------
FI=("$L" forward --threads 1 --model "$M0" --output "$W/out.safetensors" --inputs)
t fwd-inputs-garbage        "garbage\.safetensors" "${FI[@]}" "$W/in/garbage.safetensors"
t fwd-inputs-missing        "nope\.safetensors"  "${FI[@]}" "$W/in/nope.safetensors"
t fwd-no-input_ids          '"input_ids"'          "${FI[@]}" "$W/in/no-input_ids.safetensors"
t fwd-input_ids-5000        '"input_ids"&5000|1100' "${FI[@]}" "$W/in/ids-big.safetensors"
t fwd-input_ids-negative    '"input_ids"&-3|1100'  "${FI[@]}" "$W/in/ids-negative.safetensors"
t fwd-input_ids-float       '"input_ids"'          "${FI[@]}" "$W/in/ids-float.safetensors"
t fwd-input_ids-3d          '"input_ids"'          "${FI[@]}" "$W/in/ids-3d.safetensors"
t fwd-input_ids-empty       '"input_ids"'          "${FI[@]}" "$W/in/ids-empty.safetensors"
t fwd-attention_mask-shape  "attention_mask"     "${FI[@]}" "$W/in/mask-shape.safetensors"
t fwd-attention_mask-7      "attention_mask"     "${FI[@]}" "$W/in/mask-values.safetensors"
t fwd-labels-1d             "labels"             "${FI[@]}" "$W/in/labels-1d.safetensors"
t fwd-labels-5000           "labels"             "${FI[@]}" "$W/in/labels-5000.safetensors"
t fwd-labels-batch-mismatch "labels"             "${FI[@]}" "$W/in/labels-batch.safetensors"
t fwd-decoder_input_ids-negative "decoder_input_ids" "${FI[@]}" "$W/in/decoder-ids-negative.safetensors"
t fwd-output-dir-missing    "no-such-dir"        "$L" forward --threads 1 --model "$M0" --inputs "$GOLD" --output "$W/no-such-dir/out.safetensors"

# --- backbone cache ---------------------------------------------------------------------------
echo x >"$W/passwd-copy"
CB=("$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" --method lst --epochs 2 --batch-size 2 --threads 1)
DET='{"backbone_dropout": false, "side_init": "random"}'
t cache-with-backbone-dropout "backbone_dropout"   "${CB[@]}" --cache-backbone --out "$W/r/cache-dropout"
t cache-with-lora           "method lora"          "${CB[@]/lst/lora}" --cache-backbone --out "$W/r/cache-lora"
t cache-dir-is-a-file       "passwd-copy&cannot make the folder" "${CB[@]}" --settings "$DET" --cache-backbone "$W/passwd-copy" --out "$W/r/cache-file"
t cache-memory-lots         "cache-memory&512M"    "${CB[@]}" --settings "$DET" --cache-backbone --cache-memory lots --out "$W/r/cache-mem"
t cache-dtype-fp16          "cache-dtype"          "${CB[@]}" --settings "$DET" --cache-backbone --cache-dtype fp16 --out "$W/r/cache-fp16"
t cache-dtype-without-cache "cache-backbone"       "${CB[@]}" --settings "$DET" --cache-dtype int8 --out "$W/r/cache-none"
setup "${CB[@]}" --settings "$DET" --cache-backbone "$W/cache" --out "$W/r/cache-first"
for f in "$W"/cache/*/states.bin; do head -c 4096 /dev/urandom | dd of="$f" bs=1 seek=100 conv=notrunc status=none; done
t cache-states-damaged      "out:global_step"      "${CB[@]}" --settings "$DET" --cache-backbone "$W/cache" --out "$W/r/cache-damaged"
for f in "$W"/cache/*/identity.json; do echo 'not json' >"$f"; done
t cache-identity-garbage    "out:global_step"      "${CB[@]}" --settings "$DET" --cache-backbone "$W/cache" --out "$W/r/cache-identity"

# --- vision-language --------------------------------------------------------------------------
# Against the fixture world tests/data/vl_world (bench/vl_world.py: 12 synthetic images, 49 x 16
# features, as .h5 files and one .safetensors): its task folders are copied and one file spoilt.
# Image synth_000001 is in the training and the validation files, so a fault in its features
# is met by the up-front check (presence) or at the latest by the evaluation after step 1.
VW=$ROOT/tests/data/vl_world
python3 - "$W" "$VW" <<'PY' || { echo "hostile-inputs: making the VL fixtures failed" >&2; exit 2; }
import ctypes, ctypes.util, json, os, shutil, struct, sys
W, VW = sys.argv[1:3]
V = W + '/vl'

def h5lib():  # the HDF5 C library the ladder binary links, through ctypes (no h5py needed)
    for name in ('libhdf5_serial.so.103', ctypes.util.find_library('hdf5_serial'), ctypes.util.find_library('hdf5')):
        if name:
            try: return ctypes.CDLL(name)
            except OSError: pass
    raise SystemExit('hostile-inputs: libhdf5 not found (the VL .h5 fixtures need it)')
H5 = h5lib(); H5.H5open()
hid = ctypes.c_int64  # hid_t of HDF5 >= 1.10
for f in ('H5Fcreate', 'H5Gcreate2', 'H5Screate_simple', 'H5Dcreate2'): getattr(H5, f).restype = hid
def write_h5(path, dataset, shape, written=True):
    """An .h5 file holding the float32 dataset `dataset` ('ID/features') of `shape`, all 0.5
    (or, not `written`, created and never written)."""
    f = H5.H5Fcreate(path.encode(), 2, hid(0), hid(0))   # H5F_ACC_TRUNC, H5P_DEFAULT
    groups = [H5.H5Gcreate2(hid(f), dataset.split('/')[0].encode(), hid(0), hid(0), hid(0))]
    space = H5.H5Screate_simple(len(shape), (ctypes.c_uint64 * len(shape))(*shape), None)
    d = H5.H5Dcreate2(hid(f), dataset.encode(), hid.in_dll(H5, 'H5T_IEEE_F32LE_g'), hid(space), hid(0), hid(0), hid(0))
    assert min(f, groups[0], space, d) >= 0, (path, dataset)
    n = 1
    for x in shape: n *= x
    if n and written:
        assert H5.H5Dwrite(hid(d), hid.in_dll(H5, 'H5T_NATIVE_FLOAT_g'), hid(0), hid(0), hid(0), (ctypes.c_float * n)(*([0.5] * n))) >= 0
    H5.H5Dclose(hid(d)); H5.H5Sclose(hid(space)); H5.H5Gclose(hid(groups[0])); H5.H5Fclose(hid(f))

def features_dir(name):
    d = f'{V}/{name}'; shutil.copytree(VW + '/features', d); return d
os.remove(features_dir('h5-missing-one') + '/synth_000001.h5')
write_h5(features_dir('h5-wrong-name') + '/synth_000001.h5', 'synth_000001/feats', [49, 16])
write_h5(features_dir('h5-rank3') + '/synth_000001.h5', 'synth_000001/features', [7, 7, 16])
write_h5(features_dir('h5-zero-rows') + '/synth_000001.h5', 'synth_000001/features', [0, 16])
write_h5(features_dir('h5-width-17') + '/synth_000001.h5', 'synth_000001/features', [49, 17])
write_h5(features_dir('h5-unwritten') + '/synth_000001.h5', 'synth_000001/features', [49, 16], written=False)
open(features_dir('h5-not-hdf5') + '/synth_000001.h5', 'w').write('not an HDF5 file\n')

ST = open(VW + '/features.safetensors', 'rb').read()
open(f'{V}/truncated.safetensors', 'wb').write(ST[:len(ST) // 2])
n = struct.unpack('<Q', ST[:8])[0]; H = json.loads(ST[8:8 + n]); D = ST[8 + n:]
h, data = {}, b''
for k in sorted(k for k in H if k != '__metadata__'):  # synth_000001 widened to [49, 17]
    b, e = H[k]['data_offsets']; raw = D[b:e]; shape = H[k]['shape']
    if k == 'synth_000001': shape = [49, 17]; raw = struct.pack('<%df' % (49 * 17), *([0.5] * (49 * 17)))
    h[k] = {'dtype': H[k]['dtype'], 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}; data += raw
s = json.dumps(h).encode(); s += b' ' * (-len(s) % 8)
open(f'{V}/width-17.safetensors', 'wb').write(struct.pack('<Q', len(s)) + s + data)

def data_dir(name, task, file, spoil):
    d = f'{V}/{name}'
    for t in ('vqa', 'gqa', 'nlvr', 'caption'): shutil.copytree(f'{VW}/{t}', f'{d}/{t}')
    p = f'{d}/{task}/{file}'
    if isinstance(spoil, str): open(p, 'w').write(spoil); return
    j = json.load(open(p)); spoil(j); json.dump(j, open(p, 'w'))
data_dir('vqa-not-json', 'vqa', 'train.json', '{"img_id": "synth_000000", "sent": ')
data_dir('vqa-no-img_id', 'vqa', 'train.json', lambda j: j[3].pop('img_id'))
data_dir('vqa-empty-label', 'vqa', 'train.json', lambda j: j[3].__setitem__('label', {}))
data_dir('nlvr-label-2', 'nlvr', 'train.json', lambda j: j[3].__setitem__('label', 2))
data_dir('caption-no-sentences', 'caption', 'dataset_coco.json',
         lambda j: next(i for i in j['images'] if i['split'] == 'train').pop('sentences'))
PY
VT=("$L" train --model "$M0" --tokenizer "$TOK" --max-steps 1 --batch-size 2 --threads 1)
# vl NAME EXPECT FLAGS...: a one-step VL run, --task vqa, the world's data and .safetensors
# features, 36 visual tokens; FLAGS replace the defaults they name
vl() {
  local n=$1 e=$2 f
  shift 2
  local a=("${VT[@]}" --out "$W/r/$n")
  for f in "--task=vqa" "--data=$VW" "--features=$VW/features.safetensors" "--visual-tokens=36"; do
    [[ " $* " == *" ${f%%=*} "* ]] || a+=("${f%%=*}" "${f#*=}")
  done
  t "$n" "$e" "${a[@]}" "$@"
}
V=$W/vl
vl vl-valid-control         'out:"vqa_score"'    --task vqa,nlvr
vl vl-valid-h5-control      'out:"vqa_score"'    --features "$VW/features"
vl vl-features-missing      "no-such-features"   --features "$W/no-such-features"
vl vl-features-is-json      "world\.json"        --features "$VW/world.json"
vl vl-h5-missing-one        "synth_000001"       --features "$V/h5-missing-one"
vl vl-h5-wrong-dataset-name "synth_000001\.h5&synth_000001/features" --features "$V/h5-wrong-name"
vl vl-h5-rank3              "synth_000001\.h5&rank" --features "$V/h5-rank3"
vl vl-h5-zero-rows          "synth_000001\.h5&\[0, 16\]|rows" --features "$V/h5-zero-rows"
vl vl-h5-width-17           "synth_000001&width|17" --features "$V/h5-width-17"
vl vl-h5-not-hdf5           "synth_000001\.h5&hdf5" --features "$V/h5-not-hdf5"
vl vl-h5-unwritten          "synth_000001\.h5&no values stored" --features "$V/h5-unwritten"
vl vl-safetensors-truncated "truncated\.safetensors" --features "$V/truncated.safetensors"
vl vl-safetensors-width-17  "width-17\.safetensors&synth_000001&width|17" --features "$V/width-17.safetensors"
vl vl-vqa-not-json          "train\.json&json"   --data "$V/vqa-not-json"
vl vl-vqa-no-img_id         "train\.json&img_id" --data "$V/vqa-no-img_id"
vl vl-vqa-empty-label       "train\.json&label|answer" --data "$V/vqa-empty-label"
vl vl-nlvr-label-2          "train\.json&label"  --task nlvr --data "$V/nlvr-label-2"
vl vl-caption-no-sentences  "dataset_coco\.json&sentences" --task caption --data "$V/caption-no-sentences"
vl vl-visual-tokens-35      "visual-tokens&35"   --visual-tokens 35
vl vl-visual-tokens-64      "visual-tokens|64&49|64" --visual-tokens 64
vl vl-visual-tokens--1      "visual-tokens"      --visual-tokens -1
vl vl-task-twice            "vqa&twice|more than once|duplicate|repeated" --task vqa,vqa
vl vl-task-unknown          "foo"                --task vqa,foo
vl vl-task-empty-item       '"vqa,"|empty'      --task vqa,
vl vl-no-features           "features"           --features ""
t vl-features-with-glue     "features&vision-language|rte" "${TRB[@]}" --method lora --features "$VW/features.safetensors" --out "$W/r/vl-features-with-glue"
vl vl-data-missing          "no-such-vl-data"    --data "$W/no-such-vl-data"

# --- data parallel (torchrun's environment, --nproc, --dist-*) -------------------------------------
# dtr NAME EXPECT "VAR=VALUE ..." FLAGS...: a short lora run with those environment variables
dtr() { local n=$1 e=$2 vars=$3 method=(--method lora); shift 3
  [[ " $* " == *" --method "* ]] && method=()
  # shellcheck disable=SC2086  # the variables are words on purpose
  t "$n" "$e" env $vars "$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" "${method[@]}" \
    --max-steps 1 --batch-size 2 --threads 1 --out "$W/r/$n" "$@"; }
DE="MASTER_ADDR=127.0.0.1 MASTER_PORT=29871"
dtr dist-rank-out-of-range    "RANK&0\.\.1"        "RANK=2 WORLD_SIZE=2 $DE"
dtr dist-world-size-words     "WORLD_SIZE&two"      "RANK=0 WORLD_SIZE=two $DE"
dtr dist-no-master-addr       "MASTER_ADDR"         "RANK=0 WORLD_SIZE=2 MASTER_PORT=29871"
dtr dist-port-70000           "MASTER_PORT&70000"   "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=70000"
dtr dist-rank-without-world   "RANK&WORLD_SIZE"     "RANK=0"
dtr dist-nproc-under-torchrun "nproc&RANK"          "RANK=0 WORLD_SIZE=2 $DE" --nproc 2
dtr dist-peer-never-joins     "rendezvous&joined"   "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29872" --dist-timeout 3
dtr dist-store-unreachable    "rendezvous&store"    "RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29873" --dist-timeout 3
dtr dist-nproc-0              "nproc"               "" --nproc 0
dtr dist-backend-one-process  "dist-backend"        "" --dist-backend gloo
dtr dist-nccl-on-cpu          "nccl"                "" --nproc 2 --dist-backend nccl
dtr dist-timeout-0            "dist-timeout"        "" --nproc 2 --dist-timeout 0
dtr dist-cache-backbone       "cache-backbone&ranks" "" --nproc 2 --method lst --settings '{"backbone_dropout": false, "side_init": "magnitude"}' --cache-backbone

# --- decoder-only models (Llama family), llama2.c checkpoints, their tokenizers ---------------
LL=$ROOT/tests/data/llama/llama-gqa
L2C=$ROOT/tests/data/llama2c/stories260K.bin
LLTOK=$ROOT/tests/data/tokenizer/llama2/tokenizer.model
BBPE=$ROOT/tests/data/tokenizer/byte-bpe/llama3-style/tokenizer.json
mkdir -p "$W/ll"
head -c 100000 "$L2C" >"$W/ll/short.bin"
{ cat "$L2C"; printf 'xxxx'; } >"$W/ll/long.bin"
python3 - "$L2C" "$W/ll" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
def put(name, offset, value):
    d = bytearray(data); d[offset:offset + 4] = struct.pack("<i", value); open(sys.argv[2] + "/" + name, "wb").write(d)
put("heads0.bin", 12, 0)              # n_heads 0
put("kv3.bin", 16, 3)                 # n_kv_heads that does not divide n_heads
put("huge-dim.bin", 0, 1 << 30)       # dim beyond any model
put("magic.bin", 0, 0x616b3432)       # a versioned export
nan = bytearray(data); nan[28:32] = struct.pack("<f", float("nan")); open(sys.argv[2] + "/nan.bin", "wb").write(nan)
PY
t llama2c-truncated        "short\.bin&file size&truncated"   "$L" convert llama2c "$W/ll/short.bin" --out "$W/ll/o1"
t llama2c-trailing-data    "long\.bin&file size"              "$L" convert llama2c "$W/ll/long.bin" --out "$W/ll/o2"
t llama2c-zero-heads       "heads0\.bin&n_heads"              "$L" convert llama2c "$W/ll/heads0.bin" --out "$W/ll/o3"
t llama2c-kv-heads         "kv3\.bin&n_kv_heads"              "$L" convert llama2c "$W/ll/kv3.bin" --out "$W/ll/o4"
t llama2c-huge-dim         "huge-dim\.bin&dim"                "$L" convert llama2c "$W/ll/huge-dim.bin" --out "$W/ll/o5"
t llama2c-versioned        "magic\.bin&versioned"             "$L" convert llama2c "$W/ll/magic.bin" --out "$W/ll/o6"
t llama2c-nan              "nan\.bin&non-finite"              "$L" convert llama2c "$W/ll/nan.bin" --out "$W/ll/o7"
t llama2c-not-a-file       "llama2c|file|exist"               "$L" convert llama2c "$W/empty" --out "$W/ll/o8"
"$L" convert llama2c "$L2C" --out "$W/ll/stories" >/dev/null 2>&1
t llama2c-out-exists       "config\.json&exists"              "$L" convert llama2c "$L2C" --out "$W/ll/stories"
t llama2c-ok               "out:LlamaForCausalLM"             "$L" convert llama2c "$L2C" --out "$W/ll/stories2"
# llama2.c's tokenizer file (tok512.bin): damaged, of another vocabulary, or no tokenizer at all
TOK512=$ROOT/tests/data/llama2c/tok512.bin
head -c 3000 "$TOK512" >"$W/ll/tok-short.bin"
{ cat "$TOK512"; printf 'xy'; } >"$W/ll/tok-trailing.bin"
python3 - "$TOK512" "$W/ll" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
def put(name, offset, value):
    d = bytearray(data); d[offset:offset + 4] = struct.pack("<i", value); open(sys.argv[2] + "/" + name, "wb").write(d)
put("tok-max0.bin", 0, 0)               # max_token_length 0
put("tok-huge-piece.bin", 8, 1 << 30)   # token 0 claims a 1 GiB piece
nan = bytearray(data); nan[4:8] = struct.pack("<f", float("nan")); open(sys.argv[2] + "/tok-nan.bin", "wb").write(nan)
bad = bytearray(data); at = bad.find(b"<0x41>"); bad[at + 1] = ord("X"); open(sys.argv[2] + "/tok-bytes.bin", "wb").write(bad)
PY
t llama2c-tok-truncated    "tok-short\.bin&truncated"         "$L" convert llama2c "$L2C" --tokenizer "$W/ll/tok-short.bin" --out "$W/ll/t1"
t llama2c-tok-trailing     "tok-trailing\.bin&stray bytes"    "$L" convert llama2c "$L2C" --tokenizer "$W/ll/tok-trailing.bin" --out "$W/ll/t2"
t llama2c-tok-max0         "tok-max0\.bin&max_token_length"   "$L" convert llama2c "$L2C" --tokenizer "$W/ll/tok-max0.bin" --out "$W/ll/t3"
t llama2c-tok-huge-piece   "tok-huge-piece\.bin&length"       "$L" convert llama2c "$L2C" --tokenizer "$W/ll/tok-huge-piece.bin" --out "$W/ll/t4"
t llama2c-tok-nan          "tok-nan\.bin&non-finite"          "$L" convert llama2c "$L2C" --tokenizer "$W/ll/tok-nan.bin" --out "$W/ll/t5"
t llama2c-tok-bytes        "tok-bytes\.bin&<0x41>"            "$L" convert llama2c "$L2C" --tokenizer "$W/ll/tok-bytes.bin" --out "$W/ll/t6"
t llama2c-tok-vocabulary   "tokenizer\.bin&512&32000"         "$L" convert llama2c "$L2C" --tokenizer "$ROOT/tests/data/tokenizer/llama2/tokenizer.bin" --out "$W/ll/t7"
t llama2c-tok-model-file   "stories260K\.bin"                 "$L" tokenize --tokenizer "$L2C" "hello"
t llama2c-tok-generate     "tok-short\.bin&truncated"         "$L" generate --threads 1 --model "$W/ll/stories2" --tokenizer "$W/ll/tok-short.bin" "hello"
t llama2c-tok-ok           "out:tokenizer\.json"              "$L" convert llama2c "$L2C" --tokenizer "$TOK512" --out "$W/ll/stories3"
# llcfg NAME EXPECT PYTHON-EDIT: llama-gqa with its config.json edited (c is the dict)
llcfg() { local n=$1 e=$2 edit=$3; mkdir -p "$W/ll/$n"; cp "$LL/model.safetensors" "$W/ll/$n/"
  python3 -c "import json,sys; c=json.load(open('$LL/config.json')); $edit; json.dump(c, open('$W/ll/$n/config.json','w'))"
  t "llama-config-$n" "$e" "$L" generate --model "$W/ll/$n" --ids 5,6 --threads 1; }
llcfg kv-heads-3      "num_key_value_heads"           "c['num_key_value_heads']=3"
llcfg rope-yarn       "rope_scaling&yarn"             "c['rope_scaling']={'rope_type':'yarn','factor':4.0}"
llcfg gelu            "hidden_act&gelu"               "c['hidden_act']='gelu'"
llcfg no-hidden       "hidden_size"                   "del c['hidden_size']"
llcfg eos-huge        "eos_token_id&outside"          "c['eos_token_id']=10**6"
llcfg vocab-float     "vocab_size"                    "c['vocab_size']=96.5"
llcfg untied-no-head  "lm_head"                       "c['tie_word_embeddings']=True"
llcfg heads-string    "num_attention_heads"           "c['num_attention_heads']='four'"
t llama-ids-out-of-vocab   "--ids&\[0, 96\)"                 "$L" generate --model "$LL" --ids 5,96
t llama-ids-negative       "--ids"                            "$L" generate --model "$LL" --ids -1
t llama-ids-text           "--ids&comma-separated"           "$L" generate --model "$LL" --ids a,b
t llama-text-no-tokenizer  "tokenizer\.model&--ids"          "$L" generate --model "$LL" hello
TINYBPE=$ROOT/tests/data/tokenizer/tiny-bpe.model
printf '{"prompt": "a"}\n{"prompt": "b", "completion": "c"}\n' >"$W/ll/no-completion.jsonl"
: >"$W/ll/empty.txt"
printf 'Once upon a time.\nThe end.\n' >"$W/ll/two.txt"
t llama-train-no-tokenizer "tokenizer\.model&--tokenizer"     "$L" train --model "$LL" --task rte --data "$G/RTE" --out "$W/r/ll1" --threads 1
t llama-train-big-tokenizer "tokenizer vocabulary&96"         "$L" train --model "$LL" --tokenizer "$TINYBPE" --task rte --data "$G/RTE" --out "$W/r/ll2" --threads 1
t llama-train-no-completion "no-completion\.jsonl:1&completion" "$L" train --model "$W/ll/stories" --tokenizer "$TINYBPE" --task completion --data "$W/ll/no-completion.jsonl" --out "$W/r/ll3" --threads 1
t llama-train-empty-text   "empty\.txt"                       "$L" train --model "$W/ll/stories" --tokenizer "$TINYBPE" --task text --data "$W/ll/empty.txt" --out "$W/r/ll4" --threads 1
t t5-train-text            "decoder-only"                     "$L" train --model "$M0" --tokenizer "$TOK" --task text --data "$W/ll/two.txt" --out "$W/r/ll5" --threads 1
t llama-train-text-pair    "--task text&--text-field"         "$L" train --model "$W/ll/stories" --tokenizer "$TINYBPE" --task text --data "$W/ll/two.txt" --label-field x --out "$W/r/ll6" --threads 1
t llama-train-beams        "beam&greedily"                    "$L" train --model "$W/ll/stories" --tokenizer "$TINYBPE" --task text --data "$W/ll/two.txt" --num-beams 2 --max-steps 1 --out "$W/r/ll7" --threads 1
t llama-adapter-method     "out:adapter"                      "$L" inspect "$LL" --method adapter
t llama-lst-reduction      "reduction&head"                   "$L" inspect "$LL" --method lst --settings '{"reduction": 8}'
t llama-lst-encoder-layers "encoder"                          "$L" inspect "$LL" --method lst --settings '{"encoder_layers": [0]}'
t llama-ok                 "out:^[0-9]+(,[0-9]+)*$"           "$L" generate --model "$LL" --ids 5,6 --max-new-tokens 3 --threads 1
head -c 1000 "$LLTOK" >"$W/ll/cut.model"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}}' >"$W/ll/bad-merge.json"
printf '{"normalizer": {"type": "NFKC"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}' >"$W/ll/nfkc.json"
printf '{"model": ' >"$W/ll/cut.json"
t tok-llama-cut            "cut\.model"                       "$L" tokenize --tokenizer "$W/ll/cut.model" hello
t tok-json-bad-merge       "bad-merge\.json&merge"            "$L" tokenize --tokenizer "$W/ll/bad-merge.json" hello
t tok-json-nfkc            "nfkc\.json&NFKC"                  "$L" tokenize --tokenizer "$W/ll/nfkc.json" hello
t tok-json-cut             "cut\.json"                        "$L" tokenize --tokenizer "$W/ll/cut.json" hello
t tok-json-ok              "out:^659 "                        "$L" tokenize --tokenizer "$BBPE" "Once upon a time"

# --- what new users hit first (issue 28: findings 1, 2, 5, 6) ----------------------------------
# 1: Ctrl-C during LST's Fisher pass (the tiny fixture over 3,000 made-up RTE rows: milliseconds
#    an example, seconds in all) ends the process within 2 s with exit 130, saying where it stopped.
mkdir -p "$W/fisher/RTE"
{ printf 'index\tsentence1\tsentence2\tlabel\n'
  for i in $(seq 0 2999); do printf '%d\ta film numbered %d\tit is good\t%s\n' "$i" "$i" "$([[ $((i % 2)) == 0 ]] && echo entailment || echo not_entailment)"; done
} >"$W/fisher/RTE/train.tsv"
printf 'index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tc\td\tnot_entailment\n' >"$W/fisher/RTE/dev.tsv"
# (a script, since each case runs under timeout)
cat >"$W/fisher/sigint.sh" <<'SH'
# ARGS: ladder tokenizer data out model. Exit status of ladder, or 99 when it ran on 2 s after SIGINT.
"$1" train --model "$5" --tokenizer "$2" --task rte --data "$3" --method lst \
  --settings '{"fisher_samples": 3000}' --max-steps 1 --threads 1 --out "$4" 2>"$3/err" &
pid=$!
for k in $(seq 600); do grep -q '^init: ' "$3/err" 2>/dev/null && break; sleep 0.1; done
sleep 0.3; kill -INT "$pid"
for k in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid"; echo "still running 2 s after SIGINT" >&2; exit 99; fi
wait "$pid"; rc=$?; cat "$3/err" >&2; exit $rc
SH
t new-fisher-sigint          "interrupted by signal 2&initialisation" bash "$W/fisher/sigint.sh" "$L" "$TOK" "$W/fisher" "$W/r/fisher" "$M0"
t new-fisher-folder-reused   'out:"global_step": ?1'  "$L" train --model "$M0" --tokenizer "$TOK" --task rte --data "$G/RTE" --method lst --settings '{"side_init": "random"}' --max-steps 1 --batch-size 2 --threads 1 --out "$W/r/fisher"
# 2: settings refused before anything is written; the corrected command takes the same folder.
t new-cache-needs-determinism "backbone_dropout"   "${TRB[@]}" --method lst --settings '{"side_init": "random"}' --cache-backbone --out "$W/r/cache1"
t new-cache-corrected        'out:"global_step": ?1' "${TRB[@]}" --method lst --settings '{"side_init": "random", "backbone_dropout": false}' --cache-backbone --out "$W/r/cache1"
t new-fisher-over-nf4        "side_init&nf4"      "${TRB[@]}" --method lst --backbone-dtype nf4 --out "$W/r/nf4"
t new-fisher-over-nf4-fixed  'out:"global_step": ?1' "${TRB[@]}" --method lst --backbone-dtype nf4 --settings '{"side_init": "magnitude"}' --out "$W/r/nf4"
# 5: a reduction that does not fit names the largest that does; one failing bench method keeps the others' rows.
t new-lst-reduction-largest  "reduction 64&largest that fits is 16" "$L" inspect "$M0" --method lst --settings '{"reduction": 64}'
t new-bench-one-fails        "reduction 1000&largest that fits" "$L" bench memory --model "$M0" --methods lst,lora --settings 'lst={"reduction": 1000}' --batch 2 --src-len 8 --tgt-len 4 --warmup 0 --steps 1 --threads 1
t new-bench-settings-method  "METHOD one of --methods" "$L" bench memory --model "$M0" --methods lora --settings 'lst={"reduction": 2}' --threads 1
# 6: one rule and one set of names; errors that list every choice.
t new-predict-no-input       "no input"           "$L" predict --threads 1 --run "$W/base"
t new-task-unknown           "squad&custom&completion&text" "$L" train --model "$M0" --task squad --data "$G" --out "$W/r/squad"
t new-arch-unknown           "no-such&t5-small&decoder-only" "$L" inspect arch:no-such
R=$(cprun base resume-shorter)
t new-resume-shorter         "at update 2"        "${RS[@]}" "$R" --max-steps 1
R=$(cprun base resume-longer)
t new-resume-longer          'out:"global_step": ?3' "${RS[@]}" "$R" --max-steps 3
t new-bench-train-names      "out:lora"           "$L" bench memory --model "$M0" --methods lora --batch-size 2 --max-source-length 8 --max-target-length 4 --warmup 0 --steps 1 --threads 1
t new-version                "out:^ladder [0-9]"  "$L" --version
# 7c: merge refuses what has no place in the checkpoint, and writes nothing when it refuses.
MG=(merge --model "$M0")
t new-merge-lst              "side network"       "$L" "${MG[@]}" --adapter "$W/a/lst" --out "$W/r/merge-lst"
t new-merge-bitfit           "bias&has no place"  "$L" "${MG[@]}" --adapter "$W/a/bitfit" --out "$W/r/merge-bitfit"
t new-merge-other-model      "model|backbone|checksum" "$L" "${MG[@]}" --adapter "$W/a/lora-v1_1" --out "$W/r/merge-other"
t new-merge-out-taken        "not an empty folder" "$L" "${MG[@]}" --adapter "$W/a/lora" --out "$W/a/lst"
t new-merge-arch             "not a model folder" "$L" merge --model arch:t5-small --adapter "$W/a/lora" --out "$W/r/merge-arch"
A=$(cpad lora merge-cut); cut_half "$A/adapter_model.safetensors"
t new-merge-cut-adapter      "adapter_model.safetensors" "$L" "${MG[@]}" --adapter "$A" --out "$W/r/merge-cut"
t new-merge-ok               "out:tensors changed" "$L" "${MG[@]}" --adapter "$W/a/lora" --out "$W/r/merge-ok"

# 8: chat data, chat templates (a Jinja subset), --eos-token, --stream.
CH=$W/chat; mkdir -p "$CH"
"$L" convert llama2c "$L2C" --tokenizer "$ROOT/tests/data/llama2c/tok512.bin" --out "$CH/stories" >/dev/null 2>&1
printf '%s\n' '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}' \
  '{"instruction": "Greet.", "output": "hello"}' > "$CH/ok.jsonl"
printf '%s\n' '{"messages": [{"role": "user", "content": "hi"}]}' > "$CH/no-answer.jsonl"
printf '%s\n' '{"messages": "hi"}' > "$CH/not-a-list.jsonl"
printf 'messages\nhi\n' > "$CH/rows.csv"
printf '%s' '{% for m in messages %}{{ m.content }}' > "$CH/unclosed.jinja"
printf '%s' '{{ raise_exception("only one user turn, please") }}' > "$CH/raises.jinja"
printf '%s' '{% for i in range(1000000000) %}{{ "x" * 1000 }}{% endfor %}' > "$CH/huge.jinja"
python3 -c 'import sys; sys.stdout.write("{{ " + "(" * 100000 + "1" + ")" * 100000 + " }}")' > "$CH/deep.jinja"
printf '%s' '{{ messages | frobnicate }}' > "$CH/unknown-filter.jinja"
printf '%s' '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}' > "$CH/plain.jinja"
CD=(data --task chat --data "$CH/ok.jsonl" --chat-template)
t new-chat-no-template       "no chat template&--chat-template" "$L" train --model "$CH/stories" --task chat --data "$CH/ok.jsonl" --out "$W/r/chat-none"
t new-chat-unclosed          "unclosed\.jinja"    "$L" "${CD[@]}" "$CH/unclosed.jinja"
t new-chat-raises            "ok\.jsonl:1&only one user turn" "$L" "${CD[@]}" "$CH/raises.jinja"
t new-chat-huge-output       "huge\.jinja"        "$L" "${CD[@]}" "$CH/huge.jinja"
t new-chat-deep-nesting      "deep\.jinja"        "$L" "${CD[@]}" "$CH/deep.jinja"
t new-chat-unknown-filter    "frobnicate"         "$L" "${CD[@]}" "$CH/unknown-filter.jinja"
t new-chat-template-missing  "nothing\.jinja"     "$L" "${CD[@]}" "$CH/nothing.jinja"
t new-chat-no-answer         "no-answer\.jsonl:1&assistant" "$L" data --task chat --data "$CH/no-answer.jsonl" --chat-template "$CH/plain.jinja"
t new-chat-not-a-list        "not-a-list\.jsonl:1&messages" "$L" data --task chat --data "$CH/not-a-list.jsonl" --chat-template "$CH/plain.jinja"
t new-chat-csv               "rows\.csv&JSONL"    "$L" data --task chat --data "$CH/rows.csv" --chat-template "$CH/plain.jinja"
t new-chat-template-elsewhere "--chat-template goes with --task chat" "$L" data --task completion --data "$CH/ok.jsonl" --chat-template "$CH/plain.jinja"
t new-chat-ok                'out:"source":"<user>(hi|Greet\.)<assistant>"' "$L" "${CD[@]}" "$CH/plain.jinja"
t new-eos-not-one-token      "two words&not one token" "$L" generate --model "$CH/stories" --eos-token "two words" "Once"
t new-eos-t5                 "decoder-only"       "$L" generate --model "$M0" --tokenizer "$TOK" --eos-token . "x"
t new-pad-token              "--pad-token&no pad token is needed" "$L" generate --model "$CH/stories" --pad-token "<pad>" "Once"
t new-stream-ids             "--stream&--ids"     "$L" generate --model "$CH/stories" --stream --ids 1
t new-stream-ok              "out:^Once upon a time" "$L" generate --model "$CH/stories" --stream --max-new-tokens 8 "Once upon a time"

# --- summary ----------------------------------------------------------------------------------
if ((${#BAD[@]})); then printf 'not clean: %s\n' "${BAD[@]}" >&2; fi
echo "time: $((SECONDS - T0)) s" >&2
echo "cases $N, clean $C, unclear $U, silent $S, hangs $H, crashes $K"
((S + H + K == 0))
