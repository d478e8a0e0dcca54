#!/usr/bin/python3
"""A plain-PyTorch reference of Hugging Face's decoder-only Llama family, for the golden tests.

Written from the semantics of transformers' LlamaForCausalLM / Qwen2ForCausalLM /
MistralForCausalLM (modeling_llama.py, modeling_qwen2.py), not from the project's C++. fp32,
eval mode (no dropout). Needs only Debian's python3-torch (1.13); no transformers, no
safetensors package. Run once; its outputs are committed and the C++ tests read them, so no
Python runs at test time:

    /usr/bin/python3 tests/reference/llama_reference.py     # writes tests/data/llama/*

For each fixture (random weights from a per-fixture seed) it writes tests/data/llama/<fixture>/
  config.json            a Hugging Face config.json for that model type
  model.safetensors      the weights under their Hugging Face names (no lm_head.weight when tied)
  golden.safetensors     input_ids, attention_mask, labels   [2, 7] int64, row 1 right-padded by 2
                         hidden_states.{0..L}  output_hidden_states layout (last one after model.norm)
                         logits [2, 7, V], loss [1]          HF causal-LM loss (shifted, mean, -100 ignored)
                         grad.NAME                           d loss / d every parameter, HF names
                         greedy_ids [1, 6]                   6 argmax tokens after input_ids[0:1, :4]
and tests/data/llama/llama-gqa-sharded/ with the llama-gqa weights split into two shards plus
model.safetensors.index.json (no golden there).

Fixtures: llama-gqa (GQA 4/2, untied), llama3-tied-scaled (MQA, tied, llama3 rope_scaling,
eos_token_id a list), qwen2-bias (q/k/v biases, tied), mistral (untied, sliding_window null).
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "llama")

# ---------------------------------------------------------------- safetensors, minimal

DTYPES = {"F32": torch.float32, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    return t.detach().contiguous().cpu().numpy().tobytes()


def write_safetensors(path, tensors):
    """Tensors sorted by name, header padded with spaces to a multiple of 8."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(blob[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).clone()
    return out


def write_json(path, obj):
    # transformers writes config.json with indent 2 and sorted keys.
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------- configs

COMMON = {
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 48,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "rms_norm_eps": 1e-06,
    "torch_dtype": "float32",
    "transformers_version": "4.44.0",
    "use_cache": True,
    "vocab_size": 96,
}

LLAMA = dict(COMMON, architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False,
             pretraining_tp=1, rope_scaling=None)

FIXTURES = {
    "llama-gqa": dict(LLAMA, num_key_value_heads=2, rope_theta=10000.0, tie_word_embeddings=False),
    # Llama 3.2-like: MQA, tied head, llama3 frequency scaling, a list of eos ids, and an
    # explicit head_dim (equal to hidden_size / num_attention_heads, as real 3.2 configs have).
    "llama3-tied-scaled": dict(LLAMA, num_key_value_heads=1, num_hidden_layers=3, rope_theta=500000.0,
                               tie_word_embeddings=True, eos_token_id=[2, 3], head_dim=8,
                               rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                             "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
    "qwen2-bias": dict(COMMON, architectures=["Qwen2ForCausalLM"], model_type="qwen2", num_key_value_heads=2,
                       rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False,
                       sliding_window=4096, max_window_layers=2),
    "mistral": dict(COMMON, architectures=["MistralForCausalLM"], model_type="mistral", num_key_value_heads=2,
                    rope_theta=10000.0, tie_word_embeddings=False, sliding_window=None),
}
# Seeds chosen so that no greedy continuation contains an eos id (a decoder that stops at eos
# and one that does not then agree) and no argmax is a near tie.
SEEDS = {"llama-gqa": 11, "llama3-tied-scaled": 12, "qwen2-bias": 13, "mistral": 16}


def has_qkv_bias(cfg):
    # Qwen2 always has q/k/v biases; Llama has them only with attention_bias; o_proj never.
    return cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


# ---------------------------------------------------------------- weights


def param_shapes(cfg):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    d = head_dim(cfg)
    qd, kvd = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    s = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h]}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        s[p + "input_layernorm.weight"] = [h]
        s[p + "post_attention_layernorm.weight"] = [h]
        s[p + "self_attn.q_proj.weight"] = [qd, h]
        s[p + "self_attn.k_proj.weight"] = [kvd, h]
        s[p + "self_attn.v_proj.weight"] = [kvd, h]
        s[p + "self_attn.o_proj.weight"] = [h, qd]
        if has_qkv_bias(cfg):
            s[p + "self_attn.q_proj.bias"] = [qd]
            s[p + "self_attn.k_proj.bias"] = [kvd]
            s[p + "self_attn.v_proj.bias"] = [kvd]
        s[p + "mlp.gate_proj.weight"] = [i, h]
        s[p + "mlp.up_proj.weight"] = [i, h]
        s[p + "mlp.down_proj.weight"] = [h, i]
    if not cfg["tie_word_embeddings"]:
        s["lm_head.weight"] = [v, h]
    return s


