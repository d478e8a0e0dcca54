#!/usr/bin/python3
"""Two tiny Hugging Face `tokenizer.json` byte-level BPE tokenizers and their golden encodings,
for the C++ tokenizer.json reader's tests. Run once (needs Debian's python3-regex, nothing else);
the tests read the committed files:

    /usr/bin/python3 tests/reference/byte_bpe_reference.py
        # writes tests/data/tokenizer/byte-bpe/{llama3-style,gpt2-style}/{tokenizer.json,golden.json}

This is an independent implementation of Hugging Face tokenizers' byte-level BPE (added-token
splitting, Split/Digits/ByteLevel pre-tokenizers, BPE with and without ignore_merges,
TemplateProcessing, ByteLevel decoder), written from that library's documented behaviour, not
from its code; it was used once to make the goldens. It contains its own deterministic BPE
trainer (256 byte symbols first, in GPT-2 vocab order, then 400 greedy merges of the most
frequent adjacent pair within pre-tokenized words, ties to the lexicographically smallest pair),
trained on shared/models/stories260K/README.md, the first 400 sentences of GLUE SST-2 train and
a small synthetic block (SYNTHETIC, twelve times).

  llama3-style: Split(Llama 3 regex, Isolated) + ByteLevel(use_regex=false), ignore_merges=true,
                merges as "a b" strings, <|begin_of_text|> prepended by TemplateProcessing.
  gpt2-style:   Digits(individual) + ByteLevel(use_regex=true, GPT-2 regex), ignore_merges=false,
                merges as [a, b] pairs, no post-processor, "<sep>" a non-special added token.

Both vocabs also hold three vocab-only tokens (no merge builds them) after the trained ones, so
ignore_merges is observable: llama3-style emits them whole, gpt2-style never can.
"""
import json
import os
import unicodedata

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "tokenizer", "byte-bpe")
SHARED = os.path.join(ROOT, "..", "shared")
README = os.path.join(SHARED, "models", "stories260K", "README.md")
SST2 = os.path.join(SHARED, "data", "glue", "SST-2", "train.tsv")
N_MERGES = 400
N_SST2 = 400
# A synthetic block (x12) added to the corpus so that merges exist which cross the boundaries one
# pre-tokenizer draws and the other does not (digit runs, space/newline runs, uppercase
# contractions, emoji/CJK/accented bytes): the goldens then tell the two pre-tokenizers apart.
SYNTHETIC = ("123 456 789 1234567 2024 12.5 800 555-0123\n"
             "    indented line\n        deeper line\n\n\n  \n  next\r\n\r\n"
             "DON'T I'LL YOU'RE IT'S WE'VE I'M HE'D don't i'll you're it's\n"
             "\t\tcol\tcol\t\t(yes) (no) [x] {y} ... ?! -- ;;\n"
             "😀😀 🎉 👍🏽 日本語 日本 中文 テキスト café résumé naïve Ελληνικά\n")
EXTRA_VOCAB = ["ĠHugging", "Ġtokenizer", "Ġzyzzyva"]  # vocab-only: no merge produces them

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = regex.compile(LLAMA3_PATTERN)
GPT2_RE = regex.compile(GPT2_PATTERN)


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
U2B = {u: b for b, u in B2U.items()}


def byte_map(s):
    return "".join(B2U[b] for b in s.encode("utf-8"))


# ---- pre-tokenizers (each returns a list of non-empty pieces of the original text) ----

def split_isolated(piece, compiled):
    """HF Split(behavior=Isolated, invert=false): every match and every non-matching gap is its
    own piece, in order (empty matches are not possible with these patterns)."""
    out, pos = [], 0
    for m in compiled.finditer(piece):
        assert m.end() > m.start()
        if m.start() > pos:
            out.append(piece[pos:m.start()])
        out.append(m.group())
        pos = m.end()
    if pos < len(piece):
        out.append(piece[pos:])
    return out


def is_numeric_rust(c):
    """Rust char::is_numeric, used by HF Digits: general category Nd, Nl or No. (Python's
    str.isnumeric differs: it is also true for CJK numerals such as 三 (Lo).)"""
    return unicodedata.category(c) in ("Nd", "Nl", "No")


