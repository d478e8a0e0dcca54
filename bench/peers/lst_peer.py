#!/usr/bin/python3
"""A plain-PyTorch peer of `ladder bench step --method lst`: the same training step of the
authors' LST (github ylsung/Ladder-Side-Tuning) on random T5 weights, timed and measured the
way ladder measures itself, so that ladder's numbers have something outside ladder to stand
against. Needs only Debian's python3-torch (1.13). The model math is the golden-test
reference's (tests/reference/lst_model.py): one Python LST, not two.

What a step does, as the authors' trainer: whole model in train mode (the frozen backbone
too, dropout 0.1, unless --backbone-dropout off), backbone under no_grad keeping only the
kept blocks' outputs, side network r=8 on the kept layers, gates, upsample into the frozen
tied head, loss, backward, gradient clipping 1.0, AdamW. Like ladder's bench: random token ids,
gradients set to None before each step, peak = peak RSS above the RSS taken after the imports
and before the model is built, with the kernel's high-water mark reset after the warm-up steps.

    /usr/bin/python3 bench/peers/lst_peer.py --arch t5-small --batch 8 --src-len 128 --tgt-len 8
prints one JSON line (median_step_seconds, peak_bytes, ...).
"""
import argparse
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from lst_model import side_names, lst_forward  # noqa: E402

# Common to every published T5 (architectures.json's note); the presets give the rest.
T5_COMMON = {"vocab_size": 32128, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
             "layer_norm_epsilon": 1e-6, "dropout_rate": 0.1, "pad_token_id": 0, "eos_token_id": 1,
             "decoder_start_token_id": 0}
T5_SMALL = {"d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_heads": 8,
            "feed_forward_proj": "relu", "tie_word_embeddings": True}
REDUCTION = 8


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss():
    # As ladder's runtime/memory.cpp: "5" resets VmHWM to the current RSS (Linux >= 4.0).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def arch_config(name):
    path = os.path.join(ROOT, "..", "shared", "architectures.json")
    arch = None
    if os.path.exists(path):
        arch = json.load(open(path)).get(name)
    if arch is None:
        if name != "t5-small":
            sys.exit(f"lst_peer: unknown architecture {name} (not in {path})")
        arch = T5_SMALL
    cfg = dict(T5_COMMON)
    cfg.update({k: v for k, v in arch.items() if k != "parameters"})
    cfg["num_decoder_layers"] = cfg["num_layers"]
    return cfg


def default_side_layers(n):
    # ladder's default_side_layers (src/methods/lst/side_network.cpp): the authors' lists.
    kept = [i for i in range(n) if (i % 2 == 1 if n == 24 else i % 4 != 0)]
    return kept or [n - 1]


