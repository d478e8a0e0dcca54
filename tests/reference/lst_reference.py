#!/usr/bin/python3
"""An independent reference of the LST authors' method, in plain PyTorch, for ladder's golden tests.

Written from the paper and the authors' code (github ylsung/Ladder-Side-Tuning, seq2seq/:
third_party/models/t5/modeling_side_t5.py, pruning/fisher.py, pruning/pruning_methods.py,
run_seq2seq.py), not from ladder's C++. Needs only Debian's python3-torch (1.13); no
transformers, no safetensors package. Run once; its outputs are committed and the C++ tests
read them, so no Python runs at test time:

    python3 tests/reference/lst_reference.py          # writes tests/data/lst_golden/*

For each fixture (tests/data/fixtures/t5-tiny-v1_0: relu FFN, tied and scaled head;
t5-tiny-v1_1: gated-GELU FFN, tied unscaled head) it writes <fixture>.safetensors with
  input_ids, attention_mask, labels          a padded batch of 3
  side.NAME                                   given side-network weights (gates alpha != 0),
                                              NAME as in ladder's adapter_model.safetensors
  logits, loss, grad.NAME                     LST in eval mode (no dropout) with those weights
  fisher_input_ids.K, fisher_labels.K         4 training examples (batch size 1, unpadded)
  fisher.PARAM                                empirical Fisher (sum of grad**2) of a few backbone parameters
  magnitude_side.NAME                         side blocks initialised by pruning with |weight| importance
  fisher_side.NAME                            the same with the Fisher importance of the 4 examples
  fisher_side_encoder_kv.NAME                 Fisher pruning with ladder's "encoder" cross-attention rule
and <fixture>.json with the LST settings the C++ side must use.

The reference T5 is checked against the fixtures' transformers outputs (golden.safetensors)
before anything is written.
"""
import json
import math
import os
import struct
import sys

import torch

# The T5 and LST math is shared with the benchmark peer (bench/peers/lst_peer.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lst_model import GATE_T, lst_forward, side_names, t5_forward  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(DATA, "lst_golden")

REDUCTION = 4
# Kept side layers per fixture: not the defaults, so that a ladder read from the wrong
# backbone block, or a side block placed at the wrong index, changes the result.
SETTINGS = {
    "t5-tiny-v1_0": {"encoder_layers": [0, 1], "decoder_layers": [1]},
    "t5-tiny-v1_1": {"encoder_layers": [1], "decoder_layers": [0, 2]},
}

# ---------------------------------------------------------------- safetensors, minimal

DTYPES = {"F32": torch.float32, "I64": torch.int64, "BF16": torch.bfloat16, "F16": torch.float16}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(blob[base + begin:base + end])
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def given_side_weights(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    side = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith(".gate"):
            t = (torch.rand(shape, generator=g) - 0.5) * 0.6  # alpha in [-0.3, 0.3]: mu in [0.05, 0.95]
        elif "layer_norm" in name:
            t = 1.0 + 0.2 * torch.randn(shape, generator=g)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=g)
        elif "relative_attention_bias" in name:
            t = 0.5 * torch.randn(shape, generator=g)
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(shape[1])
        side[name] = t
    return side


# ---------------------------------------------------------------- Fisher (pruning/fisher.py)


def fisher(cfg, w, examples):
    """calculate_the_importance_label: eval mode, batch size 1, sum of grad**2 of the label loss."""
    params = {k: v.clone().requires_grad_(True) for k, v in w.items()}
    sums = {k: torch.zeros_like(v) for k, v in w.items()}
    for ids, labels in examples:
        _, loss, *_ = t5_forward(cfg, params, ids, torch.ones_like(ids), labels)
        grads = torch.autograd.grad(loss, list(params.values()))
        for (k, _), g in zip(params.items(), grads):
            sums[k] += g.square()
    return sums


# ---------------------------------------------------------------- pruning (pruning_without_residual, version 2)


def l1_pruned(importance, amount):
    """torch_pruning's L1Strategy: the int(amount*n) rows of smallest L1 norm (ties at the threshold too)."""
    n = importance.shape[0]
    norms = torch.norm(importance.reshape(n, -1), p=1, dim=1)
    n_to_prune = int(amount * n)
    threshold = torch.kthvalue(norms, k=n_to_prune).values
    return torch.nonzero(norms <= threshold).view(-1).tolist()


