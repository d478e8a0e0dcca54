#!/usr/bin/env python3
"""Cross-check for the worked BLEU-4 / CIDEr-D examples in tests/core/vl_metrics_test.cpp.

A plain-Python re-implementation of the same pycocoevalcap formulas (bleu_scorer.py with
option "closest", cider_scorer.py with n=4, sigma=6), written from their published math, on
already-tokenised, whitespace-separated text. It is NOT pycocoevalcap: it only guards the
hand arithmetic in the test comments against slips, not the formulas themselves.
    python3 tests/reference/vl_caption_metrics_reference.py
"""
import math
from collections import Counter


def ngrams(words, n=4):
    return Counter(tuple(words[i:i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


def bleu4(preds, refss):
    correct, guess, c_total, r_total = [0] * 4, [0] * 4, 0, 0
    for pred, refs in zip(preds, refss):
        w = pred.split()
        c = len(w)
        maxc = Counter()
        for ref in refs:
            for g, k in ngrams(ref.split()).items():
                maxc[g] = max(maxc[g], k)
        r = min((abs(len(ref.split()) - c), len(ref.split())) for ref in refs)[1]
        c_total += c
        r_total += r
        for k in range(4):
            guess[k] += max(0, c - k)
        for g, k in ngrams(w).items():
            correct[len(g) - 1] += min(maxc.get(g, 0), k)
    b = 1.0
    for k in range(4):
        b *= (correct[k] + 1e-15) / (guess[k] + 1e-9)
    b **= 0.25
    ratio = (c_total + 1e-15) / (r_total + 1e-9)
    if ratio < 1:
        b *= math.exp(1 - 1 / ratio)
    return b


def cider(preds, refss, sigma=6.0):
    df = Counter()
    for refs in refss:
        for g in set(g for ref in refs for g in ngrams(ref.split())):
            df[g] += 1
    log_n = math.log(len(refss))

    def vec(counts):
        v, norm, length = [{} for _ in range(4)], [0.0] * 4, 0
        for g, tf in counts.items():
            n = len(g) - 1
            v[n][g] = tf * (log_n - math.log(max(1.0, df[g])))
            norm[n] += v[n][g] ** 2
            if n == 1:
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    scores = []
    for pred, refs in zip(preds, refss):
        vh, nh, lh = vec(ngrams(pred.split()))
        total = 0.0
        for ref in refs:
            vr, nr, lr = vec(ngrams(ref.split()))
            for n in range(4):
                val = sum(min(w, vr[n].get(g, 0.0)) * vr[n].get(g, 0.0) for g, w in vh[n].items())
                if nh[n] != 0 and nr[n] != 0:
                    val /= nh[n] * nr[n]
                total += val * math.exp(-((lh - lr) ** 2) / (2 * sigma ** 2))
        scores.append(total / 4 / len(refs) * 10)
    return sum(scores) / len(scores)


if __name__ == "__main__":
    print("bleu cat/mat   %.15f" % bleu4(["the cat sat on the mat"], [["the cat sat on the red mat"]]))
    print("bleu corpus    %.15f" % bleu4(["a b c d", "x y"], [["a b c d"], ["z w"]]))
    print("bleu closest   %.15f" % bleu4(["a b c d"], [["a b c", "a b c d e"]]))
    print("cider a/b c/e  %.15f" % cider(["a b", "c e"], [["a b"], ["c d"]]))
    print("cider clipping %.15f" % cider(["a a", "b"], [["a"], ["b"]]))
    print("cider 2 refs   %.15f" % cider(["a b c", "d e"], [["a b c", "a b x"], ["d e", "d f g"]]))
