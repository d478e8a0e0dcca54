#!/usr/bin/python3
"""A reference of llama2.c's tokenizer (run.c: build_tokenizer, encode, decode), for the golden tests.

Written from run.c's semantics (karpathy/llama2.c), not from the project's C++ and not a copy of
run.c's code. Plain Python; sentencepiece (Debian's python3-sentencepiece) is used only for the
independent check below. Run once; its outputs are committed and the C++ tests read them:

    /usr/bin/python3 tests/reference/llama2c_tokenizer_reference.py   # writes the files below

It copies /work/shared/models/stories260K/tok512.bin to tests/data/llama2c/tok512.bin and
/work/shared/tokenizers/llama2/tokenizer.bin to tests/data/tokenizer/llama2/tokenizer.bin
(tokenizer.model is already there) and writes tests/data/llama2c/tokenizer_golden.json, one
case per line, UTF-8:
  "tok512", "llama2"  [{"cat", "text", "ids"}]: ids = run.c encode(text, bos=0, eos=0) with
                      tok512.bin (512 tokens) and with the Llama 2 tokenizer.bin (32000 tokens);
                      the llama2 cases also carry "sentencepiece_agrees": whether Debian's
                      sentencepiece, given tokenizer.model, encodes the text to the same ids
  "decode"            [{"tokenizer", "ids", "prev_is_bos", "text", "hex", "note"?}]: the bytes
                      decode(prev, id) gives, concatenated over ids, prev being the id before
                      (for the first id: 1 (BOS) when prev_is_bos, else an id that is not 1);
                      "hex" is those bytes, "text" the same as a string (null when not UTF-8)

run.c's rules, as this file implements them:
  file      int32 max_token_length, then per token float32 score, int32 length, the bytes. The
            vocab size is not in the file (run.c takes the model's); here it is read to the end.
  encode    BOS (1) if asked; if the text is not empty, the id of the piece " " (the dummy
            prefix); then the UTF-8 bytes are cut into characters (a byte that is not a
            continuation byte 10xxxxxx starts one; continuation bytes join it while it holds
            fewer than 4 bytes) and each character is looked up as an exact vocab string; found:
            its id, not found: one id per byte, byte + 3 (byte fallback, <0x00> is id 3). Then,
            while any adjacent pair (a, b) has vocab[a] + vocab[b] in the vocab, the pair whose
            merged piece has the highest score (strictly greater than -1e10 and than the best so
            far, so the leftmost of equals) is replaced by it. EOS (2) if asked. The text is a C
            string: it ends at its first NUL byte.
  lookup    run.c bsearches a strcmp-sorted copy of the vocab; with a string twice in the vocab
            either id could come back. Neither file has a duplicate (asserted), so a dict is exact.
  decode    piece = vocab[id]; after BOS (prev == 1) a leading ' ' is dropped; a piece that
            sscanf reads as "<0x%02hhX>" is that raw byte. sscanf would also accept other pieces
            that start with "<0x"; neither vocab has any besides the 256 byte tokens (asserted),
            so the exact "<0xHH>" test here is the same. run.c returns a C string, so <0x00>
            decodes to the empty string (run.c's byte_pieces holds "\\0").
Checked once against run.c itself (its build_tokenizer, encode and decode compiled with gcc in a
scratch folder, outside the project): every case in the JSON came out the same.

Independent check, printed: the Llama 2 encodings against Debian's sentencepiece (0.1.97) with
tokenizer.model; they differ only where the text holds a literal U+2581, which sentencepiece
takes for its own space mark and run.c, whose tokenizer.bin spells that mark ' ', sends to byte
fallback. And every tok512 encoding decodes (after BOS) back to its text.
"""
import json
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "data"))
OUT_JSON = os.path.join(ROOT, "llama2c", "tokenizer_golden.json")
TOK512_SRC = "/work/shared/models/stories260K/tok512.bin"
TOK512 = os.path.join(ROOT, "llama2c", "tok512.bin")
LLAMA2_SRC = "/work/shared/tokenizers/llama2/tokenizer.bin"
LLAMA2 = os.path.join(ROOT, "tokenizer", "llama2", "tokenizer.bin")
LLAMA2_MODEL = os.path.join(ROOT, "tokenizer", "llama2", "tokenizer.model")
FORTUNES = "/work/shared/data/fortunes/fortunes.tsv"

