#!/usr/bin/env python3
"""Writes the small hand-made seeds of tests/fuzz/corpus (run from anywhere; stdlib only).

The other seeds are existing test files that scripts/fuzz.sh copies (tests/data/...). These
exist because the test files are too big (safetensors fixtures, the 250 KB tokenizer) or
missing (a sharded index, a label file).
"""
import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- safetensors -------------------------------------------------------------------------
def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes, laid out as the Rust writer does."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


put("safetensors", "two_tensors.safetensors", safetensors(
    [("dec.c", "I64", [1, 1], struct.pack("<q", 42)), ("enc.a", "F32", [2], struct.pack("<2f", 1.5, 2.5))],
    {"format": "pt"}))
put("safetensors", "dtypes.safetensors", safetensors(
    [("b", "BOOL", [3], b"\x01\x00\x01"), ("e", "BF16", [0, 3], b""), ("h", "F16", [2], b"\x00\x3c\x00\xc0"),
     ("s", "I8", [], b"\x07"), ("u", "U8", [2, 1], b"\xff\x00")]))
put("safetensors", "empty.safetensors", safetensors([]))

# --- model.safetensors.index.json (shards written by fuzz_index.cpp) ----------------------
SHARD1, SHARD2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
put("index", "sharded.json", json.dumps(
    {"metadata": {"total_size": 36}, "weight_map": {"enc.a": SHARD1, "enc.b": SHARD1, "dec.c": SHARD2}}))
put("index", "one_shard.json", json.dumps({"weight_map": {"dec.c": SHARD2}}))
put("index", "wrong_shard.json", json.dumps({"weight_map": {"enc.a": SHARD2, "x": "corrupt.safetensors"}}))


# --- sentencepiece ModelProto ------------------------------------------------------------
def varint(value):
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field_bytes(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_float(number, value):
    return varint(number << 3 | 5) + struct.pack("<f", value)


NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def model(pieces, trainer=b"", normalizer=b""):
    out = b""
    for text, score, kind in pieces:
        piece = field_bytes(1, text.encode()) + field_float(2, score)
        if kind != NORMAL:
            piece += field_varint(3, kind)
        out += field_bytes(1, piece)
    return out + field_bytes(2, field_varint(3, 1) + trainer) + field_bytes(3, normalizer)


def charsmap():
    """A darts-clone double array with one rule, "\\t" -> " ", as normalizer.cpp reads it."""
    units = [0] * 10
    units[0] = 1 << 10                      # root, offset 1: "\t" (9) leads to unit 1 ^ 9 = 8
    units[8] = 9 | (1 << 8) | (1 << 10)     # label 9, has a leaf, offset 1: leaf at 8 ^ 1 = 9
    units[9] = (1 << 31) | 0                # leaf: replacement at byte 0 of the strings
    trie = struct.pack("<10I", *units)
    return struct.pack("<I", len(trie)) + trie + b" \0"


SPECIALS = [("<pad>", 0.0, CONTROL), ("</s>", 0.0, CONTROL), ("<unk>", 0.0, UNKNOWN)]
WORDS = [("\u2581", -1.0, NORMAL), ("a", -2.0, NORMAL), ("b", -2.5, NORMAL), ("\u2581ab", -1.5, NORMAL),
         ("\u2581Hello", -3.0, NORMAL), ("<sep>", 0.0, USER_DEFINED), ("zz", 0.0, UNUSED)]
put("spiece", "tiny.model", model(SPECIALS + WORDS, normalizer=field_bytes(1, b"identity")))
put("spiece", "charsmap.model", model(
    SPECIALS + WORDS, trainer=field_bytes(44, b" ?? "),
    normalizer=field_bytes(1, b"tiny") + field_bytes(2, charsmap()) + field_varint(3, 0)))
BYTES = [("<0x%02X>" % b, 0.0, BYTE) for b in range(256)]
put("spiece", "byte_fallback.model", model(
    SPECIALS + WORDS + BYTES, trainer=field_varint(35, 1), normalizer=field_varint(4, 0)))

# --- label file (read by fuzz_jsonl through load_labels) ----------------------------------
put("jsonl", "labels.json", json.dumps({"labels": ["neg", "pos"]}) + "\n")

# --- vision-language metrics (fuzz_vl_metrics: images split on NUL, then prediction \n refs) --
put("vl_metrics", "captions.txt", "\0".join([
    "a man riding a horse.\nA man rides a horse on the beach.\na person on a brown horse",
    "two dogs play in the snow\nTwo dogs playing in snow.\nthe dogs don't mind the cold, it's 3.5 degrees",
    "\nan empty prediction's references"]))
put("vl_metrics", "vqa.txt", "\0".join([
    "Two\n2\ntwo\n2.0", "Yes!\nyes\nno", "the  Red, (dark) ball.\nred ball\nisnt it\n1,000",
    "none\n0\n\tten \n10"]))
put("vl_metrics", "no-references.txt", "a lone prediction")

# --- regression seeds: inputs that once crashed a target ---------------------------------
# TensorInfo::numel() multiplied [2^62, 4, 0] left to right: signed overflow before the 0.
put("safetensors", "regression-numel-overflow.safetensors", safetensors(
    [("t", "F32", [4611686018427387904, 4, 0], b"")]))
# json_field<int64_t> converts a float outside int64's range (UB): still open, see the report.
put("config", "regression-int-from-huge-float.json", '{"vocab_size": 1e300}\n')
