#!/usr/bin/python3
"""A plain-PyTorch reference of Ladder Side-Tuning (LST) on a decoder-only Llama backbone.

Written from the LST method (a frozen backbone, a thin side network of reduced width fed by
gated ladders from chosen backbone layers), not from the project's C++. fp32, eval mode. Needs
only Debian's python3-torch (1.13); no transformers, no safetensors package. The Llama math and
the safetensors helpers come from llama_reference.py. Run once; its outputs are committed:

    /usr/bin/python3 tests/reference/decoder_lst_reference.py   # writes tests/data/lst_golden/decoder-only/*

Backbone: tests/data/llama/llama-gqa (2 layers, d 32, GQA 4/2, untied head), batch from its
golden.safetensors. Side (reduction r = 2): d' 16, intermediate 24, 4 heads / 2 KV heads of
head_dim 4, same eps and rope_theta, RoPE over head_dim 4, same positions and mask.

    e  = embed_tokens[ids];  h_k = output of backbone layer k (before model.norm), no grad
    s  = first_downsample(e)
    for j, k in enumerate(K):
        mu = sigmoid(gate[k] / T);  s = mu * s + (1 - mu) * ladder_j(h_k);  s = side_layer_j(s)
    logits = lm_head(upsample(side_norm(s)))      lm_head: the frozen backbone head
    loss   = HF causal-LM loss (shifted, mean over labels != -100)

For each setting K it writes llama-gqa-k<K digits>.safetensors with
  input_ids, attention_mask, labels    [2, 7] int64 (copied from the backbone golden)
  side.NAME                             the side weights (float32), NAME as the C++ trainable names
  logits [2, 7, 96], loss [1]
  grad.side.NAME                        d loss / d every side parameter
  greedy_ids [1, 5]                     5 argmax tokens after input_ids[0:1, :4] (full recompute)
and the same stem .json with the LST settings.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import attention, inv_frequencies, linear, read_safetensors, rms_norm, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "data", "llama", "llama-gqa")
OUT = os.path.join(HERE, "..", "data", "lst_golden", "decoder-only")

REDUCTION = 2
GATE_T = 0.1
SETTINGS = [[1], [0, 1]]
SEED = 1234
GATE_VALUES = [0.05, -0.08]  # mu = sigmoid(0.5) ~ 0.62, sigmoid(-0.8) ~ 0.31


def side_config(cfg):
    r = REDUCTION
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    return dict(cfg, hidden_size=cfg["hidden_size"] // r, intermediate_size=cfg["intermediate_size"] // r,
                head_dim=hd // r)


def side_shapes(cfg, scfg, K):
    d, ds, i = cfg["hidden_size"], scfg["hidden_size"], scfg["intermediate_size"]
    hd = scfg["head_dim"]
    qd, kvd = scfg["num_attention_heads"] * hd, scfg["num_key_value_heads"] * hd
    s = {"side.first_downsample.weight": [ds, d], "side.first_downsample.bias": [ds],
         "side.gate": [cfg["num_hidden_layers"]], "side.norm.weight": [ds],
         "upsample.weight": [d, ds], "upsample.bias": [d]}
    for j in range(len(K)):
        s[f"side.ladder.{j}.weight"] = [ds, d]
        s[f"side.ladder.{j}.bias"] = [ds]
        p = f"side.layers.{j}."
        s[p + "input_layernorm.weight"] = [ds]
        s[p + "post_attention_layernorm.weight"] = [ds]
        s[p + "self_attn.q_proj.weight"] = [qd, ds]
        s[p + "self_attn.k_proj.weight"] = [kvd, ds]
        s[p + "self_attn.v_proj.weight"] = [kvd, ds]
        s[p + "self_attn.o_proj.weight"] = [ds, qd]
        s[p + "mlp.gate_proj.weight"] = [i, ds]
        s[p + "mlp.up_proj.weight"] = [i, ds]
        s[p + "mlp.down_proj.weight"] = [ds, i]
    return s


def side_weights(cfg, scfg, K, seed):
    torch.manual_seed(seed)
    w = {}
    for name, shape in sorted(side_shapes(cfg, scfg, K).items()):
        if name == "side.gate":
            w[name] = torch.tensor(GATE_VALUES, dtype=torch.float32)
        elif "norm" in name:
            w[name] = 1.0 + 0.1 * torch.randn(shape)
        elif name.endswith(".bias"):
            w[name] = 0.1 * torch.randn(shape)
        else:
            w[name] = 0.2 * torch.randn(shape)
    return w


def rope(cfg, pos):
    freqs = pos[..., None].float() * inv_frequencies(cfg)  # [B, T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]  # [B, 1, T, hd]


def decoder_layer(cfg, w, p, x, cos, sin, allowed):
    eps = cfg["rms_norm_eps"]
    h = x + attention(cfg, w, p + "self_attn.", rms_norm(x, w[p + "input_layernorm.weight"], eps), cos, sin, allowed)
    n = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
    m = p + "mlp."
    return h + linear(torch.nn.functional.silu(linear(n, w, m + "gate_proj")) * linear(n, w, m + "up_proj"), w,
                      m + "down_proj")


def lst_forward(cfg, scfg, bw, sw, K, ids, mask, labels=None):
    B, T = ids.shape
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, None] & mask.bool()[:, None, None, :]
    # Frozen backbone.
    with torch.no_grad():
        e = bw["model.embed_tokens.weight"][ids]
        cos, sin = rope(cfg, pos)
        x, hs = e, []
        for l in range(cfg["num_hidden_layers"]):
            x = decoder_layer(cfg, bw, f"model.layers.{l}.", x, cos, sin, allowed)
            hs.append(x)
    # Side network.
    scos, ssin = rope(scfg, pos)
    s = linear(e, sw, "side.first_downsample", bias=True)
    for j, k in enumerate(K):
        mu = torch.sigmoid(sw["side.gate"][k] / GATE_T)
        s = mu * s + (1 - mu) * linear(hs[k], sw, f"side.ladder.{j}", bias=True)
        s = decoder_layer(scfg, sw, f"side.layers.{j}.", s, scos, ssin, allowed)
    s = rms_norm(s, sw["side.norm.weight"], scfg["rms_norm_eps"])
    head = bw["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else bw["lm_head.weight"]
    logits = linear(s, sw, "upsample", bias=True) @ head.T
    loss = None
    if labels is not None:
        V = logits.shape[-1]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                                                 ignore_index=-100, reduction="mean")
    return logits, loss


def greedy(cfg, scfg, bw, sw, K, prompt, steps):
    ids, new = prompt.clone(), []
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = lst_forward(cfg, scfg, bw, sw, K, ids, torch.ones_like(ids))
            top2 = logits[0, -1].topk(2).values
            assert (top2[0] - top2[1]).item() > 1e-3, "near tie: fp32 rounding could flip the argmax"
            nxt = logits[:, -1].argmax(-1)
            new.append(nxt)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
    return torch.stack(new, dim=1)


def grads_of(cfg, scfg, bw, sw, K, ids, mask, labels):
    params = {k: v.clone().requires_grad_(True) for k, v in sw.items()}
    logits, loss = lst_forward(cfg, scfg, bw, params, K, ids, mask, labels)
    names = sorted(params)
    grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
    grads = [torch.zeros_like(params[n]) if g is None else g for n, g in zip(names, grads)]
    return logits.detach(), loss.detach(), dict(zip(names, grads))


def main():
    cfg = json.load(open(os.path.join(FIXTURE, "config.json")))
    scfg = side_config(cfg)
    assert (scfg["hidden_size"], scfg["intermediate_size"], scfg["head_dim"]) == (16, 24, 4)
    assert torch.equal(inv_frequencies(scfg), 1.0 / (10000.0 ** (torch.arange(0, 4, 2).float() / 4)))
    bw = read_safetensors(os.path.join(FIXTURE, "model.safetensors"))
    g = read_safetensors(os.path.join(FIXTURE, "golden.safetensors"))
    ids, mask, labels = g["input_ids"], g["attention_mask"], g["labels"]
    os.makedirs(OUT, exist_ok=True)

    for K in SETTINGS:
        stem = "llama-gqa-k" + "".join(str(k) for k in K)
        sw = side_weights(cfg, scfg, K, SEED)
        logits, loss, grads = grads_of(cfg, scfg, bw, sw, K, ids, mask, labels)
        assert torch.isfinite(loss).item() and torch.isfinite(logits).all().item(), stem
        for n in grads:
            if n.startswith("side.ladder.") or n.startswith("side.layers.") or n == "side.first_downsample.weight":
                assert grads[n].abs().max().item() > 0, (stem, n, "no gradient")
        unused = [k for k in range(cfg["num_hidden_layers"]) if k not in K]
        assert all(grads["side.gate"][k].item() == 0 for k in unused)
        assert all(grads["side.gate"][k].item() != 0 for k in K)

        # Gates saturated (mu = 1): the ladders are cut off and get exactly zero gradient.
        sat = dict(sw, **{"side.gate": torch.full_like(sw["side.gate"], 100.0)})
        _, sat_loss, sat_grads = grads_of(cfg, scfg, bw, sat, K, ids, mask, labels)
        assert torch.isfinite(sat_loss).item()
        for j in range(len(K)):
            for part in ("weight", "bias"):
                assert torch.count_nonzero(sat_grads[f"side.ladder.{j}.{part}"]).item() == 0, (stem, j, part)

        # The padded row, at its real positions, equals the row run alone.
        n_real = int(mask[1].sum())
        with torch.no_grad():
            alone, _ = lst_forward(cfg, scfg, bw, sw, K, ids[1:2, :n_real], mask[1:2, :n_real])
        diff = (alone[0] - logits[1, :n_real]).abs().max().item()
        assert diff < 1e-5, (stem, diff)

        out = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits,
               "loss": loss.reshape(1), "greedy_ids": greedy(cfg, scfg, bw, sw, K, ids[0:1, :4], 5)}
        for n, t in sw.items():
            out[n] = t
            out["grad." + n] = grads[n]
        assert all(t.dtype in (torch.float32, torch.int64) for t in out.values())
        write_safetensors(os.path.join(OUT, stem + ".safetensors"), out)
        back = read_safetensors(os.path.join(OUT, stem + ".safetensors"))
        assert sorted(back) == sorted(out) and all(torch.equal(back[k], out[k]) for k in out)
        meta = {"reduction": REDUCTION, "decoder_layers": K, "gate_temperature": GATE_T, "ladder_rank": 0}
        with open(os.path.join(OUT, stem + ".json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        print(f"{stem}: loss {loss.item():.6f}, padded-vs-alone max diff {diff:.1e}, "
              f"greedy {out['greedy_ids'].tolist()[0]}")


if __name__ == "__main__":
    main()
