#!/usr/bin/python3
"""Golden tokenizations of the Llama 2 sentencepiece BPE tokenizer, for the C++ tokenizer tests.

Made with sentencepiece itself (Debian's python3-sentencepiece, 0.1.97 was used), not from the
project's C++. It is needed only once, to write the goldens; the C++ tests never run Python or
sentencepiece, they read the committed files:

    apt-get install -y python3-sentencepiece            # once, only to regenerate
    /usr/bin/python3 tests/reference/llama2_tokenizer_reference.py

It copies /work/shared/tokenizers/llama2/tokenizer.model (the Llama 2 tokenizer as shipped
with llama2.c) into tests/data/tokenizer/llama2/ (its README names the licences) and
writes tests/data/tokenizer/llama2/golden.json, in the style of ../data/tokenizer/
golden_tokenization.json (T5): one JSON object, indent 1, UTF-8 (ensure_ascii=False), with
  model, rule          what the file is and how ids are made
  spec                 the model's settings, read from tokenizer.model's ModelProto with a
                       small protobuf wire decoder below (Debian's sentencepiece_model_pb2
                       needs python3-protobuf, which is not installed); proto2 defaults are
                       filled in for absent fields and "spec_fields_absent" lists them
  cases                [{text, ids, pieces, decoded}]: ids = encode(text, out_type=int) with
                       NO <s>/</s> added, pieces = encode(text, out_type=str), decoded =
                       decode(ids)
  decode_cases         [{ids, pieces, decoded}]: decode(ids) of chosen id lists (<s>/</s>
                       inside, byte pieces, invalid UTF-8, "▁" pieces first, <unk>)
"""
import json
import os
import shutil
import struct

import sentencepiece

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "tokenizer", "llama2")
SRC_MODEL = "/work/shared/tokenizers/llama2/tokenizer.model"

LONG_300 = ("The quick brown fox jumps over the lazy dog; 3 foxes, 12 dogs and 1,024 birds "
            "watched it happen in 2023. Naïve café owners said: \"It's über-cool!\" while "
            "others shrugged.   Tabs\tand\nnewlines too. Σύντομο κείμενο, 短い文章, и немного "
            "кириллицы. ")
LONG_300 = (LONG_300 * 2)[:300]

TEXTS = [
    "Once upon a time",                                    # 9038 2501 263 931
    "Once upon a time, there was a little girl named Lily.",
    "Hello world",
    "Hello, world! How are you?",
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "a  b   c    d",                                       # runs of 2, 3, 4 spaces
    "  a  b  ",
    "word" + " " * 20 + "word",                           # a run longer than the longest ▁ piece (16)
    "\ttab\tseparated",
    "line one\nline two\n",
    "windows\r\nline end",
    "\n",
    "...!?;:'\"()[]{}-_/\\@#$%^&*+=<>|~`",
    "It's 3:45 pm.",
    "12345",
    "Pi is 3.14159 and 1,000,000 > 999",
    "2023-12-31",
    "😀",
    "I ❤️ NY 🗽",
    "你好，世界",
    "日本語のテキストです",
    "한국어",
    "Ｆｕｌｌｗｉｄｔｈ",                                      # NFKC would change it; identity does not
    "ﬁ ligature",
    "café naïve résumé Ångström façade",
    "e\u0301 vs \u00e9",                                   # decomposed vs precomposed é
    "Ελληνικά и русский",
    "mixed English, 中文, русский, عربى and עברית",
    "",
    " ",
    "   ",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "<s> literal </s>",
    "<s>Hello</s>",
    "<unk> and <0x41>",                                    # special/byte piece names as plain text
    "a\u2581b \u2581x",                                    # a literal U+2581 in the input
    "non\u00a0breaking\u3000ideographic",
    "nul\x00byte",
    LONG_300,
]


