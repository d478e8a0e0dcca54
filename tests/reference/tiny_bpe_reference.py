#!/usr/bin/python3
"""A tiny sentencepiece BPE model with a user-defined piece and byte fallback, and its golden
tokenizations, for the C++ BPE tokenizer's tests and as a fuzzing seed. Needs Debian's
python3-sentencepiece once (0.1.97 was used); the tests read the committed files:

    /usr/bin/python3 tests/reference/tiny_bpe_reference.py
        # writes tests/data/tokenizer/tiny-bpe.model and tiny-bpe-golden.json

Trained on the stories260K README (shared/models/stories260K/README.md, three times), 420
pieces, identity normalisation, whitespace kept, digits split, user-defined "<sep>".
"""
import json
import os
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "tokenizer")
TEXT = os.path.join(HERE, "..", "..", "..", "shared", "models", "stories260K", "README.md")
CASES = ["Hello world <sep> 12 é", "the layers<sep>rotate pairs", "  Hugging  Face  ", "tokenizer.model → 日本", ""]

with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "corpus.txt")
    with open(TEXT, encoding="utf-8") as f, open(corpus, "w", encoding="utf-8") as out:
        out.write(f.read() * 3)
    prefix = os.path.join(OUT, "tiny-bpe")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=420,
                                   byte_fallback=True, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, split_digits=True,
                                   user_defined_symbols=["<sep>"], minloglevel=2)
    os.remove(prefix + ".vocab")
sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "tiny-bpe.model"))
cases = [{"text": t, "ids": sp.encode(t), "pieces": sp.encode(t, out_type=str), "decoded": sp.decode(sp.encode(t))}
         for t in CASES]
with open(os.path.join(OUT, "tiny-bpe-golden.json"), "w", encoding="utf-8") as f:
    json.dump({"model": "tiny-bpe.model", "rule": "sentencepiece encode(text), encode(text, out_type=str), decode(ids)",
               "cases": cases}, f, ensure_ascii=False, indent=1)
    f.write("\n")
