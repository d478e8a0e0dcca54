#!/usr/bin/python3
"""vl_probe.py: how much of a vl_world VQA/GQA split a small network learns from the same
features ladder reads: the bar a vision-language model should approach, and the check that
the answers are in the features at all.

    /usr/bin/python3 bench/vl_probe.py WORLD [--task vqa|gqa] [--epochs 40] [--seed 0] [--permuted]

The probe: the question text (one embedding per distinct training question; VQA/GQA texts
repeat) gates a per-cell projection of the image features, max-pooled over the cells, then a
two-layer MLP picks the answer among the training answers. Trained with Adam on the training
split; scored on the validation split with the task's metric (VQA soft score, GQA accuracy),
next to the best text-only answer of text_only_baseline.json. --permuted gives every image the
features of another one: the score must fall to about text-only. Debian's python3-torch only.
"""
import argparse
import json
import os
import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from lst_reference import read_safetensors  # noqa: E402


class Probe(nn.Module):
    def __init__(self, questions, feature_dim, answers, width=128):
        super().__init__()
        self.question = nn.Embedding(questions, width)
        self.cell = nn.Sequential(nn.Linear(feature_dim, width), nn.ReLU(), nn.Linear(width, width))
        self.out = nn.Sequential(nn.Linear(2 * width, width), nn.ReLU(), nn.Linear(width, answers))

    def forward(self, q, cells):
        qe = self.question(q)                                       # [B, W]
        pooled = (self.cell(cells) * qe.unsqueeze(1)).amax(1)        # [B, W]
        return self.out(torch.cat([qe, pooled], 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("world")
    ap.add_argument("--task", default="vqa", choices=["vqa", "gqa"])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--permuted", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    feats = {k: v.float() for k, v in read_safetensors(os.path.join(args.world, "features.safetensors")).items()}
    folder = os.path.join(args.world, args.task)
    train = json.load(open(os.path.join(folder, "train.json")))
    val = json.load(open(os.path.join(folder, "val.json" if args.task == "vqa" else "valid.json")))
    names = sorted(feats)
    image = {n: n for n in names}
    if args.permuted:
        other = names[1:] + names[:1]
        random.Random(args.seed).shuffle(other)
        image = dict(zip(names, other))
    texts = {t: i for i, t in enumerate(sorted({r["sent"] for r in train}))}
    answers = sorted({a for r in train for a in r["label"]})
    answer_id = {a: i for i, a in enumerate(answers)}

    def tensors(rows):
        q = torch.tensor([texts.get(r["sent"], 0) for r in rows])
        cells = torch.stack([feats[image[r["img_id"]]] for r in rows])
        target = torch.tensor([answer_id.get(max(r["label"], key=r["label"].get), 0) for r in rows])
        return q, cells, target

    tq, tc, tt = tensors(train)
    probe = Probe(len(texts), tc.shape[2], len(answers))
    opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
    for _ in range(args.epochs):
        order = torch.randperm(len(train))
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(probe(tq[idx], tc[idx]), tt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    vq, vc, _ = tensors(val)
    with torch.no_grad():
        predicted = probe(vq, vc).argmax(1).tolist()
    score = sum(r["label"].get(answers[p], 0.0) for r, p in zip(val, predicted)) / len(val)
    baseline = json.load(open(os.path.join(args.world, "text_only_baseline.json")))[args.task]["best"]
    print(json.dumps({"task": args.task, "probe_score": round(score, 4), "text_only": baseline,
                      "permuted": args.permuted, "epochs": args.epochs, "validation_examples": len(val)}))


if __name__ == "__main__":
    main()