def random_weights(cfg, seed):
    # Larger than HF's init (std 0.02) so that logits, and their differences, are not trivial.
    torch.manual_seed(seed)
    w = {}
    for name, shape in sorted(param_shapes(cfg).items()):
        if "norm" in name:
            w[name] = 1.0 + 0.1 * torch.randn(shape)
        else:  # matrices and biases alike
            w[name] = 0.2 * torch.randn(shape)
    return w


# ---------------------------------------------------------------- the model


def inv_frequencies(cfg):
    d = head_dim(cfg)
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = cfg.get("rope_scaling")
    if rs is not None and rs.get("rope_type", rs.get("type")) == "llama3":
        inv = llama3_inv_frequencies(inv, rs)
    return inv


def llama3_inv_frequencies(inv, rs):
    """transformers' _compute_llama3_parameters: long wavelengths slowed by `factor`, short ones
    kept, the band between interpolated smoothly."""
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    orig = rs["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = orig / low, orig / high
    wavelen = 2 * math.pi / inv
    out = torch.where(wavelen > low_freq_wavelen, inv / factor, inv)
    smooth = (orig / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(medium, smoothed, out)


def rms_norm(x, weight, eps):
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def linear(x, w, name, bias=False):
    y = x @ w[name + ".weight"].T
    if bias:
        y = y + w[name + ".bias"]
    return y


def attention(cfg, w, p, x, cos, sin, allowed):
    B, T, _ = x.shape
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)
    bias = has_qkv_bias(cfg)
    q = linear(x, w, p + "q_proj", bias).view(B, T, H, D).transpose(1, 2)
    k = linear(x, w, p + "k_proj", bias).view(B, T, KV, D).transpose(1, 2)
    v = linear(x, w, p + "v_proj", bias).view(B, T, KV, D).transpose(1, 2)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    # repeat_kv: query head j reads kv head j // (H / KV) (consecutive query heads share one).
    k = k.repeat_interleave(H // KV, dim=1)
    v = v.repeat_interleave(H // KV, dim=1)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    scores = scores.masked_fill(~allowed, torch.finfo(torch.float32).min)
    probs = torch.softmax(scores.float(), dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(B, T, H * D)
    return linear(out, w, p + "o_proj")


def forward(cfg, w, ids, mask, labels=None):
    """Returns logits, loss (or None) and the output_hidden_states list."""
    B, T = ids.shape
    eps = cfg["rms_norm_eps"]
    x = w["model.embed_tokens.weight"][ids]
    # Position ids as transformers' generate derives them from the mask; for right padding they
    # are arange over the real tokens (padded positions repeat the last real position).
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    freqs = pos[..., None].float() * inv_frequencies(cfg)  # [B, T, D/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [B, 1, T, D]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, None] & mask.bool()[:, None, None, :]  # [B, 1, T(query), T(key)]
    hidden = [x]
    L = cfg["num_hidden_layers"]
    for l in range(L):
        p = f"model.layers.{l}."
        h = x + attention(cfg, w, p + "self_attn.", rms_norm(x, w[p + "input_layernorm.weight"], eps), cos, sin, allowed)
        n = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        m = p + "mlp."
        x = h + linear(torch.nn.functional.silu(linear(n, w, m + "gate_proj")) * linear(n, w, m + "up_proj"), w,
                       m + "down_proj")
        if l < L - 1:
            hidden.append(x)
    x = rms_norm(x, w["model.norm.weight"], eps)
    hidden.append(x)  # HF: the last hidden state is taken after the final norm
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    logits = x @ head.T
    loss = None
    if labels is not None:
        V = logits.shape[-1]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V).float(), labels[:, 1:].reshape(-1),
                                                 ignore_index=-100, reduction="mean")
    return logits, loss, hidden


def greedy(cfg, w, prompt, steps):
    ids = prompt.clone()
    new = []
    with torch.no_grad():
        for _ in range(steps):
            logits, _, _ = forward(cfg, w, ids, torch.ones_like(ids))
            top2 = logits[0, -1].topk(2).values
            assert (top2[0] - top2[1]).item() > 1e-3, "near tie: fp32 rounding could flip the argmax"
            nxt = logits[:, -1].argmax(-1)
            new.append(nxt)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
    return torch.stack(new, dim=1)


# ---------------------------------------------------------------- main


def make_batch(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, cfg["vocab_size"], (2, 7), generator=g)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0  # right padding
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def check_rope_scaling_gate():
    # Without rope_scaling the inverse frequencies are the plain ones; with llama3 they differ.
    plain = dict(FIXTURES["llama3-tied-scaled"], rope_scaling=None)
    d = head_dim(plain)
    expected = 1.0 / (plain["rope_theta"] ** (torch.arange(0, d, 2).float() / d))
    assert torch.equal(inv_frequencies(plain), expected)
    assert not torch.allclose(inv_frequencies(FIXTURES["llama3-tied-scaled"]), expected)
    assert torch.equal(inv_frequencies(FIXTURES["llama-gqa"]),
                       1.0 / (10000.0 ** (torch.arange(0, 8, 2).float() / 8)))


def write_sharded(folder, cfg, w):
    """Two shards: embeddings and layer 0 in the first; the rest in the second."""
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), cfg)
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    shards = [{}, {}]
    for name, t in w.items():
        first = name == "model.embed_tokens.weight" or name.startswith("model.layers.0.")
        shards[0 if first else 1][name] = t
    weight_map, total = {}, 0
    for f, shard in zip(files, shards):
        write_safetensors(os.path.join(folder, f), shard)
        for name, t in shard.items():
            weight_map[name] = f
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as fh:
        json.dump(index, fh, indent=2)
        fh.write("\n")
    # The shards hold exactly the same tensors as the single file.
    back = {}
    for f in files:
        back.update(read_safetensors(os.path.join(folder, f)))
    assert sorted(back) == sorted(w) and all(torch.equal(back[k], w[k]) for k in w)