def backbone_weights(cfg, g, dtype):
    """Random T5 weights with transformers' _init_weights scales (factor 1), drawn in place in
    their storage dtype: temporaries freed here would stay in the heap and count in the peak."""
    d, dkv, h, dff = cfg["d_model"], cfg["d_kv"], cfg["num_heads"], cfg["d_ff"]
    inner = dkv * h
    gated = cfg["feed_forward_proj"].startswith("gated")

    def normal(shape, std):
        return torch.empty(shape, dtype=dtype).normal_(0, std, generator=g)

    def ones(n):
        return torch.ones(n, dtype=dtype)

    w = {"shared.weight": normal([cfg["vocab_size"], d], 1.0)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = normal([cfg["vocab_size"], d], 1.0)
    for stack, n in (("encoder", cfg["num_layers"]), ("decoder", cfg["num_decoder_layers"])):
        for i in range(n):
            b = f"{stack}.block.{i}.layer."
            attns = ["0.SelfAttention."] + (["1.EncDecAttention."] if stack == "decoder" else [])
            for j, a in enumerate(attns):
                w[b + a + "q.weight"] = normal([inner, d], (d * dkv) ** -0.5)
                w[b + a + "k.weight"] = normal([inner, d], d ** -0.5)
                w[b + a + "v.weight"] = normal([inner, d], d ** -0.5)
                w[b + a + "o.weight"] = normal([d, inner], inner ** -0.5)
                w[b + f"{j}.layer_norm.weight"] = ones(d)
            if i == 0:
                w[b + "0.SelfAttention.relative_attention_bias.weight"] = normal(
                    [cfg["relative_attention_num_buckets"], h], d ** -0.5)
            ff = len(attns)
            for m in (["wi_0", "wi_1"] if gated else ["wi"]):
                w[b + f"{ff}.DenseReluDense.{m}.weight"] = normal([dff, d], d ** -0.5)
            w[b + f"{ff}.DenseReluDense.wo.weight"] = normal([d, dff], dff ** -0.5)
            w[b + f"{ff}.layer_norm.weight"] = ones(d)
        w[f"{stack}.final_layer_norm.weight"] = ones(d)
    return w


def side_weights(shapes, g):
    """Gates 0 (mu = 0.5), norms 1, new linears N(0, 0.01) with zero biases as the authors;
    side blocks at 1/sqrt(fan_in) (a random init: the step costs the same as a pruned one)."""
    side = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith(".gate") or name.endswith(".bias"):
            t = torch.zeros(shape)
        elif "layer_norm" in name:
            t = torch.ones(shape)
        elif "side.block" in name:
            t = torch.empty(shape).normal_(0, 1 / math.sqrt(shape[1]), generator=g)
        else:
            t = torch.empty(shape).normal_(0, 0.01, generator=g)
        side[name] = t.requires_grad_(True)
    return side


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="t5-small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--src-len", type=int, default=128)
    ap.add_argument("--tgt-len", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: torch's default")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: frozen backbone stored and run in bf16, side network fp32 (as ladder)")
    ap.add_argument("--backbone-dropout", choices=["on", "off"], default="on")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    baseline = status_kb("VmRSS") * 1024

    cfg = arch_config(args.arch)
    settings = {"encoder_layers": default_side_layers(cfg["num_layers"]),
                "decoder_layers": default_side_layers(cfg["num_decoder_layers"])}
    g = torch.Generator().manual_seed(args.seed)
    backbone = backbone_weights(cfg, g, torch.bfloat16 if args.precision == "bf16" else torch.float32)
    side = side_weights(side_names(cfg, settings, REDUCTION), g)
    params = [side[k] for k in sorted(side)]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

    data = torch.Generator().manual_seed(args.seed + 1)
    vocab = min(cfg["vocab_size"], 32000)
    ids = torch.randint(3, vocab, (args.batch, args.src_len), generator=data)
    mask = torch.ones_like(ids)
    labels = torch.randint(3, vocab, (args.batch, args.tgt_len), generator=data)
    p = cfg["dropout_rate"]
    backbone_p = p if args.backbone_dropout == "on" else 0.0

    seconds, loss = [], None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            reset_peak_rss()  # peaks count from the steady state, optimizer moments allocated
        start = time.perf_counter()
        for t in params:
            t.grad = None
        _, loss = lst_forward(cfg, backbone, side, settings, ids, mask, labels, backbone_p, p)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        loss = loss.item()
        if step >= args.warmup:
            seconds.append(time.perf_counter() - start)
        print(f"  lst_peer: step {step + 1}/{args.warmup + args.steps} {time.perf_counter() - start:.3f} s",
              file=sys.stderr)
    seconds.sort()
    record = {"method": "lst", "peer": "bench/peers/lst_peer.py", "arch": args.arch, "precision": args.precision,
              "backbone_dropout": args.backbone_dropout == "on", "batch": args.batch, "source_length": args.src_len,
              "target_length": args.tgt_len, "threads": torch.get_num_threads(),
              "trainable_parameters": sum(t.numel() for t in params),
              "backbone_parameters": sum(t.numel() for t in backbone.values()),
              "peak_bytes": status_kb("VmHWM") * 1024 - baseline, "median_step_seconds": seconds[len(seconds) // 2],
              "final_loss": loss, "torch": torch.__version__}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