def digits_individual(piece):
    out, cur = [], ""
    for c in piece:
        if is_numeric_rust(c):
            if cur:
                out.append(cur)
                cur = ""
            out.append(c)
        else:
            cur += c
    if cur:
        out.append(cur)
    return out


def pretok_llama3(text):
    return [byte_map(p) for p in split_isolated(text, LLAMA3_RE)]


def pretok_gpt2(text):
    return [byte_map(q) for p in digits_individual(text) for q in split_isolated(p, GPT2_RE)]


# ---- trainer ----

def train(texts, pretok):
    words = {}
    for t in texts:
        for p in pretok(t):
            words[p] = words.get(p, 0) + 1
    alphabet = sorted(B2U.values())  # GPT-2 / Llama 3 order: "!" is id 0, "Ġ" is id 220
    vocab = {c: i for i, c in enumerate(alphabet)}
    seqs = {w: list(w) for w in words}
    merges = []
    while len(merges) < N_MERGES:
        counts = {}
        for w, f in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + f
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < 2:
            break
        a, b = best
        merges.append(best)
        vocab.setdefault(a + b, len(vocab))
        for w, s in seqs.items():
            i, ns = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    ns.append(a + b)
                    i += 2
                else:
                    ns.append(s[i])
                    i += 1
            seqs[w] = ns
    for t in EXTRA_VOCAB:
        assert t not in vocab, t
        vocab[t] = len(vocab)
    return vocab, merges


# ---- encoder / decoder ----

class Tok:
    def __init__(self, vocab, merges, pretok, ignore_merges, added, bos=None):
        self.vocab, self.pretok, self.ignore_merges = vocab, pretok, ignore_merges
        self.ranks = {p: r for r, p in enumerate(merges)}
        self.added = added  # list of (content, id, special)
        self.added_by_content = {c: i for c, i, _ in added}
        self.special_ids = {i for _, i, s in added if s}
        self.id_to_tok = {i: t for t, i in vocab.items()}
        self.id_to_tok.update({i: c for c, i, _ in added})
        self.bos = bos

    def split_added(self, text):
        """Leftmost-longest matching of added-token contents in the raw text (aho-corasick
        LeftmostLongest): yields (segment, is_added)."""
        out, pos, gap = [], 0, 0
        while pos < len(text):
            best = None
            for c, _, _ in self.added:
                if text.startswith(c, pos) and (best is None or len(c) > len(best)):
                    best = c
            if best is None:
                pos += 1
                continue
            if pos > gap:
                out.append((text[gap:pos], False))
            out.append((best, True))
            pos += len(best)
            gap = pos
        if gap < len(text):
            out.append((text[gap:], False))
        return out

    def bpe(self, piece, ignore_merges=None):
        im = self.ignore_merges if ignore_merges is None else ignore_merges
        if im and piece in self.vocab:
            return [piece]
        syms = list(piece)
        while len(syms) > 1:
            best, at = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            syms[at:at + 2] = [syms[at] + syms[at + 1]]
        assert all(s in self.vocab for s in syms)
        return syms

    def encode(self, text, add_special_tokens=True, ignore_merges=None):
        toks = []
        for seg, is_added in self.split_added(text):
            if is_added:
                toks.append(seg)
            else:
                for p in self.pretok(seg):
                    toks.extend(self.bpe(p, ignore_merges))
        ids = [self.added_by_content[t] if t in self.added_by_content else self.vocab[t] for t in toks]
        if add_special_tokens and self.bos is not None:
            ids = [self.bos] + ids
        return ids

    def decode(self, ids, skip_special_tokens):
        data = bytearray()
        for i in ids:
            if skip_special_tokens and i in self.special_ids:
                continue
            t = self.id_to_tok[i]
            if all(c in U2B for c in t):  # ByteLevel decoder: map chars back to bytes ...
                data.extend(U2B[c] for c in t)
            else:                         # ... unless some char is not in the table: raw UTF-8
                data.extend(t.encode("utf-8"))
        return from_utf8_lossy(bytes(data))


