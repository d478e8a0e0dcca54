"""T5 and LST forward math in plain PyTorch (1.13, no transformers), shared by the golden-test
reference (tests/reference/lst_reference.py) and the benchmark peer (bench/peers/lst_peer.py),
so that the peer ladder is timed against is the same model the golden tests check ladder with.

Weights are a dict named like Hugging Face checkpoints. The optional arguments (dropout `p`,
`dtype` of the attention biases, `keep` of block outputs) default to what the golden reference
computes: eval mode, fp32, every block output kept.
"""
import math

import torch
import torch.nn.functional as F

GATE_T = 0.1
HALF = (torch.float16, torch.bfloat16)


def drop(x, p):
    # p == 0 skips the call, so the golden reference's graph is untouched.
    return F.dropout(x, p, True) if p > 0 else x


# ---------------------------------------------------------------- T5 (as transformers computes it)


def rms_norm(x, weight, eps):
    variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    y = x * torch.rsqrt(variance + eps)
    if weight.dtype in HALF:  # transformers returns to the weight's dtype for half storage
        y = y.to(weight.dtype)
    return weight * y


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


def attention(x, kv, w, prefix, heads, bias, p=0.0):
    b, q_len, _ = x.shape
    q = F.linear(x, w[prefix + "q.weight"])
    k = F.linear(kv, w[prefix + "k.weight"])
    v = F.linear(kv, w[prefix + "v.weight"])
    inner = q.shape[-1]
    d_kv = inner // heads

    def split(t):
        return t.view(b, -1, heads, d_kv).transpose(1, 2)

    scores = split(q) @ split(k).transpose(2, 3) + bias  # no 1/sqrt(d) in T5
    probs = drop(F.softmax(scores.float(), dim=-1).type_as(scores), p)
    out = (probs @ split(v)).transpose(1, 2).reshape(b, q_len, inner)
    return F.linear(out, w[prefix + "o.weight"])


def feed_forward(x, w, prefix, gated, p=0.0):
    if gated:
        h = F.gelu(F.linear(x, w[prefix + "wi_0.weight"]), approximate="tanh") * F.linear(x, w[prefix + "wi_1.weight"])
    else:
        h = F.relu(F.linear(x, w[prefix + "wi.weight"]))
    return F.linear(drop(h, p), w[prefix + "wo.weight"])


def block(h, w, prefix, cfg, heads, self_bias, enc=None, cross_bias=None, p=0.0):
    """One T5 block (pre-norm, residuals) whose weights are w[prefix + 'layer.N...']."""
    eps = cfg["layer_norm_epsilon"]
    gated = cfg["feed_forward_proj"].startswith("gated")
    x = rms_norm(h, w[prefix + "layer.0.layer_norm.weight"], eps)
    h = h + drop(attention(x, x, w, prefix + "layer.0.SelfAttention.", heads, self_bias, p), p)
    ff = 1
    if enc is not None:
        x = rms_norm(h, w[prefix + "layer.1.layer_norm.weight"], eps)
        h = h + drop(attention(x, enc, w, prefix + "layer.1.EncDecAttention.", heads, cross_bias, p), p)
        ff = 2
    x = rms_norm(h, w[prefix + f"layer.{ff}.layer_norm.weight"], eps)
    return h + drop(feed_forward(x, w, prefix + f"layer.{ff}.DenseReluDense.", gated, p), p)


def masks(cfg, w, mask, dec_len, table_enc, table_dec, dtype=None):
    """Additive biases (position + padding/causal mask); `dtype` casts them for half backbones,
    whose scores would otherwise be promoted to fp32 and meet half values in probs @ v."""
    src_len = mask.shape[1]
    enc_bias = position_bias(table_enc, src_len, src_len, True, cfg) + extended_mask(mask, False)
    dec_mask = torch.ones(mask.shape[0], dec_len, dtype=torch.long)
    dec_bias = position_bias(table_dec, dec_len, dec_len, False, cfg) + extended_mask(dec_mask, True)
    cross_bias = extended_mask(mask, False)
    if dtype is not None:
        enc_bias, dec_bias, cross_bias = enc_bias.to(dtype), dec_bias.to(dtype), cross_bias.to(dtype)
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


