#!/usr/bin/python3
"""Golden numbers of the vision-language (VL-T5) forward and backward, for ladder's
tests/torch/vl_golden_test.cpp: a baseline (method "full", the backbone encoder reads
[text ; visual]) and LST (the backbone reads the text, the side network [text ; visual]).

The math is vl_model.py's (written from the authors' VL-T5/src/modeling_t5.py, not from
ladder's C++). Needs only Debian's python3-torch (1.13). Run once; the outputs are committed:

    /usr/bin/python3 tests/reference/vl_reference.py      # writes tests/data/vl_golden/*

For each fixture it writes <fixture>.safetensors with
  input_ids, attention_mask, labels               a batch of 3, row 1 padded
  features, boxes, image_order, object_order      V = 2 images x 3 tokens, boxes (x1, x2, y1, y2)
                                                  with x1 < x2, y1 < y2, so the area term counts
  visual.NAME                                     given visual-embedding weights (both methods)
  side.NAME                                       given LST side weights (gates alpha != 0)
  full.logits, full.loss, full.grad.NAME          "full" in eval mode: grads of every visual tensor
                                                  and of a few backbone tensors
  lst.logits, lst.loss, lst.grad.NAME             LST in eval mode: grads of every side and visual tensor
and <fixture>.json with the settings the C++ side must use. NAME is as ladder saves it.

Before writing, the reference T5 is checked against the fixtures' transformers outputs, and the
VL LST forward with no visual token against lst_model.lst_forward.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lst_model import GATE_T, lst_forward, side_names  # noqa: E402
from lst_reference import (DATA, make_batch, REDUCTION, SETTINGS, check_reference_t5, given_side_weights,  # noqa: E402
                           read_safetensors, write_safetensors)
from vl_model import visual_names, vl_lst_forward, vl_t5_forward  # noqa: E402

OUT = os.path.join(DATA, "vl_golden")
FEATURE_DIM = 5
IMAGES = 2
IMAGE_ORDER = [0, 0, 0, 1, 1, 1]
OBJECT_ORDER = [0, 1, 2, 0, 1, 2]


def make_visual(g, batch):
    v = len(IMAGE_ORDER)
    # Sorted pairs: (x1, x2) and (y1, y2) increasing, all in [0, 1].
    boxes = torch.rand(batch, v, 2, 2, generator=g).sort(-1).values.reshape(batch, v, 4)
    return {"feats": torch.randn(batch, v, FEATURE_DIM, generator=g), "boxes": boxes,
            "img_order": torch.tensor(IMAGE_ORDER).expand(batch, v).contiguous(),
            "obj_order": torch.tensor(OBJECT_ORDER).expand(batch, v).contiguous()}


def given_visual_weights(shapes, seed):
    # Away from ladder's initialisation (U(+-1/sqrt(in)) Linears, unit norms, N(0, 1) orders),
    # so that a test which forgot to copy them in fails.
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith(".1.weight"):
            t = 1.0 + 0.2 * torch.randn(shape, generator=g)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=g)
        elif "img_order" in name:
            t = 0.5 * torch.randn(shape, generator=g)
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(shape[1])
        out[name] = t
    return out


def grads_of(loss, params, names):
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    return dict(zip(names, grads))


def check_lst_reduces_to_text(cfg, w, side, visual, settings, ids, mask, labels):
    """With no visual token the VL LST is the text LST: the two references must agree exactly."""
    empty = {"feats": torch.zeros(ids.shape[0], 0, FEATURE_DIM), "boxes": torch.zeros(ids.shape[0], 0, 4),
             "img_order": torch.zeros(ids.shape[0], 0, dtype=torch.long),
             "obj_order": torch.zeros(ids.shape[0], 0, dtype=torch.long)}
    vl_logits, _ = vl_lst_forward(cfg, w, {**side, **visual}, settings, ids, mask, empty, labels)
    text_logits, _ = lst_forward(cfg, w, side, settings, ids, mask, labels)
    diff = (vl_logits - text_logits).abs().max().item()
    if diff > 1e-6:
        sys.exit(f"the VL LST reference without visual tokens differs from the text LST by {diff}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (fixture, settings) in enumerate(sorted(SETTINGS.items())):
        folder = os.path.join(DATA, "fixtures", fixture)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        w = read_safetensors(os.path.join(folder, "model.safetensors"))
        t5_diff = check_reference_t5(fixture, cfg, w)
        g = torch.Generator().manual_seed(3000 + seed)
        ids, mask, labels = make_batch(g, 1000, (6, 4, 6), (3, 4, 2))
        vis = make_visual(g, ids.shape[0])
        visual = given_visual_weights(visual_names(cfg, FEATURE_DIM, IMAGES), 4000 + seed)
        side = given_side_weights(side_names(cfg, settings, REDUCTION), 5000 + seed)
        check_lst_reduces_to_text(cfg, w, side, visual, settings, ids, mask, labels)

        out = {"input_ids": ids, "attention_mask": mask, "labels": labels, "features": vis["feats"],
               "boxes": vis["boxes"], "image_order": vis["img_order"], "object_order": vis["obj_order"]}
        out.update({"visual." + n: t for n, t in visual.items()})
        out.update({"side." + n: t for n, t in side.items()})

        # full: every backbone weight trains; the golden keeps the visual gradients and those of
        # the shared table (text, object order and head), an encoder query that sees the visual
        # keys, the encoder's relative bias table, and a decoder cross-attention key over them.
        params = {k: v.clone().requires_grad_(True) for k, v in {**w, **visual}.items()}
        logits, loss = vl_t5_forward(cfg, params, ids, mask, vis, labels)
        kept = sorted(visual) + ["shared.weight", "encoder.block.0.layer.0.SelfAttention.q.weight",
                                 "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                 "decoder.block.0.layer.1.EncDecAttention.k.weight"]
        out.update({"full.logits": logits.detach(), "full.loss": loss.detach().reshape(1)})
        out.update({"full.grad." + n: gr for n, gr in grads_of(loss, params, kept).items()})
        full_loss = loss.item()

        # lst: the backbone is frozen; the side network and the visual embedding train.
        params = {k: v.clone().requires_grad_(True) for k, v in {**side, **visual}.items()}
        logits, loss = vl_lst_forward(cfg, w, params, settings, ids, mask, vis, labels)
        out.update({"lst.logits": logits.detach(), "lst.loss": loss.detach().reshape(1)})
        out.update({"lst.grad." + n: gr for n, gr in grads_of(loss, params, sorted(params)).items()})

        # lst_scaled: ladder's defaults, the visual stream scaled and out of the gates, and the
        # features standardised with given statistics.
        mean = 0.3 * torch.randn(FEATURE_DIM, generator=g)
        deviation = 0.5 + torch.rand(FEATURE_DIM, generator=g)
        standardised = {**vis, "feature_mean": mean, "feature_std": deviation}
        params = {k: v.clone().requires_grad_(True) for k, v in {**side, **visual}.items()}
        logits, scaled_loss = vl_lst_forward(cfg, w, params, settings, ids, mask, standardised, labels,
                                             visual_stream="scaled")
        out.update({"feature_mean": mean, "feature_std": deviation, "lst_scaled.logits": logits.detach(),
                    "lst_scaled.loss": scaled_loss.detach().reshape(1)})
        out.update({"lst_scaled.grad." + n: gr for n, gr in grads_of(scaled_loss, params, sorted(params)).items()})

        write_safetensors(os.path.join(OUT, fixture + ".safetensors"), out)
        meta = {"fixture": fixture, "feature_dim": FEATURE_DIM, "images": IMAGES, "visual_tokens": len(IMAGE_ORDER),
                "reduction": REDUCTION, "gate_temperature": GATE_T, "encoder_layers": settings["encoder_layers"],
                "decoder_layers": settings["decoder_layers"], "full_loss": full_loss, "lst_loss": loss.item(), "lst_scaled_loss": scaled_loss.item(),
                "reference_t5_max_logit_difference_to_transformers": t5_diff,
                "made_by": "/usr/bin/python3 tests/reference/vl_reference.py (torch " + torch.__version__ + ")"}
        with open(os.path.join(OUT, fixture + ".json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        print(f"{fixture}: full loss {full_loss:.6f}, LST loss {loss.item():.6f}, LST scaled {scaled_loss.item():.6f}")


if __name__ == "__main__":
    main()
