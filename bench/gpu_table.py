#!/usr/bin/env python3
"""One table from `ladder bench memory --json` files (scripts/gpu-check.sh prints it last).

    python3 bench/gpu_table.py OUT.md FILE.json [FILE.json ...]

Memory both as GiB and the authors' way ("GB" = max_memory_allocated / 1024**2 / 1000, as their
seq2seq code prints it), so it sits beside the paper's 17.6 / 12.6 / 5.5. Standard library only.
"""
import json
import os
import sys


def load(path):
    """(model, records) of one `ladder bench memory --json` file."""
    with open(path) as f:
        doc = json.load(f)
    return doc.get("model", os.path.basename(path)), doc.get("records", [])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out_path, files = sys.argv[1], sys.argv[2:]
    lines = ["| model | precision | method | trainable % | peak GiB | authors' GB | step s | attention |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for path in files:
        if not os.path.exists(path):
            lines.append(f"| {os.path.basename(path)} | | (missing: the run failed) | | | | | |")
            continue
        model, records = load(path)
        for r in records:
            peak = r["peak_bytes"]
            lines.append("| {} | {} | {} | {:.3f} | {:.2f} | {:.1f} | {:.3f} | {} |".format(
                model, r.get("precision", ""), r["method"], r.get("trainable_percent", 0.0), peak / 2**30,
                peak / 2**20 / 1000, r["median_step_seconds"], r.get("attention", "")))
    table = "\n".join(lines) + "\n"
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(table)
    os.replace(tmp, out_path)
    print(table, end="")


if __name__ == "__main__":
    main()
