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
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(DATA, "lst_golden")

REDUCTION = 4
GATE_T = 0.1
# Kept side layers per fixture: not the defaults, so that a ladder read from the wrong
# backbone block, or a side block placed at the wrong index, changes the result.
SETTINGS = {
    "t5-tiny-v1_0": {"encoder_layers": [0, 1], "decoder_layers": [1]},
    "t5-tiny-v1_1": {"encoder_layers": [1], "decoder_layers": [0, 2]},
}

# ---------------------------------------------------------------- safetensors, minimal

DTYPES = {"F32": torch.float32, "I64": torch.int64}
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


# ---------------------------------------------------------------- T5 (as transformers computes it)


def rms_norm(x, weight, eps):
    variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def relative_bucket(relative_position, bidirectional, num_buckets, max_distance):
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        n = relative_position.abs()
    else:
        n = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, n, large)


def position_bias(table, q_len, k_len, bidirectional, cfg):
    context = torch.arange(q_len)[:, None]
    memory = torch.arange(k_len)[None, :]
    buckets = relative_bucket(memory - context, bidirectional, cfg["relative_attention_num_buckets"],
                              cfg["relative_attention_max_distance"])
    return table[buckets].permute(2, 0, 1).unsqueeze(0)  # [1, H, q, k]


def extended_mask(mask, causal):
    # mask [B, K] of 0/1 -> additive [B, 1, Q or 1, K]
    m = mask[:, None, None, :].to(torch.float32)
    if causal:
        k = mask.shape[1]
        m = m * torch.tril(torch.ones(k, k))[None, None]
    return (1.0 - m) * torch.finfo(torch.float32).min


def attention(x, kv, w, prefix, heads, bias):
    b, q_len, _ = x.shape
    q = F.linear(x, w[prefix + "q.weight"])
    k = F.linear(kv, w[prefix + "k.weight"])
    v = F.linear(kv, w[prefix + "v.weight"])
    inner = q.shape[-1]
    d_kv = inner // heads

    def split(t):
        return t.view(b, -1, heads, d_kv).transpose(1, 2)

    scores = split(q) @ split(k).transpose(2, 3) + bias  # no 1/sqrt(d) in T5
    probs = F.softmax(scores.float(), dim=-1).type_as(scores)
    out = (probs @ split(v)).transpose(1, 2).reshape(b, q_len, inner)
    return F.linear(out, w[prefix + "o.weight"])


def feed_forward(x, w, prefix, gated):
    if gated:
        h = F.gelu(F.linear(x, w[prefix + "wi_0.weight"]), approximate="tanh") * F.linear(x, w[prefix + "wi_1.weight"])
    else:
        h = F.relu(F.linear(x, w[prefix + "wi.weight"]))
    return F.linear(h, w[prefix + "wo.weight"])


def block(h, w, prefix, cfg, heads, self_bias, enc=None, cross_bias=None):
    """One T5 block (pre-norm, residuals) whose weights are w[prefix + 'layer.N...']."""
    eps = cfg["layer_norm_epsilon"]
    gated = cfg["feed_forward_proj"].startswith("gated")
    x = rms_norm(h, w[prefix + "layer.0.layer_norm.weight"], eps)
    h = h + attention(x, x, w, prefix + "layer.0.SelfAttention.", heads, self_bias)
    ff = 1
    if enc is not None:
        x = rms_norm(h, w[prefix + "layer.1.layer_norm.weight"], eps)
        h = h + attention(x, enc, w, prefix + "layer.1.EncDecAttention.", heads, cross_bias)
        ff = 2
    x = rms_norm(h, w[prefix + f"layer.{ff}.layer_norm.weight"], eps)
    return h + feed_forward(x, w, prefix + f"layer.{ff}.DenseReluDense.", gated)


def masks(cfg, w, mask, dec_len, table_enc, table_dec):
    src_len = mask.shape[1]
    enc_bias = position_bias(table_enc, src_len, src_len, True, cfg) + extended_mask(mask, False)
    dec_mask = torch.ones(mask.shape[0], dec_len, dtype=torch.long)
    dec_bias = position_bias(table_dec, dec_len, dec_len, False, cfg) + extended_mask(dec_mask, True)
    cross_bias = extended_mask(mask, False)
    return enc_bias, dec_bias, cross_bias


def shift_right(labels, start, pad):
    d = torch.zeros_like(labels)
    d[:, 1:] = labels[:, :-1]
    d[:, 0] = start
    return d.masked_fill(d == -100, pad)


def head(cfg, w, h):
    scale = cfg.get("scale_decoder_outputs", cfg.get("tie_word_embeddings", True))
    if scale:
        h = h * cfg["d_model"] ** -0.5
    return F.linear(h, w["lm_head.weight"] if "lm_head.weight" in w else w["shared.weight"])