BOS, EOS = 1, 2
NO_MERGE = struct.unpack("<f", struct.pack("<f", -1e10))[0]  # run.c's starting best_score (float)
BYTE_PIECE = re.compile(rb"<0x([0-9A-F]{2})>\Z")

# ---------------------------------------------------------------- the tokenizer


class Tokenizer:
    """build_tokenizer: the vocab (bytes, ' ' where sentencepiece has U+2581) and float32 scores."""

    def __init__(self, path, vocab_size=None):
        blob = open(path, "rb").read()
        (self.max_token_length,) = struct.unpack_from("<i", blob, 0)
        pos, self.vocab, self.scores = 4, [], []
        while pos < len(blob):
            score, n = struct.unpack_from("<fi", blob, pos)
            pos += 8
            assert 0 <= n <= self.max_token_length and pos + n <= len(blob), f"{path}: bad token {len(self.vocab)}"
            self.vocab.append(blob[pos:pos + n])
            self.scores.append(score)
            pos += n
        assert vocab_size is None or len(self.vocab) == vocab_size, f"{path}: {len(self.vocab)} tokens"
        self.ids = {}
        self.duplicates = []
        for i, piece in enumerate(self.vocab):
            if piece in self.ids:
                self.duplicates.append((piece, self.ids[piece], i))
            else:
                self.ids[piece] = i
        self._pairs = {}

    def lookup(self, s):
        return self.ids.get(s, -1)

    def _merge(self, a, b):
        """The id and score of vocab[a] + vocab[b], or None (memoised; the answer never changes)."""
        key = (a, b)
        if key not in self._pairs:
            i = self.lookup(self.vocab[a] + self.vocab[b])
            self._pairs[key] = None if i == -1 else (i, self.scores[i])
        return self._pairs[key]

    def encode(self, text, bos=False, eos=False):
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        data = data.split(b"\0", 1)[0]  # a C string
        tokens = [BOS] if bos else []
        if data:
            space = self.lookup(b" ")
            assert space != -1, "no ' ' piece: run.c would append -1"
            tokens.append(space)
        char = bytearray()
        for k, c in enumerate(data):
            if c & 0xC0 != 0x80:
                char = bytearray()
            char.append(c)
            nxt = data[k + 1] if k + 1 < len(data) else 0
            if nxt & 0xC0 == 0x80 and len(char) < 4:
                continue
            i = self.lookup(bytes(char))
            tokens.extend([i] if i != -1 else [b + 3 for b in char])
            char = bytearray()
        while True:
            best_score, best_id, best_idx = NO_MERGE, -1, -1
            for k in range(len(tokens) - 1):
                m = self._merge(tokens[k], tokens[k + 1])
                if m is not None and m[1] > best_score:
                    best_id, best_score = m
                    best_idx = k
            if best_idx == -1:
                break
            tokens[best_idx:best_idx + 2] = [best_id]
        if eos:
            tokens.append(EOS)
        return tokens

    def decode(self, prev, token):
        """The bytes run.c's decode(prev_token, token) points at."""
        piece = self.vocab[token]
        if prev == BOS and piece[:1] == b" ":
            piece = piece[1:]
        m = BYTE_PIECE.match(piece)
        if m:
            byte = int(m.group(1), 16)
            return bytes([byte]) if byte else b""  # "\0" as a C string is empty
        return piece

    def decode_all(self, ids, prev=BOS):
        out = []
        for t in ids:
            out.append(self.decode(prev, t))
            prev = t
        return b"".join(out)


