#!/usr/bin/python3
"""vl_trace.py: where the image's signal goes in a vision-language LST run.

    /usr/bin/python3 bench/vl_trace.py --run RUN [--features FILE] [--examples 32]

For the run's first validation VQA questions, computes LST's forward twice with the plain-PyTorch
reference of tests/reference/vl_model.py (checked against ladder by tests/torch/vl_golden_test.cpp):
once with each question's own image and once with every image swapped for the next one's. At each
stage it prints the visual positions' RMS and their "image share", |real - swapped| / |real|, the
part of the state that depends on the image: the visual embedding, the side stream after
first_downsample, inside and after each side encoder block, the side encoder's output, the logits.
It also prints the side decoder's cross-attention mass on the visual positions and the gradient
reaching the visual embedding. A share that falls by orders of magnitude from the embedding to the
logits is a path the optimiser cannot open: the model then learns the text-only answer.

Needs the run's model folder (run.json) with a T5 spiece.model, a .safetensors feature file, and
Debian's python3-torch and python3-sentencepiece.
"""
import argparse
import json
import os
import sys

import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import lst_model  # noqa: E402
from lst_model import GATE_T, block, rms_norm, shift_right, t5_stacks  # noqa: E402
from lst_reference import read_safetensors  # noqa: E402
from vl_model import joint_bias, visual_embedding, vl_lst_forward  # noqa: E402


def share(a, b):
    return ((a - b).norm() / a.norm()).item()


def rms(t):
    return t.pow(2).mean().sqrt().item()