def t5_forward(cfg, w, ids, mask, labels):
    """Plain T5; returns logits, loss, the encoder output and every block output."""
    heads = cfg["num_heads"]
    dec_ids = shift_right(labels, cfg["decoder_start_token_id"], cfg["pad_token_id"])
    enc_bias, dec_bias, cross_bias = masks(cfg, w, mask, dec_ids.shape[1],
                                           w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                                           w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"])
    h = F.embedding(ids, w["shared.weight"])
    enc_blocks = []
    for i in range(cfg["num_layers"]):
        h = block(h, w, f"encoder.block.{i}.", cfg, heads, enc_bias)
        enc_blocks.append(h)
    enc = rms_norm(h, w["encoder.final_layer_norm.weight"], cfg["layer_norm_epsilon"])
    h = F.embedding(dec_ids, w["shared.weight"])
    dec_blocks = []
    for i in range(cfg["num_decoder_layers"]):
        h = block(h, w, f"decoder.block.{i}.", cfg, heads, dec_bias, enc, cross_bias)
        dec_blocks.append(h)
    dec = rms_norm(h, w["decoder.final_layer_norm.weight"], cfg["layer_norm_epsilon"])
    logits = head(cfg, w, dec)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return logits, loss, enc, enc_blocks, dec_blocks, dec_ids


# ---------------------------------------------------------------- LST (modeling_side_t5.py)


def side_config(cfg, r):
    return {"d_model": cfg["d_model"] // r, "d_kv": cfg["d_kv"] // r, "d_ff": cfg["d_ff"] // r,
            "num_heads": cfg["num_heads"]}


def side_stack(cfg, w, prefix, kept, embeddings, ladder_inputs, self_bias, side_enc=None, cross_bias=None):
    """One stack's side network: s = first_downsample(E); before side block i:
    s = mu*s + (1-mu)*ladder_i(h_i) with mu = sigmoid(alpha_i / T), h_i = output of backbone block i."""
    s = F.linear(embeddings, w[prefix + "first_downsample.weight"], w[prefix + "first_downsample.bias"])
    for j, layer in enumerate(kept):
        mu = torch.sigmoid(w[prefix + "gate"][layer] / GATE_T)
        rung = F.linear(ladder_inputs[layer], w[prefix + f"ladder.{j}.weight"], w[prefix + f"ladder.{j}.bias"])
        s = mu * s + (1 - mu) * rung
        s = block(s, w, prefix + f"side.block.{j}.", cfg, cfg["num_heads"], self_bias, side_enc, cross_bias)
    return rms_norm(s, w[prefix + "side.final_layer_norm.weight"], 1e-6)


def lst_forward(cfg, backbone, side, settings, ids, mask, labels):
    with torch.no_grad():  # the backbone runs without autograd
        _, _, _, enc_blocks, dec_blocks, dec_ids = t5_forward(cfg, backbone, ids, mask, labels)
    w = dict(backbone)
    w.update(side)
    enc_table = side["side_encoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    dec_table = side["side_decoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    enc_bias, dec_bias, cross_bias = masks(cfg, w, mask, dec_ids.shape[1], enc_table, dec_table)
    s_enc = side_stack(cfg, w, "side_encoder.", settings["encoder_layers"], F.embedding(ids, backbone["shared.weight"]),
                       enc_blocks, enc_bias)
    s_dec = side_stack(cfg, w, "side_decoder.", settings["decoder_layers"],
                       F.embedding(dec_ids, backbone["shared.weight"]), dec_blocks, dec_bias, s_enc, cross_bias)
    up = F.linear(s_dec, side["upsample.weight"], side["upsample.bias"])
    logits = head(cfg, backbone, up)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return logits, loss


def side_names(cfg, settings):
    """Every side tensor and its shape, named as ladder saves them."""
    sc = side_config(cfg, REDUCTION)
    d, ds, inner, dff = cfg["d_model"], sc["d_model"], sc["d_kv"] * sc["num_heads"], sc["d_ff"]
    gated = cfg["feed_forward_proj"].startswith("gated")
    shapes = {"upsample.weight": [d, ds], "upsample.bias": [d]}
    for stack, layers, total in (("side_encoder", settings["encoder_layers"], cfg["num_layers"]),
                                 ("side_decoder", settings["decoder_layers"], cfg["num_decoder_layers"])):
        p = stack + "."
        shapes[p + "first_downsample.weight"] = [ds, d]
        shapes[p + "first_downsample.bias"] = [ds]
        shapes[p + "gate"] = [total]
        shapes[p + "side.final_layer_norm.weight"] = [ds]
        for j in range(len(layers)):
            shapes[p + f"ladder.{j}.weight"] = [ds, d]
            shapes[p + f"ladder.{j}.bias"] = [ds]
            b = p + f"side.block.{j}.layer."
            attns = [("0.SelfAttention.", "0.")] + ([("1.EncDecAttention.", "1.")] if stack == "side_decoder" else [])
            for a, norm in attns:
                for m in "qkv":
                    shapes[b + a + m + ".weight"] = [inner, ds]
                shapes[b + a + "o.weight"] = [ds, inner]
                shapes[b + norm + "layer_norm.weight"] = [ds]
            if j == 0:
                shapes[b + "0.SelfAttention.relative_attention_bias.weight"] = [cfg["relative_attention_num_buckets"],
                                                                                 sc["num_heads"]]
            ff = "2." if stack == "side_decoder" else "1."
            shapes[b + ff + "layer_norm.weight"] = [ds]
            for m in (["wi_0", "wi_1"] if gated else ["wi"]):
                shapes[b + ff + "DenseReluDense." + m + ".weight"] = [dff, ds]
            shapes[b + ff + "DenseReluDense.wo.weight"] = [ds, dff]
    return shapes


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


def make_batch(g, vocab):
    src_lens, tgt_lens = [7, 5, 3], [4, 2, 3]
    ids = torch.zeros(3, 7, dtype=torch.long)
    mask = torch.zeros(3, 7, dtype=torch.long)
    labels = torch.full((3, 4), -100, dtype=torch.long)
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

        shapes = side_names(cfg, settings)
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