def check_vocab(tok, name):
    """What the rules above rely on, asserted; returns facts for the summary."""
    assert not tok.duplicates, f"{name}: duplicate vocab strings {tok.duplicates[:5]}"
    assert tok.vocab[:3] == [b"<unk>", b"\n<s>\n", b"\n</s>\n"], f"{name}: {tok.vocab[:3]}"
    for b in range(256):
        assert tok.vocab[3 + b] == b"<0x%02X>" % b, f"{name}: id {3 + b} is {tok.vocab[3 + b]!r}"
    for i, piece in enumerate(tok.vocab):
        for p in (piece, piece[1:] if piece[:1] == b" " else piece):
            assert not p.startswith(b"<0x") or 3 <= i < 259, f"{name}: id {i} {piece!r} starts with <0x"
    assert all(b"\0" not in p and p for p in tok.vocab), f"{name}: an empty piece or one with NUL"
    return {"tokens": len(tok.vocab), "max_token_length": tok.max_token_length,
            "space_id": tok.lookup(b" "), "special_and_byte_scores": sorted(set(tok.scores[:259])),
            "merge_scores": (min(tok.scores[259:]), max(tok.scores[259:]))}


# ---------------------------------------------------------------- the texts

STORY_SENTENCES = [
    "Once upon a time",
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park.",
    "One day, she saw a big, red ball under a tree.",
    "Tom and his dog Max went to the beach.",
    "The sun was hot and the sand was soft.",
    "\"Can I have a cookie?\" asked Ben.",
    "Mom said, \"Yes, but only one.\"",
    "The little bird sang a happy song.",
    "They were best friends forever.",
    "Sue was sad because she lost her toy.",
    "The cat jumped on the bed and fell asleep.",
    "He wanted to fly like a bird, so he flapped his arms.",
    "The end.",
    "Lily smiled. She was very happy!",
    "Timmy did not want to share his blocks.",
    "\"Let's go!\" said Mia. \"The show is about to start.\"",
    "It was a sunny day, and the flowers were bright and pretty.",
    "The old man gave the boy a shiny coin.",
    "Once upon a time, in a big forest, there lived a small bunny.",
    "The bunny liked to hop and eat carrots.",
    "From that day on, they always helped each other.",
    "They played together all day long and had lots of fun.",
    "Spot barked at the mailman, but he was only being friendly.",
    "The moral of the story is: be kind to others.",
    "Anna's mom baked a cake for her birthday.",
    "Jack and Jill went up the hill to fetch a pail of water.",
    "The frog said, \"Ribbit, ribbit!\" and jumped into the pond.",
    "Sara looked at the sky. It was full of stars.",
    "\"I'm sorry,\" said Max. \"I didn't mean to break it.\"",
]
NAMES = ["Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Timmy", "Anna", "Sam", "Zoe"]
ACTIONS = ["found a", "wanted a", "saw a", "lost a", "made a", "shared a"]
THINGS = ["red ball", "big box", "shiny rock", "little boat", "yellow kite", "funny hat", "blue car"]