def read_any(path):
    return {k: v.float() for k, v in read_safetensors(path).items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--features", help="default: the run's")
    ap.add_argument("--examples", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(2)
    run = json.load(open(os.path.join(args.run, "run.json")))
    model_dir, task = run["model"], run["task"]
    features = args.features or task["features"]
    weights_dir = os.path.join(args.run, "last")
    # ladder_config.json since ladder 0.9; earlier folders kept it all in adapter_config.json.
    ladder_config = os.path.join(weights_dir, "ladder_config.json")
    if not os.path.exists(ladder_config):
        ladder_config = os.path.join(weights_dir, "adapter_config.json")
    adapter = json.load(open(ladder_config))
    if adapter["method"] != "lst":
        sys.exit(f"{args.run}: an LST run is needed (this one is {adapter['method']})")
    if not features.endswith(".safetensors"):
        sys.exit(f"{features}: give a .safetensors feature file")
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    backbone = read_any(os.path.join(model_dir, "model.safetensors"))
    trained = {k: v.requires_grad_(True) for k, v in read_any(os.path.join(weights_dir, "adapter_model.safetensors")).items()}
    settings = adapter["settings"]
    feats = read_any(features)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "spiece.model"))
    data = task["data"]
    folder = os.path.join(data, "vqa") if os.path.isdir(os.path.join(data, "vqa")) else data
    rows = json.load(open(os.path.join(folder, "val.json")))[:args.examples]
    n = len(rows)
    sources = [sp.encode("vqa: " + r["sent"]) + [1] for r in rows]
    targets = [sp.encode(max(r["label"], key=r["label"].get)) + [1] for r in rows]
    L, T = max(map(len, sources)), max(map(len, targets))
    ids, mask = torch.zeros(n, L, dtype=torch.long), torch.zeros(n, L, dtype=torch.long)
    labels = torch.full((n, T), -100, dtype=torch.long)
    for i, (s, t) in enumerate(zip(sources, targets)):
        ids[i, :len(s)], mask[i, :len(s)], labels[i, :len(t)] = torch.tensor(s), 1, torch.tensor(t)
    own = torch.stack([feats[r["img_id"]] for r in rows])
    # Each image swapped for the next distinct one: questions about one image come together.
    distinct = sorted({r["img_id"] for r in rows})
    if len(distinct) < 2:
        sys.exit("the first questions are about one image: give more --examples")
    other = {a: distinct[(i + 1) % len(distinct)] for i, a in enumerate(distinct)}
    swapped = torch.stack([feats[other[r["img_id"]]] for r in rows])
    w = {**backbone, **trained}
    p = "side_encoder."
    stats = {}
    if "feature_mean" in adapter.get("visual", {}):
        stats = {"feature_mean": torch.tensor(adapter["visual"]["feature_mean"]),
                 "feature_std": torch.tensor(adapter["visual"]["feature_std"])}
    stream = settings.get("visual_stream", "authors")
    print(f"visual stream: {stream}; features {'standardised' if stats else 'as stored'}")
    with torch.no_grad():
        ve = [visual_embedding(cfg, w, f, **stats) for f in (own, swapped)]
        print(f"visual embedding            rms {rms(ve[0]):9.3f}  image share {share(*ve):.2e}")
        _, _, enc_blocks, _ = t5_stacks(cfg, backbone, ids, mask, shift_right(labels, 0, 0), 0.0,
                                        (settings["encoder_layers"], settings["decoder_layers"]))
        bias, _ = joint_bias(cfg, w[p + "side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], mask,
                             ve[0].shape[1])
        text = F.embedding(ids, backbone["shared.weight"])
        streams = [F.linear(torch.cat([text, v], 1), w[p + "first_downsample.weight"], w[p + "first_downsample.bias"])
                   for v in ve]
        print(f"after first_downsample      rms {rms(streams[0][:, L:]):9.3f}  image share "
              f"{share(streams[0][:, L:], streams[1][:, L:]):.2e}   (text positions rms {rms(streams[0][:, :L]):.3f})")
        for j, layer in enumerate(settings["encoder_layers"]):
            mu = torch.sigmoid(w[p + "gate"][layer] / GATE_T)
            rung = F.linear(enc_blocks[layer], w[p + f"ladder.{j}.weight"], w[p + f"ladder.{j}.bias"])
            for k in range(2):
                s = streams[k]
                if stream == "scaled":  # as vl_model.vl_side_encoder
                    text, visual = mu * s[:, :L] + (1 - mu) * rung, s[:, L:]
                    if j == 0:
                        keep = mask[:, :, None].float()
                        text_ms = (text ** 2 * keep).sum((1, 2)) / (keep.sum((1, 2)) * text.shape[2])
                        visual = visual * (text_ms / (visual ** 2).mean((1, 2))).sqrt()[:, None, None]
                    s = torch.cat([text, visual], 1)
                else:
                    s = mu * s + (1 - mu) * torch.cat([rung, rung.new_zeros(n, s.shape[1] - L, s.shape[2])], 1)
                streams[k] = block(s, w, p + f"side.block.{j}.", cfg, cfg["num_heads"], bias)
            print(f"after side block {j} (mu {mu.item():.2f}) rms {rms(streams[0][:, L:]):9.3f}  image share "
                  f"{share(streams[0][:, L:], streams[1][:, L:]):.2e}   (rung rms {rms(rung):.1f}, text positions rms "
                  f"{rms(streams[0][:, :L]):.1f})")
    # The side decoder's cross-attention mass on the visual positions, and the logits.
    mass = []
    attention = lst_model.attention

    def watched(x, kv, weights, prefix, heads, attn_bias, p=0.0):
        if prefix.startswith("side_decoder") and "EncDecAttention" in prefix:
            d_kv = weights[prefix + "q.weight"].shape[0] // heads
            q = F.linear(x, weights[prefix + "q.weight"]).view(x.shape[0], -1, heads, d_kv).transpose(1, 2)
            k = F.linear(kv, weights[prefix + "k.weight"]).view(x.shape[0], -1, heads, d_kv).transpose(1, 2)
            mass.append(F.softmax(q @ k.transpose(2, 3) + attn_bias, -1)[..., L:].sum(-1).mean().item())
        return attention(x, kv, weights, prefix, heads, attn_bias, p)

    lst_model.attention = watched
    logits, loss = vl_lst_forward(cfg, backbone, trained, settings, ids, mask, {"feats": own, **stats}, labels,
                                  visual_stream=stream)
    loss.backward()
    lst_model.attention = attention
    with torch.no_grad():
        other, _ = vl_lst_forward(cfg, backbone, trained, settings, ids, mask, {"feats": swapped, **stats}, labels,
                                  visual_stream=stream)
    print(f"logits                                      image share {share(logits.detach(), other):.2e}")
    print("side decoder cross-attention mass on visual positions, per layer:", [round(m, 3) for m in mass[:len(mass)]])
    g = trained["encoder.visual_embedding.feat_embedding.0.weight"].grad
    print(f"loss {loss.item():.4f}; gradient rms reaching visual_embedding.feat_embedding: {rms(g):.2e}")


if __name__ == "__main__":
    main()
