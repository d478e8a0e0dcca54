#!/usr/bin/env python3
"""The LST authors' GLUE splits, for checking ladder's load_glue (src/data/glue.cpp).

Reads official GLUE files the way HF `datasets`' glue script does (csv.DictReader with tabs
and QUOTE_NONE; CoLA without header; rows with a missing field dropped), then splits them as
the authors' seq2seq/data/tasks.py (AbstractTask.get with split_validation_test=True):

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    small tasks (cola, mrpc, rte, stsb, wnli): dev -> validation perm[:n//2], test perm[n//2:]
    large tasks (sst2, qnli, qqp): train -> validation perm[:1000], train perm[1000:]

and prints, per split, its size and its first rows as (position in the file, first text).
ladder's Example::index is that position, so tests/core/data_test.cpp (SharedData.*) checks
ladder's rows against the numbers printed here. Needs torch (python3-torch 1.13 was used).

    python3 tests/reference/glue_split_reference.py ../shared/data/glue rte sst2 cola
"""
import csv
import os
import sys

import torch

SMALL = {"cola": "CoLA", "mrpc": "MRPC", "rte": "RTE", "stsb": "STS-B", "wnli": "WNLI"}
LARGE = {"sst2": "SST-2", "qnli": "QNLI", "qqp": "QQP"}
TEXT = {"cola": "sentence", "sst2": "sentence", "mrpc": "#1 String", "qqp": "question1",
        "stsb": "sentence1", "qnli": "question", "rte": "sentence1", "wnli": "sentence1"}


def rows(path, task):
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig") as f:
        if task == "cola":
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE,
                                    fieldnames=["unused_1", "label", "unused_2", "sentence"])
        else:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row for row in reader if None not in row.values()]


def randperm(n, seed):
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.randperm(n, generator=generator).tolist()


def show(name, data, indices, task, count=3):
    print(f"  {name}: {len(indices)} rows; first positions {indices[:10]}")
    for i in indices[:count]:
        print(f"    [{i}] {data[i][TEXT[task]]!r}")


def main():
    glue, tasks = sys.argv[1], sys.argv[2:]
    seed = 42
    for task in tasks:
        if task in SMALL:
            folder = os.path.join(glue, SMALL[task])
            dev_name = "dev.tsv" if os.path.exists(os.path.join(folder, "dev.tsv")) else "test.tsv"
            dev = rows(os.path.join(folder, dev_name), task)
            perm = randperm(len(dev), seed)
            half = len(dev) // 2
            print(f"{task}: {dev_name} {len(dev)} rows")
            show("validation", dev, perm[:half], task)
            show("test", dev, perm[half:], task)
        else:
            train = rows(os.path.join(glue, LARGE[task], "train.tsv"), task)
            perm = randperm(len(train), seed)
            print(f"{task}: train.tsv {len(train)} rows")
            show("validation", train, perm[:1000], task)
            show("train", train, perm[1000:], task)


if __name__ == "__main__":
    main()