PUNCTUATION = [
    "Hello, world!", "Hello world", "What?!", "...", "Wait... what?", "(parentheses) [brackets] {braces}",
    "\"double\" and 'single' quotes", "it's", "don't won't can't", "a-b_c/d\\e", "e-mail@example.com",
    "https://example.com/path?q=1&x=y#frag", "#hashtag @mention $dollar %percent ^caret &amp; *star",
    "a+b=c; x<y>z | pipe ~tilde `backtick`", "!!!???", "--", "---", "-- Robert Heinlein",
    "semi;colon:colon", "C++ and C# and F#", "<html><body>hi</body></html>", "x.y.z", "Mr. Smith Jr.",
    ";-) :-( :D", "ok.", ",", ".", "?", "!", "'", "\"",
]
NUMBERS = [
    "0", "1", "7", "42", "100", "12345", "3.14159", "1,000,000", "-273.15", "+1 (555) 123-4567",
    "2023-12-31", "12:34:56", "v1.2.3", "0x1F", "1e-10", "50%", "$9.99", "3/4", "1st 2nd 3rd 4th",
    "He counted 1 2 3 4 5 6 7 8 9 10.", "Room 101", "007", "99 bottles of beer", "2+2=4",
    "1234567890123456789", "IPv4 192.168.0.1",
]
WHITESPACE = [
    "\n", "\n\n", "line one\nline two", "line one\nline two\n", "\nleading newline", "trailing newline\n",
    "windows\r\nline end", "\r", "\t", "\ttab\tseparated\t", "a\tb\tc", "tab\t\tdouble",
    " ", "  ", "   ", "    ", "        ", " leading space", "  two leading spaces", "    four leading spaces",
    "trailing space ", "trailing spaces   ", " both ", "a  b", "a  b   c    d", "  a  b  ",
    "word" + " " * 20 + "word", "word" + " " * 7 + "word", " \n ", "\n \n", "\t \t", "space before\n newline",
    "one.  Two.", "x \ny", "\f\v", "\n\n\n", "a" + " " * 17 + "b", "  \n  ", " \t ", "\t\t\t", "end.\n\n",
    "a\u00a0b", "a\u2003b", "a\u200bb", "\u3000ideographic space",
]
SPECIAL = [
    "<unk>", "<s>", "</s>", "<s>Hello</s>", "\n<s>\n", "\n</s>\n", "<0x41>", "<0x0A>", "<0x00>",
    "<unk> and <0x41>", "<pad>", "<0x", "0x41", "\u2581", "a\u2581b \u2581x", "\ufeffBOM", "\ufffd",
]
NON_ASCII = [
    "café", "naïve résumé", "Ångström façade", "crème brûlée", "São Paulo", "señor niño año",
    "Größe Straße Übermaß", "Fußgängerübergänge", "Äpfel, Öl und Übung", "Ελληνικά", "αβγδε ΑΒΓΔΕ",
    "Καλημέρα κόσμε", "Привет, мир!", "русский язык", "你好，世界", "日本語のテキストです", "한국어",
    "中文和English混合", "Ｆｕｌｌｗｉｄｔｈ", "ﬁ ligature", "e\u0301 vs \u00e9", "a\u0308o\u0308u\u0308",
    "Z\u0351\u036b\u0343a\u0310l\u0357g\u0346o", "\u0915\u093f\u0924\u093e\u092c", "สวัสดี", "مرحبا بالعالم",
    "שלום עולם", "😀", "I ❤️ NY 🗽", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🇩🇪🇫🇷", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𐍈",
    "€100 £50 ¥1000", "°C ± µm × ÷", "½ ¼ ¾", "™ © ®", "→ ← ↑ ↓", "— – …", "“curly” ‘quotes’",
    "Tiếng Việt", "Türkçe İstanbul ığ", "Łódź", "Ærøskøbing", "ÿ", "\u00ad", "Ⅻ", "ǅ",
]


