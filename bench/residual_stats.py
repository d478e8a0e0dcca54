#!/usr/bin/env python3
"""How much of a T5 encoder's residual stream is one constant vector, per layer.

    python3 bench/residual_stats.py MODEL [MODEL ...]      (MODEL: a folder or arch:DIR)

Runs `build/ladder forward` on five SST-2-style sentences and prints, for every encoder hidden
state, the RMS, the share of the energy in the mean vector over all tokens, and the mean cosine
between the sentences' mean-pooled states. A backbone whose states are nearly the same vector
for every input (share near 1, cosine near 1) gives a fine-tuned model little to work with.
Standard library only; run from the repository root after building.
"""
import array, json, math, os, struct, subprocess, sys, tempfile

SENTENCES = [
    "sst2 sentence: a gorgeous, witty, seductive movie.",
    "sst2 sentence: the plot is nothing but boilerplate cliches from start to finish.",
    "sst2 sentence: an utterly charming and hilarious film that reaffirms your faith in humanity.",
    "sst2 sentence: it's a bad sign when you're rooting for the film to end.",
    "sst2 sentence: the acting is wooden and the dialogue is painful to sit through.",
]
LADDER = os.environ.get("LADDER", "build/ladder")


def write_inputs(path, tokenizer):
    ids = [list(map(int, subprocess.run([LADDER, "tokenize", "--tokenizer", tokenizer, s], check=True,
                                        capture_output=True, text=True).stdout.split())) for s in SENTENCES]
    width = max(map(len, ids))
    tensors = {"input_ids": [x + [0] * (width - len(x)) for x in ids],
               "attention_mask": [[1] * len(x) + [0] * (width - len(x)) for x in ids],
               "decoder_input_ids": [[0] for _ in ids]}
    header, data = {}, b""
    for name, rows in tensors.items():
        raw = array.array("q", [v for r in rows for v in r]).tobytes()
        header[name] = {"dtype": "I64", "shape": [len(rows), len(rows[0])], "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return [len(x) for x in ids]


def read_tensors(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def main(models):
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            folder = model[5:] if model.startswith("arch:") else model
            lengths = write_inputs(os.path.join(tmp, "in.safetensors"), os.path.join(folder, "spiece.model"))
            subprocess.run([LADDER, "forward", "--model", model, "--inputs", os.path.join(tmp, "in.safetensors"),
                            "--output", os.path.join(tmp, "out.safetensors"), "--threads", "1"], check=True, capture_output=True)
            header, data = read_tensors(os.path.join(tmp, "out.safetensors"))
            print(model)
            layer = 0
            while f"encoder_hidden_states.{layer}" in header:
                info = header[f"encoder_hidden_states.{layer}"]
                values = array.array("f")
                values.frombytes(data[info["data_offsets"][0]:info["data_offsets"][1]])
                _, steps, width = info["shape"]
                tokens = [[values[(i * steps + t) * width + j] for j in range(width)]
                          for i in range(len(lengths)) for t in range(lengths[i])]
                mean = [sum(tok[j] for tok in tokens) / len(tokens) for j in range(width)]
                energy = sum(sum(x * x for x in tok) for tok in tokens) / len(tokens)
                pooled, start = [], 0
                for n in lengths:
                    pooled.append([sum(tok[j] for tok in tokens[start:start + n]) / n for j in range(width)])
                    start += n
                cosines = [sum(a * b for a, b in zip(p, q)) / math.sqrt(sum(a * a for a in p) * sum(b * b for b in q))
                           for i, p in enumerate(pooled) for q in pooled[i + 1:]]
                print(f"  encoder_hidden_states.{layer}: rms {math.sqrt(energy / width):7.2f} | "
                      f"constant share {sum(m * m for m in mean) / energy:.2f} | "
                      f"sentence cosine {sum(cosines) / len(cosines):.3f}")
                layer += 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
