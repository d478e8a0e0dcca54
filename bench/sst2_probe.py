#!/usr/bin/python3
"""How much SST-2 sentiment the frozen stories260K already carries: a linear probe on its
hidden states, pretrained against the same architecture with random weights.

    /usr/bin/python3 bench/sst2_probe.py [GLUE_DIR] [--train 8000]

Reads tests/data/llama2c/{stories260K.bin, tok512.bin} with the project's plain-Python
references of run.c (tests/reference/), encodes each SST-2 sentence as the decoder-only GLUE
prompt minus its label cue (<s>, "sst2 sentence: ..."), runs the frozen model once, and fits an
L2-regularised logistic regression (full-batch L-BFGS) on the mean over positions of each
layer's output (embeddings, blocks 1-5) and on their concatenation: trained on the first
--train SST-2 training sentences after the 1,000 ladder holds out for validation, scored on the
872 dev sentences (the test split of bench/stories.sh). The random model draws every matrix
from N(0, 0.02) with unit norms, as `arch:` does. Needs Debian's python3-torch and numpy.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from llama2c_reference import hf_hidden_states, read_checkpoint, to_hf  # noqa: E402
from llama2c_tokenizer_reference import Tokenizer  # noqa: E402


def layer_means(config, hf, ids):
    """Mean over positions of the embeddings and of each block's output."""
    return torch.stack([state.mean(0) for state in hf_hidden_states(config, hf, ids)[:-1]])  # [layers + 1, d]


def random_like(hf, seed):
    gen = torch.Generator().manual_seed(seed)
    return {name: (torch.ones_like(t) if t.dim() == 1 else torch.empty(t.shape).normal_(0.0, 0.02, generator=gen))
            for name, t in hf.items()}


def probe(train_x, train_y, test_x, test_y, l2=1e-3):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (test_x - mean) / std
    w = torch.zeros(a.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a @ w + bias, train_y) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((b @ w + bias > 0).float() == test_y).float().mean())


def read_tsv(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")][1:]
    return [(r[0], float(r[1])) for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("glue", nargs="?", default=os.path.join(ROOT, "..", "shared", "data", "glue"))
    parser.add_argument("--train", type=int, default=8000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg, w = read_checkpoint(os.path.join(ROOT, "tests", "data", "llama2c", "stories260K.bin"))
    config, hf = to_hf(cfg, w)
    hf = {k: v.float() for k, v in hf.items()}
    tok = Tokenizer(os.path.join(ROOT, "tests", "data", "llama2c", "tok512.bin"))
    # ladder's SST-2 validation is the first 1,000 training rows of its split; the probe trains
    # on rows after them (the order of the file) and tests on dev, as bench/stories.sh does.
    train = read_tsv(os.path.join(args.glue, "SST-2", "train.tsv"))[1000:1000 + args.train]
    test = read_tsv(os.path.join(args.glue, "SST-2", "dev.tsv"))
    encode = lambda rows: [tok.encode("sst2 sentence: " + text, bos=True) for text, _ in rows]  # noqa: E731
    train_ids, test_ids = encode(train), encode(test)
    train_y = torch.tensor([y for _, y in train])
    test_y = torch.tensor([y for _, y in test])
    print(f"SST-2: {len(train)} training sentences, {len(test)} test sentences "
          f"(majority answer: {max(test_y.mean().item(), 1 - test_y.mean().item()):.3f})")
    with torch.no_grad():
        for name, weights in (("pretrained", hf), ("random", random_like(hf, 1))):
            feats_train = torch.stack([layer_means(config, weights, ids) for ids in train_ids])
            feats_test = torch.stack([layer_means(config, weights, ids) for ids in test_ids])
            row = []
            for layer in range(feats_train.shape[1]):
                with torch.enable_grad():
                    row.append(probe(feats_train[:, layer], train_y, feats_test[:, layer], test_y))
            with torch.enable_grad():
                all_layers = probe(feats_train.flatten(1), train_y, feats_test.flatten(1), test_y)
            print(f"{name:10s} test accuracy of a linear probe: embeddings {row[0]:.3f}, blocks "
                  + " ".join(f"{a:.3f}" for a in row[1:]) + f", all layers {all_layers:.3f}")


if __name__ == "__main__":
    main()