def main():
    check_rope_scaling_gate()
    for fixture, cfg in FIXTURES.items():
        folder = os.path.join(OUT, fixture)
        os.makedirs(folder, exist_ok=True)
        w = random_weights(cfg, SEEDS[fixture])
        ids, mask, labels = make_batch(cfg, 100 + SEEDS[fixture])

        params = {k: v.clone().requires_grad_(True) for k, v in w.items()}
        logits, loss, hidden = forward(cfg, params, ids, mask, labels)
        assert torch.isfinite(loss).item(), fixture
        assert len(hidden) == cfg["num_hidden_layers"] + 1
        names = sorted(params)
        grads = torch.autograd.grad(loss, [params[n] for n in names])

        # The padded row, at its real positions, is the same row run alone without padding.
        with torch.no_grad():
            alone, _, _ = forward(cfg, w, ids[1:2, :5], mask[1:2, :5])
        diff = (alone[0] - logits[1, :5].detach()).abs().max().item()
        assert diff < 1e-5, (fixture, diff)

        out = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits.detach(),
               "loss": loss.detach().reshape(1), "greedy_ids": greedy(cfg, w, ids[0:1, :4], 6)}
        eos = cfg["eos_token_id"] if isinstance(cfg["eos_token_id"], list) else [cfg["eos_token_id"]]
        assert not set(out["greedy_ids"].flatten().tolist()) & set(eos), (fixture, "greedy hits eos")
        for i, h in enumerate(hidden):
            out[f"hidden_states.{i}"] = h.detach()
        for n, g in zip(names, grads):
            out["grad." + n] = g

        write_json(os.path.join(folder, "config.json"), cfg)
        write_safetensors(os.path.join(folder, "model.safetensors"), w)
        write_safetensors(os.path.join(folder, "golden.safetensors"), out)
        if fixture == "llama-gqa":
            write_sharded(os.path.join(OUT, "llama-gqa-sharded"), cfg, w)
        print(f"{fixture}: loss {loss.item():.6f}, padded-vs-alone max diff {diff:.1e}, "
              f"greedy {out['greedy_ids'].tolist()[0]}")


if __name__ == "__main__":
    main()