def fortunes():
    """Deterministic picks from Debian's fortunes: every k-th short text, the non-ASCII ones
    (they are mojibake, good non-ASCII input), and two ascii-art ones."""
    with open(FORTUNES, encoding="utf-8") as f:
        rows = [line.split("\t", 1) for line in f.read().split("\n")[1:] if line]
    short = [t for _, t in rows if 20 <= len(t) <= 300 and all(ord(c) < 128 for c in t)]
    picked = short[::len(short) // 110][:110]
    picked += [t for _, t in rows if any(ord(c) > 127 for c in t) and len(t) <= 700]
    picked += [t for c, t in rows if c == "ascii-art" and len(t) <= 400][:2]
    return picked, rows


def long_texts(rows):
    story = " ".join(STORY_SENTENCES) + "\n\n"
    story = (story * 3)[:1800]
    fortune = ""
    for _, t in rows[1000:]:  # short fortunes, one a line, to about 1.4 KB
        if len(t) <= 300:
            fortune += t + "\n"
        if len(fortune) >= 1400:
            break
    mixed = " ".join(NON_ASCII + PUNCTUATION) + " " + " ".join(NUMBERS)
    code = ("def main():\n    for i in range(10):\n        if i % 2 == 0:\n            print(i)\n"
            "        else:\n\t\tpass  # tab indented\n\n") * 9
    return [story, fortune, mixed, code[:1200]]


def all_texts():
    """[(category, text)], in a fixed order."""
    out = [("empty", "")]
    out += [("story", s) for s in STORY_SENTENCES]
    for k, name in enumerate(NAMES):
        for j in range(3):
            act = ACTIONS[(k + j) % len(ACTIONS)]
            thing = THINGS[(k * 3 + j) % len(THINGS)]
            out.append(("story", f"{name} {act} {thing}."))
    out += [("punctuation", s) for s in PUNCTUATION]
    out += [("numbers", s) for s in NUMBERS]
    out += [("whitespace", s) for s in WHITESPACE]
    out += [("special", s) for s in SPECIAL]
    out += [("non-ascii", s) for s in NON_ASCII]
    picked, rows = fortunes()
    out += [("fortune", s) for s in picked]
    out += [("long", s) for s in long_texts(rows)]
    return out


# ---------------------------------------------------------------- decode cases


def decode_cases(t512, l2):
    b = lambda x: 3 + x  # noqa: E731  <0xHH> is id HH + 3
    once = t512.encode("Once upon a time")
    cases = [
        ("tok512", once, True, None),                      # " Once" first: its space dropped after BOS
        ("tok512", once, False, None),                     # not after BOS: the space stays
        ("tok512", [t512.lookup(b" "), t512.lookup(b" a")], True, "the ' ' piece after BOS"),
        ("tok512", [b(0xC3), b(0xA9)], False, "é as two byte tokens"),
        ("tok512", [b(0xE4), b(0xBD), b(0xA0)], False, "你 as three byte tokens"),
        ("tok512", [b(0xF0), b(0x9F), b(0x98), b(0x80)], True, "😀 as four byte tokens"),
        ("tok512", [b(0x20), once[1]], True, "a byte-token space after BOS is not dropped"),
        ("tok512", [b(0x0A)], False, None),
        ("tok512", [b(0xE4), b(0xBD)], False, "a truncated UTF-8 sequence"),
        ("tok512", [b(0x00)], False, "run.c: <0x00> decodes to the empty C string"),
        ("tok512", [BOS], False, None),
        ("tok512", once + [EOS], True, None),
        ("tok512", [0], False, None),
        ("tok512", [], True, None),
        ("llama2", l2.encode("Once upon a time"), True, None),
        ("llama2", l2.encode("Once upon a time"), False, None),
        ("llama2", [l2.lookup(b" "), l2.lookup(b" upon")], True, "the ' ' piece after BOS"),
        ("llama2", [l2.lookup(b"  "), l2.lookup(b"time")], True, "only one space of '  ' dropped"),
        ("llama2", [l2.lookup(b" Once"), BOS, l2.lookup(b" upon")], False, "BOS inside: the next space dropped"),
        ("llama2", [b(0xE4), b(0xBD), b(0xA0), l2.lookup(b" upon")], True, None),
        ("llama2", [b(0xF0), b(0x9F), b(0x98), b(0x80)], False, None),
    ]
    out = []
    for name, ids, after_bos, note in cases:
        tok = t512 if name == "tok512" else l2
        assert all(0 <= i < len(tok.vocab) for i in ids) and (BOS not in ids[:1] or not after_bos)
        data = tok.decode_all(ids, BOS if after_bos else 0)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        case = {"tokenizer": name, "ids": ids, "prev_is_bos": after_bos, "text": text, "hex": data.hex()}
        if note:
            case["note"] = note
        out.append(case)
    return out


# ---------------------------------------------------------------- main


def disagreement_category(text, ours, theirs, tok, sp):
    """Why the two encodings differ, in words (looked for in the pieces)."""
    if "\u2581" in text:
        return ("a literal U+2581 in the text: sentencepiece reads it as its own space mark (pieces "
                "'\u2581...'), run.c finds no such vocab string (tokenizer.bin spells it ' ') and falls "
                "back to the bytes e2 96 81")
    if re.search(r"\s\s", text):
        return "runs of whitespace"
    specials = set(range(0, 259))
    merged = [tok.vocab[i] for i in ours if i in specials and i not in theirs]
    if merged:
        return f"run.c merges into special/byte pieces {merged!r}, which sentencepiece never produces"
    return "other: %r vs %r" % ([tok.vocab[i] for i in ours], [sp.id_to_piece(i) for i in theirs])


def write_golden(path, tok512_cases, llama2_cases, dec):
    lines = ["{"]
    for key, cases in (("tok512", tok512_cases), ("llama2", llama2_cases), ("decode", dec)):
        lines.append(f' "{key}": [')
        body = [json.dumps(c, ensure_ascii=False) for c in cases]
        lines.append(",\n".join(body))
        lines.append(" ]," if key != "decode" else " ]")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    json.load(open(path, encoding="utf-8"))  # well-formed


def main():
    import sentencepiece  # only for the independent check

    shutil.copyfile(TOK512_SRC, TOK512)
    shutil.copyfile(LLAMA2_SRC, LLAMA2)
    t512, l2 = Tokenizer(TOK512, 512), Tokenizer(LLAMA2, 32000)
    facts = {"tok512": check_vocab(t512, "tok512"), "llama2": check_vocab(l2, "llama2")}
    sp = sentencepiece.SentencePieceProcessor(model_file=LLAMA2_MODEL)
    # tokenizer.bin holds tokenizer.model's pieces and scores, U+2581 written as ' '.
    for i in range(sp.get_piece_size()):
        want = {BOS: "\n<s>\n", EOS: "\n</s>\n"}.get(i, sp.id_to_piece(i).replace("\u2581", " "))
        assert l2.vocab[i] == want.encode("utf-8") and l2.scores[i] == sp.get_score(i), i

    texts = all_texts()
    assert len(texts) >= 300, len(texts)
    assert len({t for _, t in texts}) == len(texts), "a text twice"
    tok512_cases, llama2_cases = [], []
    agree, why = 0, {}
    round_trip_failures = []
    for cat, text in texts:
        ids = t512.encode(text)
        tok512_cases.append({"cat": cat, "text": text, "ids": ids})
        if t512.decode_all(ids, BOS) != text.encode("utf-8"):
            round_trip_failures.append((cat, text))
        ours, theirs = l2.encode(text), sp.encode(text)
        same = ours == theirs
        agree += same
        if not same:
            reason = disagreement_category(text, ours, theirs, l2, sp)
            why.setdefault(reason, []).append(text)
        llama2_cases.append({"cat": cat, "text": text, "ids": ours, "sentencepiece_agrees": same})
        assert l2.decode_all(ours, BOS) == text.encode("utf-8"), ("llama2 round trip", text)
    # With BOS and EOS, encode only adds the two ids.
    assert t512.encode("Once upon a time", True, True) == [BOS] + t512.encode("Once upon a time") + [EOS]
    assert t512.encode("", True, True) == [BOS, EOS]

    dec = decode_cases(t512, l2)
    write_golden(OUT_JSON, tok512_cases, llama2_cases, dec)

    for name, f in facts.items():
        print(f"{name}: {f['tokens']} tokens, max_token_length {f['max_token_length']}, ' ' is id "
              f"{f['space_id']}, scores of ids 0-258 {f['special_and_byte_scores']}, merges "
              f"{f['merge_scores'][1]}..{f['merge_scores'][0]}, no duplicate strings")
    print(f"{len(texts)} texts; llama2 run.c encode == sentencepiece encode for {agree}/{len(texts)}")
    for reason, items in sorted(why.items()):
        print(f"  disagree ({len(items)}): {reason}: " + ", ".join(repr(t[:40]) for t in items[:6]))
    print(f"tok512 round trip (decode after BOS == text): {len(texts) - len(round_trip_failures)}/{len(texts)}")
    for cat, text in round_trip_failures:
        print(f"  round trip fails [{cat}]: {text[:60]!r}")
    print(f"wrote {OUT_JSON} ({os.path.getsize(OUT_JSON)} bytes, {len(dec)} decode cases)")


if __name__ == "__main__":
    main()