def kept(n, pruned):
    # The authors keep list(set(range(n)) - set(pruned)) (Python set order); ladder keeps the
    # same set in ascending order (a documented deviation), so the reference sorts it.
    return sorted(set(range(n)) - set(pruned))


def prune(cfg, w, importance, cross_kv="decoder"):
    """The authors' chain over the ordered layers; returns the pruned state dict of the backbone.

    cross_kv = "decoder": EncDecAttention q, k and v columns restricted with the decoder chain's
    current kept set (the authors); "encoder": k and v restricted with the encoder's final set.
    Gated FFNs (which the authors' code does not handle) score wi_0 * wi_1, as ladder does."""
    amount = 1 - 1 / REDUCTION
    gated = cfg["feed_forward_proj"].startswith("gated")
    wi = ["wi_0", "wi_1"] if gated else ["wi"]
    out = {}
    pruned = l1_pruned(importance["shared.weight"].T, amount)
    cols = kept(cfg["d_model"], pruned)
    encoder_cols = None

    def group(names, col_sets, rows_from):
        # Restrict input columns, score rows by the product of the importances, keep rows.
        imps = [importance[n][:, c] for n, c in zip(names, col_sets)]
        prod = imps[0]
        for imp in imps[1:]:
            prod = prod * imp
        rows = kept(prod.shape[0], l1_pruned(prod, amount))
        for n, c in zip(names, col_sets):
            out[n] = w[n][rows][:, c]
        return rows

    for stack, layers in (("encoder", cfg["num_layers"]), ("decoder", cfg["num_decoder_layers"])):
        for i in range(layers):
            b = f"{stack}.block.{i}.layer."
            out[b + "0.layer_norm.weight"] = w[b + "0.layer_norm.weight"][cols]
            a = b + "0.SelfAttention."
            heads = group([a + "q.weight", a + "k.weight", a + "v.weight"], [cols] * 3, None)
            cols = group([a + "o.weight"], [heads], None)
            ff = 1
            if stack == "decoder":
                out[b + "1.layer_norm.weight"] = w[b + "1.layer_norm.weight"][cols]
                a = b + "1.EncDecAttention."
                kv = cols if cross_kv == "decoder" else encoder_cols
                heads = group([a + "q.weight", a + "k.weight", a + "v.weight"], [cols, kv, kv], None)
                cols = group([a + "o.weight"], [heads], None)
                ff = 2
            out[b + f"{ff}.layer_norm.weight"] = w[b + f"{ff}.layer_norm.weight"][cols]
            f = b + f"{ff}.DenseReluDense."
            inner = group([f + m + ".weight" for m in wi], [cols] * len(wi), None)
            cols = group([f + "wo.weight"], [inner], None)
        out[f"{stack}.final_layer_norm.weight"] = w[f"{stack}.final_layer_norm.weight"][cols]
        if stack == "encoder":
            encoder_cols = cols
    return out