def from_utf8_lossy(b):
    """Rust String::from_utf8_lossy: each maximal prefix of a valid sequence that cannot be
    completed (or a lone invalid byte) becomes one U+FFFD (Unicode 'maximal subpart' practice)."""
    out, i, n = [], 0, len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif c == 0xE0:
            need, lo, hi = 2, 0xA0, 0xBF
        elif c == 0xED:
            need, lo, hi = 2, 0x80, 0x9F
        elif 0xE1 <= c <= 0xEF:
            need, lo, hi = 2, 0x80, 0xBF
        elif c == 0xF0:
            need, lo, hi = 3, 0x90, 0xBF
        elif c == 0xF4:
            need, lo, hi = 3, 0x80, 0x8F
        elif 0xF1 <= c <= 0xF3:
            need, lo, hi = 3, 0x80, 0xBF
        else:
            out.append("\ufffd")
            i += 1
            continue
        j = i + 1
        ok = True
        for k in range(need):
            if j >= n or not ((lo if k == 0 else 0x80) <= b[j] <= (hi if k == 0 else 0xBF)):
                ok = False
                break
            j += 1
        if ok:
            out.append(b[i:j].decode("utf-8"))
        else:
            out.append("\ufffd")
        i = j
    return "".join(out)


# ---- cases ----

LONG = ("Once upon a time, in 2024, a little robot named Bolt couldn't stop counting: 1, 22, 333, "
        "4444, 55555! It said \"I'm fine\"\tbut its café friend José (née Ångström) laughed 😀 and "
        "wrote 日本語 notes.\n\nThe end?   Not quite... they'll   say it's 3.14159 or so;"
        " DON'T panic -- <sep> ok")
LONG = (LONG * 2)[:300]
TEXTS = [
    "Hello world",
    "Once upon a time, there was a little girl named Lily.",
    "I'm sure they'll say we've done it, you'd think she's right and we're fine.",
    "DON'T SHOUT, I'LL HEAR YOU'RE HERE. It'S 'S 'sup",
    "don’t use curly quotes",
    "1234567",
    "Call 555-0123 or +1 (800) 12.5% x2024y",
    "   leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "   ",
    "line one\n\nline two\n",
    "\n\n",
    "x  \n  y\r\n\r\nz \n",
    "tab\tseparated\t\tvalues \t end",
    "Wait... what?!?! (yes) -- ok;; [x]{y} #@$%^&*",
    "emoji 😀🎉 and 👍🏽!",
    "日本語のテキスト、中文。",
    "café naïve résumé Ångström Ελληνικά",
    "quixotic flibbertigibbet zyzzyva",
    "Hugging Face tokenizer",
    "a<|end_of_text|>b",
    "<|begin_of_text|>Hello<|end_of_text|>",
    "<sep>x",
    "x <sep> y<<sep>>",
    "<|endoftext|><|endoftext|>hi <|endoftext",
    "",
    "x\u00a0y\u3000z\u2028w\x0bv\x0cu\x1ct\x85s",
    "三个 ½² ٣ Ⅻ ½²٣Ⅻ12",
    LONG,
]

BYTE_DECODE_CASES = [  # byte sequences decoded from single-byte tokens: lossy UTF-8 behaviour
    [0xF0, 0x9F, 0x98, 0x80], [0xF0], [0xF0, 0x9F], [0xF0, 0x9F, 0x98], [0x9F], [0xF0, 0x41],
    [0xE6, 0x97], [0xE6, 0x97, 0x41, 0xA5], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xFF, 0xFE],
    [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80, 0x80], [0x68, 0xC3], [0xC3, 0xA9, 0xC3],
]


def check_lossy():
    import itertools
    for b in BYTE_DECODE_CASES:
        assert from_utf8_lossy(bytes(b)) == bytes(b).decode("utf-8", "replace"), b
    for b in itertools.product([0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5], repeat=3):
        assert from_utf8_lossy(bytes(b)) == bytes(b).decode("utf-8", "replace"), b