def t5_stacks(cfg, w, ids, mask, dec_ids, p=0.0, keep=None):
    """Both stacks of a plain T5; returns the final encoder and decoder states and the outputs of
    the blocks in keep = (encoder layers, decoder layers), None = all, as {layer: output}."""
    heads = cfg["num_heads"]
    enc_bias, dec_bias, cross_bias = masks(cfg, w, mask, dec_ids.shape[1],
                                           w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                                           w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                                           w["shared.weight"].dtype if w["shared.weight"].dtype in HALF else None)
    keep_enc, keep_dec = keep if keep is not None else (None, None)
    h = drop(F.embedding(ids, w["shared.weight"]), p)
    enc_blocks = {}
    for i in range(cfg["num_layers"]):
        h = block(h, w, f"encoder.block.{i}.", cfg, heads, enc_bias, p=p)
        if keep_enc is None or i in keep_enc:
            enc_blocks[i] = h
    enc = drop(rms_norm(h, w["encoder.final_layer_norm.weight"], cfg["layer_norm_epsilon"]), p)
    h = drop(F.embedding(dec_ids, w["shared.weight"]), p)
    dec_blocks = {}
    for i in range(cfg["num_decoder_layers"]):
        h = block(h, w, f"decoder.block.{i}.", cfg, heads, dec_bias, enc, cross_bias, p=p)
        if keep_dec is None or i in keep_dec:
            dec_blocks[i] = h
    dec = rms_norm(h, w["decoder.final_layer_norm.weight"], cfg["layer_norm_epsilon"])
    return enc, dec, enc_blocks, dec_blocks


def t5_forward(cfg, w, ids, mask, labels):
    """Plain T5 in eval mode; returns logits, loss, the encoder output and every block output."""
    dec_ids = shift_right(labels, cfg["decoder_start_token_id"], cfg["pad_token_id"])
    enc, dec, enc_blocks, dec_blocks = t5_stacks(cfg, w, ids, mask, dec_ids)
    logits = head(cfg, w, dec)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return logits, loss, enc, enc_blocks, dec_blocks, dec_ids


# ---------------------------------------------------------------- LST (modeling_side_t5.py)


def side_config(cfg, r):
    return {"d_model": cfg["d_model"] // r, "d_kv": cfg["d_kv"] // r, "d_ff": cfg["d_ff"] // r,
            "num_heads": cfg["num_heads"]}


def side_stack(cfg, w, prefix, kept, embeddings, ladder_inputs, self_bias, side_enc=None, cross_bias=None, p=0.0):
    """One stack's side network: s = first_downsample(E); before side block i:
    s = mu*s + (1-mu)*ladder_i(h_i) with mu = sigmoid(alpha_i / T), h_i = output of backbone block i.
    Half ladder inputs and embeddings meet the fp32 side network in its dtype."""
    dtype = w[prefix + "first_downsample.weight"].dtype
    s = F.linear(drop(embeddings.to(dtype), p), w[prefix + "first_downsample.weight"], w[prefix + "first_downsample.bias"])
    for j, layer in enumerate(kept):
        mu = torch.sigmoid(w[prefix + "gate"][layer] / GATE_T)
        rung = F.linear(ladder_inputs[layer].to(dtype), w[prefix + f"ladder.{j}.weight"], w[prefix + f"ladder.{j}.bias"])
        s = mu * s + (1 - mu) * rung
        s = block(s, w, prefix + f"side.block.{j}.", cfg, cfg["num_heads"], self_bias, side_enc, cross_bias, p)
    return drop(rms_norm(s, w[prefix + "side.final_layer_norm.weight"], 1e-6), p)


def lst_forward(cfg, backbone, side, settings, ids, mask, labels, backbone_p=0.0, side_p=0.0):
    """LST loss of one batch; the backbone runs without autograd and keeps only the kept blocks'
    outputs (the authors' code computes no backbone logits either)."""
    dec_ids = shift_right(labels, cfg["decoder_start_token_id"], cfg["pad_token_id"])
    with torch.no_grad():
        _, _, enc_blocks, dec_blocks = t5_stacks(cfg, backbone, ids, mask, dec_ids, backbone_p,
                                                 (settings["encoder_layers"], settings["decoder_layers"]))
    w = dict(backbone)
    w.update(side)
    enc_table = side["side_encoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    dec_table = side["side_decoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    enc_bias, dec_bias, cross_bias = masks(cfg, w, mask, dec_ids.shape[1], enc_table, dec_table)
    s_enc = side_stack(cfg, w, "side_encoder.", settings["encoder_layers"], F.embedding(ids, backbone["shared.weight"]),
                       enc_blocks, enc_bias, p=side_p)
    s_dec = side_stack(cfg, w, "side_decoder.", settings["decoder_layers"],
                       F.embedding(dec_ids, backbone["shared.weight"]), dec_blocks, dec_bias, s_enc, cross_bias, side_p)
    up = F.linear(s_dec, side["upsample.weight"], side["upsample.bias"])
    logits = head(cfg, backbone, up.to(backbone["shared.weight"].dtype))
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return logits, loss


def side_names(cfg, settings, reduction):
    """Every side tensor and its shape, named as ladder saves them."""
    sc = side_config(cfg, reduction)
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