def side_from_pruned(cfg, w, pruned, settings, shapes):
    """run_seq2seq.py: side_block.i <- pruned block.i, final_side_layer_norm <- pruned final norm,
    the side bias owner <- the backbone's block-0 relative bias (unpruned)."""
    side = {}
    for stack, layers in (("encoder", settings["encoder_layers"]), ("decoder", settings["decoder_layers"])):
        for name in shapes:
            if not name.startswith(f"side_{stack}.side."):
                continue
            rest = name[len(f"side_{stack}.side."):]
            if rest == "final_layer_norm.weight":
                side[name] = pruned[f"{stack}.final_layer_norm.weight"]
            elif "relative_attention_bias" in rest:
                side[name] = w[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
            else:
                j = int(rest.split(".")[1])
                source = f"{stack}.block.{layers[j]}." + ".".join(rest.split(".")[2:])
                side[name] = pruned[source]
            assert list(side[name].shape) == shapes[name], (name, side[name].shape, shapes[name])
    return side


# ---------------------------------------------------------------- main


def check_reference_t5(fixture, cfg, w):
    golden = read_safetensors(os.path.join(DATA, "fixtures", fixture, "golden.safetensors"))
    logits, loss, *_ = t5_forward(cfg, w, golden["input_ids"], golden["attention_mask"], golden["labels"])
    diff = (logits - golden["logits"]).abs().max().item()
    if diff > 1e-4 or abs(loss.item() - golden["loss"].item()) > 1e-4:
        sys.exit(f"{fixture}: the reference T5 disagrees with transformers (max logit diff {diff})")
    return diff


def make_batch(g, vocab, src_lens=(7, 5, 3), tgt_lens=(4, 2, 3)):
    ids = torch.zeros(len(src_lens), max(src_lens), dtype=torch.long)
    mask = torch.zeros(len(src_lens), max(src_lens), dtype=torch.long)
    labels = torch.full((len(src_lens), max(tgt_lens)), -100, dtype=torch.long)
    for b, (s, t) in enumerate(zip(src_lens, tgt_lens)):
        ids[b, :s] = torch.randint(2, vocab, (s,), generator=g)
        ids[b, s - 1] = 1  # </s>
        mask[b, :s] = 1
        labels[b, :t] = torch.randint(2, vocab, (t,), generator=g)
        labels[b, t - 1] = 1
    return ids, mask, labels


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (fixture, settings) in enumerate(sorted(SETTINGS.items())):
        folder = os.path.join(DATA, "fixtures", fixture)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        w = read_safetensors(os.path.join(folder, "model.safetensors"))
        t5_diff = check_reference_t5(fixture, cfg, w)
        g = torch.Generator().manual_seed(1000 + seed)
        vocab = 1000  # the tokenizer's ids; the 100 sentinels above are not needed
        ids, mask, labels = make_batch(g, vocab)

        shapes = side_names(cfg, settings, REDUCTION)
        side = given_side_weights(shapes, 2000 + seed)
        params = {k: v.clone().requires_grad_(True) for k, v in side.items()}
        logits, loss = lst_forward(cfg, w, params, settings, ids, mask, labels)
        names = sorted(params)
        grads = torch.autograd.grad(loss, [params[n] for n in names])

        out = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits.detach(),
               "loss": loss.detach().reshape(1)}
        for n in names:
            out["side." + n] = side[n]
        for n, gr in zip(names, grads):
            out["grad." + n] = gr

        examples = []
        for k, (s, t) in enumerate([(6, 3), (4, 2), (9, 4), (3, 2)]):
            e_ids = torch.randint(2, vocab, (1, s), generator=g)
            e_ids[0, -1] = 1
            e_labels = torch.randint(2, vocab, (1, t), generator=g)
            e_labels[0, -1] = 1
            out[f"fisher_input_ids.{k}"] = e_ids
            out[f"fisher_labels.{k}"] = e_labels
            examples.append((e_ids, e_labels))
        importance = fisher(cfg, w, examples)
        last_dec = cfg["num_decoder_layers"] - 1
        for p in ["decoder.block.0.layer.0.SelfAttention.v.weight", "encoder.block.0.layer.0.SelfAttention.q.weight",
                  f"decoder.block.{last_dec}.layer.1.EncDecAttention.k.weight",
                  "decoder.block.0.layer.2.DenseReluDense.wo.weight", "encoder.final_layer_norm.weight"]:
            out["fisher." + p] = importance[p]

        magnitude = {k: v.abs() for k, v in w.items()}
        for prefix, imp, rule in (("magnitude_side.", magnitude, "decoder"), ("fisher_side.", importance, "decoder"),
                                  ("fisher_side_encoder_kv.", importance, "encoder")):
            pruned = prune(cfg, w, imp, rule)
            for n, t in side_from_pruned(cfg, w, pruned, settings, shapes).items():
                out[prefix + n] = t

        write_safetensors(os.path.join(OUT, fixture + ".safetensors"), out)
        meta = {"fixture": fixture, "reduction": REDUCTION, "gate_temperature": GATE_T,
                "encoder_layers": settings["encoder_layers"], "decoder_layers": settings["decoder_layers"],
                "loss": loss.item(), "reference_t5_max_logit_difference_to_transformers": t5_diff,
                "made_by": "python3 tests/reference/lst_reference.py (torch " + torch.__version__ + ")"}
        with open(os.path.join(OUT, fixture + ".json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        print(f"{fixture}: LST loss {loss.item():.6f}, reference T5 vs transformers max logit diff {t5_diff:.2e}")


if __name__ == "__main__":
    main()