def added_entry(i, c, special):
    return {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def build(name, corpus):
    if name == "llama3-style":
        pretok, ignore_merges = pretok_llama3, True
        vocab, merges = train(corpus, pretok)
        v = len(vocab)
        added = [("<|begin_of_text|>", v, True), ("<|end_of_text|>", v + 1, True)]
        bos = v
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
        bos_t = "<|begin_of_text|>"
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bos_t, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos_t: {"id": bos_t, "ids": [bos], "tokens": [bos_t]}}}
        merges_json = [a + " " + b for a, b in merges]
    else:
        pretok, ignore_merges = pretok_gpt2, False
        vocab, merges = train(corpus, pretok)
        v = len(vocab)
        added = [("<|endoftext|>", v, True), ("<sep>", v + 1, False)]
        bos = None
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
        post = None
        merges_json = [[a, b] for a, b in merges]

    # self-checks on the model
    assert len(set(vocab.values())) == len(vocab) and sorted(vocab.values()) == list(range(len(vocab)))
    assert all(B2U[b] in vocab for b in range(256))
    for a, b in merges:
        assert a in vocab and b in vocab and a + b in vocab, (a, b)
    assert len(set(merges)) == len(merges)
    assert all(" " not in a and " " not in b for a, b in merges)  # "a b" strings are unambiguous

    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [added_entry(i, c, s) for c, i, s in added],
          "normalizer": None, "pre_tokenizer": pre, "post_processor": post,
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                    "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges_json}}

    tok = Tok(vocab, merges, pretok, ignore_merges, added, bos)
    cases, ignore_merges_matters = [], []
    for t in TEXTS:
        ids = tok.encode(t)
        toks = [tok.id_to_tok[i] for i in ids]
        dec = tok.decode(ids, True)
        dws = tok.decode(ids, False)
        assert dws == t or (bos is not None and dws == "<|begin_of_text|>" + t), (t, dws)
        plain = t
        for c, _, s in added:
            if s:
                plain = plain.replace(c, "")
        assert dec == plain, (t, dec)
        if tok.encode(t, ignore_merges=not ignore_merges) != ids:
            ignore_merges_matters.append(t)
        cases.append({"text": t, "ids": ids, "tokens": toks, "decoded": dec, "decoded_with_special": dws})
    assert len(cases) >= 30
    if ignore_merges:
        assert "Hugging Face tokenizer" in ignore_merges_matters
    dcases = []
    for bs in BYTE_DECODE_CASES:
        ids = [vocab[B2U[b]] for b in bs]
        dcases.append({"ids": ids, "decoded": tok.decode(ids, True)})
    sp = [i for _, i, s in added if s]
    mixed = sp[:1] + [vocab[B2U[0xF0]], vocab[B2U[0x9F]]] + sp[:1] + [vocab[B2U[0x98]], vocab[B2U[0x80]]]
    dcases.append({"ids": mixed, "decoded": tok.decode(mixed, True), "decoded_with_special": tok.decode(mixed, False)})

    rule = ("HF tokenizers encode(text, add_special_tokens=True) -> ids, tokens (id -> token string, "
            "added tokens as their content); decode(ids, skip_special_tokens=True) -> decoded; "
            "decode(ids, skip_special_tokens=False) -> decoded_with_special. decode_cases: ByteLevel "
            "decoder on ids whose bytes are not valid UTF-8, String::from_utf8_lossy replacement "
            "(one U+FFFD per maximal subpart; equal to Python bytes.decode('utf-8', 'replace') on all "
            "of these). Written by tests/reference/byte_bpe_reference.py (independent implementation).")
    golden = {"tokenizer": "tokenizer.json", "rule": rule,
              "vocab_size_with_added": len(vocab) + len(added),
              "ids_differ_if_ignore_merges_flipped": ignore_merges_matters,
              "cases": cases, "decode_cases": dcases}
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
        f.write("\n")
    with open(os.path.join(d, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return tok


def main():
    check_lossy()
    with open(README, encoding="utf-8") as f:
        corpus = [f.read()]  # each corpus entry is pre-tokenized as one text (newlines kept)
    with open(SST2, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:N_SST2 + 1]
    corpus += [ln.split("\t")[0] for ln in lines]
    corpus += [SYNTHETIC] * 12
    for name in ("llama3-style", "gpt2-style"):
        build(name, corpus)


if __name__ == "__main__":
    main()