def varint(buf, pos):
    result, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """(field number, wire type, value) of one protobuf message: ints, floats, or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = varint(buf, pos)
        elif wt == 1:
            val, pos = struct.unpack("<d", buf[pos:pos + 8])[0], pos + 8
        elif wt == 2:
            n, pos = varint(buf, pos)
            val, pos = bytes(buf[pos:pos + n]), pos + n
        elif wt == 5:
            val, pos = struct.unpack("<f", buf[pos:pos + 4])[0], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, val


def int32(v):
    return v - (1 << 64) if v >= 1 << 63 else v


# Field numbers and proto2 defaults from sentencepiece_model.proto (as in Debian's
# sentencepiece_model_pb2.py): (field, name, kind, default).
TRAINER = [(3, "model_type", "enum", 1), (4, "vocab_size", "int", 8000),
           (35, "byte_fallback", "bool", False), (25, "split_digits", "bool", False),
           (22, "split_by_whitespace", "bool", True), (21, "split_by_unicode_script", "bool", True),
           (23, "split_by_number", "bool", True), (24, "treat_whitespace_as_suffix", "bool", False),
           (26, "allow_whitespace_only_pieces", "bool", False),
           (20, "max_sentencepiece_length", "int", 16),
           (40, "unk_id", "int", 0), (41, "bos_id", "int", 1), (42, "eos_id", "int", 2),
           (43, "pad_id", "int", -1), (45, "unk_piece", "str", "<unk>"),
           (46, "bos_piece", "str", "<s>"), (47, "eos_piece", "str", "</s>"),
           (48, "pad_piece", "str", "<pad>"), (44, "unk_surface", "str", " \u2047 ")]
NORMALIZER = [(1, "name", "str", None), (3, "add_dummy_prefix", "bool", True),
              (4, "remove_extra_whitespaces", "bool", True), (5, "escape_whitespaces", "bool", True),
              (2, "precompiled_charsmap_bytes", "len", 0)]
MODEL_TYPES = {1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}
PIECE_TYPES = {1: "NORMAL", 2: "UNKNOWN", 3: "CONTROL", 4: "USER_DEFINED", 5: "UNUSED", 6: "BYTE"}


def read_spec(blob):
    top = {}
    piece_types = {}
    ws_scores = set()
    for num, _, val in fields(blob):
        if num == 1:
            p = {n: v for n, _, v in fields(val)}
            t = PIECE_TYPES[p.get(3, 1)]
            piece_types[t] = piece_types.get(t, 0) + 1
            if set(p[1].decode()) == {"\u2581"}:
                ws_scores.add(p.get(2, 0.0))
        else:
            top[num] = val
    spec, absent = {}, []
    for msg, table, prefix in ((top.get(2, b""), TRAINER, "trainer."),
                               (top.get(3, b""), NORMALIZER, "normalizer.")):
        got = {n: v for n, _, v in fields(msg)}
        for num, name, kind, default in table:
            if num not in got:
                absent.append(prefix + name)
                spec[prefix + name] = default
                continue
            v = got[num]
            spec[prefix + name] = (bool(v) if kind == "bool" else int32(v) if kind in ("int", "enum")
                                   else v.decode() if kind == "str" else len(v))
    spec["trainer.model_type"] = MODEL_TYPES[spec["trainer.model_type"]]
    spec["denormalizer_spec_present"] = 5 in top
    spec["piece_type_counts"] = piece_types
    spec["whitespace_only_piece_scores"] = sorted(ws_scores)
    return spec, absent


def main():
    os.makedirs(OUT, exist_ok=True)
    model = os.path.join(OUT, "tokenizer.model")
    shutil.copyfile(SRC_MODEL, model)
    sp = sentencepiece.SentencePieceProcessor(model_file=model)

    with open(model, "rb") as f:
        spec, absent = read_spec(f.read())
    # The wire-decoded spec must agree with what sentencepiece itself reports.
    assert spec["trainer.vocab_size"] == sp.get_piece_size() == 32000
    assert (spec["trainer.bos_id"], spec["trainer.eos_id"], spec["trainer.unk_id"],
            spec["trainer.pad_id"]) == (sp.bos_id(), sp.eos_id(), sp.unk_id(), sp.pad_id())

    cases = []
    for text in TEXTS:
        ids = sp.encode(text, out_type=int)
        pieces = sp.encode(text, out_type=str)
        assert [sp.id_to_piece(i) for i in ids] == pieces
        cases.append({"text": text, "ids": ids, "pieces": pieces, "decoded": sp.decode(ids)})
    assert cases[0]["ids"] == [9038, 2501, 263, 931]
    assert len(LONG_300) == 300

    byte = lambda b: 3 + b  # <0x00> is id 3
    decode_ids = [
        [1, 9038, 2501, 263, 931, 2],                     # <s> ... </s>: control pieces vanish
        [1, 2, 1],                                        # only control pieces
        [9038, 1, 2501, 2, 263],                          # <s>/</s> in the middle
        [1, 29871, 9038],                                 # <s> then "▁": is the ▁ still first?
        [29871, 9038],                                    # "▁" first: only its ▁ is dropped
        [259, 9038],                                      # "▁▁" first
        [9038, 29871],                                    # "▁" last
        [2501],                                           # "▁upon" alone: leading space dropped
        [29871],                                          # "▁" alone
        [byte(0xE4), byte(0xBD), byte(0xA0)],             # bytes of 你 (U+4F60)
        [byte(0xF0), byte(0x9F), byte(0x98), byte(0x80)],  # bytes of 😀
        [9038, byte(0xE4), byte(0xBD), byte(0xA0), 2501],  # bytes between pieces
        [byte(0xE4), byte(0xBD)],                         # truncated 3-byte sequence
        [byte(0xFF)],                                     # a byte never valid in UTF-8
        [byte(0x80), 9038],                               # a lone continuation byte
        [byte(0xC3), 9038, byte(0xA9)],                   # a sequence broken by a piece
        [byte(0xED), byte(0xA0), byte(0x80)],             # an encoded surrogate (invalid)
        [byte(0xC0), byte(0xAF)],                         # an overlong "/"
        [byte(0x20), 9038],                               # a byte space first
        [byte(0x41), byte(0x0A)],                         # plain ASCII bytes
        [0],                                              # <unk>
        [9038, 0, 2501],                                  # <unk> between pieces
        [],                                               # nothing
    ]
    decode_cases = [{"ids": ids, "pieces": [sp.id_to_piece(i) for i in ids],
                     "decoded": sp.decode(ids)} for ids in decode_ids]

    golden = {
        "model": ("Llama 2 tokenizer.model as shipped with llama2.c (sentencepiece BPE, 32000 "
                  "pieces; ids 0 <unk>, 1 <s>, 2 </s>, 3..258 byte pieces <0x00>..<0xFF>; no pad)"),
        "rule": ("ids = sentencepiece encode(text, out_type=int), no <s>/</s> added; pieces = "
                 "encode(text, out_type=str); decoded = decode(ids); made with python3-sentencepiece "
                 + sentencepiece.__version__),
        "spec": spec,
        "spec_fields_absent": absent,
        "cases": cases,
        "decode_cases": decode_cases,
    }
    path = os.path.join(OUT, "golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %s (%d cases, %d decode cases)" % (path, len(cases), len(decode_cases)))


if __name__ == "__main__":
    main()
