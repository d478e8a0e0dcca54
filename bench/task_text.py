#!/usr/bin/env python3
"""The unlabeled text of GLUE training files, one document per line, for task-adaptive
pretraining (Gururangan et al. 2020, "Don't Stop Pretraining"): `ladder pretrain --init
BACKBONE --corpus OUT` then continues span corruption on the sentences the tasks are about.

    python3 bench/task_text.py GLUE_DIR OUT [TASK ...]      (tasks: sst2 cola rte mrpc)

Only training files are read, and only their text columns: no labels, no dev rows (the
paper's test splits are halves of dev, or dev itself for SST-2). SST-2's training file also
holds the 1,000 rows ladder holds out as validation; their text (not their labels) is included.
Pairs are one document ("first second"); repeated documents are written once.
Standard library only.
"""
import csv
import os
import sys

# Task -> (file under GLUE_DIR, text columns by header name, whether the file has a header).
SOURCES = {
    "sst2": ("SST-2/train.tsv", ["sentence"], True),
    "cola": ("CoLA/train.tsv", [3], False),
    "rte": ("RTE/train.tsv", ["sentence1", "sentence2"], True),
    "mrpc": ("MRPC/train.tsv", ["#1 String", "#2 String"], True),
}


def documents(path, columns, has_header):
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows) if has_header else None
        try:
            indices = [c if isinstance(c, int) else header.index(c) for c in columns]
        except ValueError as e:
            sys.exit(f"{path}: no column {e} in the header {header}")
        for number, row in enumerate(rows, start=2 if has_header else 1):
            if len(row) <= max(indices):
                sys.exit(f"{path}:{number}: expected at least {max(indices) + 1} tab-separated fields, found {len(row)}")
            yield " ".join(" ".join(row[i].split()) for i in indices).strip()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    glue, out, tasks = argv[1], argv[2], argv[3:] or list(SOURCES)
    seen, lines = set(), []
    for task in tasks:
        if task not in SOURCES:
            sys.exit(f"unknown task {task!r} (one of {', '.join(SOURCES)})")
        file, columns, has_header = SOURCES[task]
        path = os.path.join(glue, file)
        if not os.path.exists(path):
            sys.exit(f"{path} is missing (GLUE_DIR should hold SST-2/, CoLA/, RTE/, MRPC/)")
        count = 0
        for doc in documents(path, columns, has_header):
            if doc and doc not in seen:
                seen.add(doc)
                lines.append(doc)
                count += 1
        print(f"{task}: {count} documents from {path}", file=sys.stderr)
    temp = out + ".tmp"
    with open(temp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(temp, out)
    words = sum(len(line.split()) for line in lines)
    print(f"{out}: {len(lines)} documents, {words} words", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
