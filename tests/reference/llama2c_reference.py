#!/usr/bin/python3
"""A reference of llama2.c's run.c forward pass on the real stories260K checkpoint, for the golden tests.

Written from the semantics of karpathy/llama2.c run.c (forward, sample_argmax, generate) and
export.py's Hugging Face conversion, not from the project's C++. Needs only numpy and Debian's
python3-torch (1.13); no transformers, no safetensors package. Run once; its outputs are
committed and the C++ tests read them:

    /usr/bin/python3 tests/reference/llama2c_reference.py   # writes tests/data/llama2c/*

It copies /work/shared/models/stories260K/{stories260K.bin, LICENSE-llama2.c} into
tests/data/llama2c/ and writes
  golden.safetensors     ids.{k} int64 [len]            three fixed token sequences (8, 5, 12 ids)
                         logits.{k} float32 [len, 512]  run.c's logits at every position (token by
                                                        token with a KV cache, computed in float64)
                         greedy.ids int64 [256]         run.c's temperature-0 generation from BOS (1)
  greedy.txt             those ids decoded with tok512.bin as run.c's decode does (prev starting
                         at BOS; llama2c_tokenizer_reference.decode_all), the exact bytes
  hf-expected/           the checkpoint converted to Hugging Face's LlamaForCausalLM layout
                         (config.json, model.safetensors; wq/wk rows permuted so that llama2.c's
                         adjacent-pair RoPE becomes rotate_half; tied, so no lm_head.weight)
The converted model is run with Hugging Face's rotate_half math over whole sequences and must
give the run.c logits (to 1e-4) before anything is written.
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "llama2c")
SRC = "/work/shared/models/stories260K"

# Fixed sequences: the first starts with BOS (1) as llama2.c's encode() puts it; the others
# start elsewhere so that position 0 is not always the BOS embedding.
SEQUENCES = [
    [1, 400, 300, 20, 77, 5, 250, 1],
    [1, 17, 403, 88, 511],
    [33, 260, 9, 141, 0, 372, 56, 490, 12, 305, 2, 64],
]
GREEDY_STEPS = 256

# ---------------------------------------------------------------- safetensors: llama_reference's writer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import write_safetensors as write_torch_safetensors  # noqa: E402
from llama2c_tokenizer_reference import Tokenizer  # noqa: E402


def write_safetensors(path, arrays):
    write_torch_safetensors(path, {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()})


# ---------------------------------------------------------------- the legacy .bin checkpoint


def read_checkpoint(path):
    blob = open(path, "rb").read()
    dim, hidden, L, H, KV, vocab, seq_len = struct.unpack("<7i", blob[:28])
    shared = vocab > 0  # a negative vocab_size means a separate classifier follows
    vocab = abs(vocab)
    hs = dim // H
    kv_dim = dim * KV // H
    shapes = [("token_embedding", [vocab, dim]), ("rms_att", [L, dim]), ("wq", [L, dim, dim]),
              ("wk", [L, kv_dim, dim]), ("wv", [L, kv_dim, dim]), ("wo", [L, dim, dim]), ("rms_ffn", [L, dim]),
              ("w1", [L, hidden, dim]), ("w2", [L, dim, hidden]), ("w3", [L, hidden, dim]), ("rms_final", [dim]),
              ("freq_cis_real", [seq_len * hs // 2]), ("freq_cis_imag", [seq_len * hs // 2])]
    if not shared:
        shapes.append(("wcls", [vocab, dim]))
    n_floats = sum(int(np.prod(s)) for _, s in shapes)
    assert len(blob) == 28 + 4 * n_floats, f"size {len(blob)} != {28 + 4 * n_floats}"
    floats = np.frombuffer(blob, dtype="<f4", offset=28)
    w, at = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        w[name] = floats[at:at + n].reshape(shape).astype(np.float64)
        at += n
    if shared:
        w["wcls"] = w["token_embedding"]
    cfg = {"dim": dim, "hidden_dim": hidden, "n_layers": L, "n_heads": H, "n_kv_heads": KV, "vocab_size": vocab,
           "seq_len": seq_len, "shared_classifier": shared}
    return cfg, w


# ---------------------------------------------------------------- run.c, token by token (float64)


def rmsnorm(x, weight):
    return weight * (x / np.sqrt(np.mean(x * x) + 1e-5))  # run.c: eps 1e-5 inside the sqrt


class RunC:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        L, T = cfg["n_layers"], cfg["seq_len"]
        self.hs = cfg["dim"] // cfg["n_heads"]
        self.kv_dim = cfg["dim"] * cfg["n_kv_heads"] // cfg["n_heads"]
        self.key_cache = np.zeros((L, T, self.kv_dim))
        self.value_cache = np.zeros((L, T, self.kv_dim))

    def rope(self, vec, pos):
        # Adjacent pairs (i, i+1) rotated by pos * freq, freq from i's offset inside its head.
        out = vec.copy()
        for i in range(0, len(vec), 2):
            freq = 1.0 / 10000.0 ** ((i % self.hs) / self.hs)
            c, s = math.cos(pos * freq), math.sin(pos * freq)
            out[i] = vec[i] * c - vec[i + 1] * s
            out[i + 1] = vec[i] * s + vec[i + 1] * c
        return out

    def forward(self, token, pos):
        c, w, hs = self.c, self.w, self.hs
        kv_mul = c["n_heads"] // c["n_kv_heads"]
        x = w["token_embedding"][token].copy()
        for l in range(c["n_layers"]):
            xb = rmsnorm(x, w["rms_att"][l])
            q = self.rope(w["wq"][l] @ xb, pos)
            self.key_cache[l, pos] = self.rope(w["wk"][l] @ xb, pos)
            self.value_cache[l, pos] = w["wv"][l] @ xb
            att_out = np.zeros(c["dim"])
            for h in range(c["n_heads"]):
                kh = (h // kv_mul) * hs  # query head h reads kv head h / kv_mul
                qh = q[h * hs:(h + 1) * hs]
                scores = self.key_cache[l, :pos + 1, kh:kh + hs] @ qh / math.sqrt(hs)
                p = np.exp(scores - scores.max())
                p /= p.sum()
                att_out[h * hs:(h + 1) * hs] = p @ self.value_cache[l, :pos + 1, kh:kh + hs]
            x = x + w["wo"][l] @ att_out
            xb = rmsnorm(x, w["rms_ffn"][l])
            a = w["w1"][l] @ xb
            x = x + w["w2"][l] @ (a / (1.0 + np.exp(-a)) * (w["w3"][l] @ xb))
        return w["wcls"] @ rmsnorm(x, w["rms_final"])


def runc_logits(cfg, w, ids):
    m = RunC(cfg, w)
    return np.stack([m.forward(t, pos) for pos, t in enumerate(ids)])


def runc_greedy(cfg, w, steps):
    """generate() with an empty prompt: BOS, then argmax (first maximum, as sample_argmax) each step.
    run.c stops at a sampled BOS (1), not printing it; so does this (the list ends before it)."""
    m = RunC(cfg, w)
    token, out, margins = 1, [], []
    for pos in range(steps):
        logits = m.forward(token, pos)
        top2 = np.sort(logits)[-2:]
        margins.append(top2[1] - top2[0])
        token = int(np.argmax(logits))
        if token == 1:
            print(f"greedy: BOS sampled at step {pos}; run.c stops there")
            break
        out.append(token)
    return out, min(margins)


# ---------------------------------------------------------------- Hugging Face layout


def to_hf(cfg, w):
    """export.py's conversion. For each head, rows (2i, 2i+1) become rows (i, i + head_size/2):
    with that order, rotate_half rotates exactly the pairs run.c rotates."""
    dim, H, KV, L = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"], cfg["n_layers"]
    hs = dim // H

    def permute(m, heads):
        rows = heads * hs
        return torch.from_numpy(m).reshape(heads, hs // 2, 2, dim).transpose(1, 2).reshape(rows, dim)

    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    hf = {"model.embed_tokens.weight": f32(w["token_embedding"]), "model.norm.weight": f32(w["rms_final"])}
    for l in range(L):
        p = f"model.layers.{l}."
        hf[p + "input_layernorm.weight"] = f32(w["rms_att"][l])
        hf[p + "self_attn.q_proj.weight"] = permute(w["wq"][l], H).float().contiguous()
        hf[p + "self_attn.k_proj.weight"] = permute(w["wk"][l], KV).float().contiguous()
        hf[p + "self_attn.v_proj.weight"] = f32(w["wv"][l])
        hf[p + "self_attn.o_proj.weight"] = f32(w["wo"][l])
        hf[p + "post_attention_layernorm.weight"] = f32(w["rms_ffn"][l])
        hf[p + "mlp.gate_proj.weight"] = f32(w["w1"][l])
        hf[p + "mlp.down_proj.weight"] = f32(w["w2"][l])
        hf[p + "mlp.up_proj.weight"] = f32(w["w3"][l])
    if not cfg["shared_classifier"]:
        hf["lm_head.weight"] = f32(w["wcls"])
    # eos_token_id 1: llama2.c's data separates texts by BOS alone, so its models end a text by
    # predicting BOS, where run.c's generation stops; EOS (2) never occurs in their training data.
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 1, "hidden_act": "silu",
        "hidden_size": dim, "initializer_range": 0.02, "intermediate_size": cfg["hidden_dim"],
        "max_position_embeddings": cfg["seq_len"], "mlp_bias": False, "num_attention_heads": H,
        "num_hidden_layers": L, "num_key_value_heads": KV, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
        "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": cfg["shared_classifier"],
        "torch_dtype": "float32", "transformers_version": "4.44.0", "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }
    return config, hf


def hf_hidden_states(config, hf, ids):
    """Hugging Face Llama math (rotate_half RoPE, causal attention over the whole sequence), fp32:
    the embeddings and each block's output, [T, d] each, then the last one after the final norm."""
    eps, H, KV = config["rms_norm_eps"], config["num_attention_heads"], config["num_key_value_heads"]
    D = config["hidden_size"] // H
    T = len(ids)

    def norm(x, wt):
        return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rot(x):
        return torch.cat((-x[..., D // 2:], x[..., :D // 2]), dim=-1)

    inv = 1.0 / (config["rope_theta"] ** (torch.arange(0, D, 2).float() / D))
    freqs = torch.arange(T).float()[:, None] * inv
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    x = hf["model.embed_tokens.weight"][torch.tensor(ids)]
    states = [x]
    for l in range(config["num_hidden_layers"]):
        p = f"model.layers.{l}."
        n = norm(x, hf[p + "input_layernorm.weight"])
        q = (n @ hf[p + "self_attn.q_proj.weight"].T).view(T, H, D).transpose(0, 1)
        k = (n @ hf[p + "self_attn.k_proj.weight"].T).view(T, KV, D).transpose(0, 1)
        v = (n @ hf[p + "self_attn.v_proj.weight"].T).view(T, KV, D).transpose(0, 1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        s = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(~allowed, float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, H * D)
        h = x + a @ hf[p + "self_attn.o_proj.weight"].T
        n = norm(h, hf[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(n @ hf[p + "mlp.gate_proj.weight"].T) * (n @ hf[p + "mlp.up_proj.weight"].T)
        x = h + g @ hf[p + "mlp.down_proj.weight"].T
        states.append(x)
    return states + [norm(x, hf["model.norm.weight"])]


def hf_logits(config, hf, ids):
    head = hf.get("lm_head.weight", hf["model.embed_tokens.weight"])
    return (hf_hidden_states(config, hf, ids)[-1] @ head.T).numpy()


# ---------------------------------------------------------------- main


def main():
    os.makedirs(os.path.join(OUT, "hf-expected"), exist_ok=True)
    for name in ("stories260K.bin", "LICENSE-llama2.c"):
        shutil.copyfile(os.path.join(SRC, name), os.path.join(OUT, name))
    cfg, w = read_checkpoint(os.path.join(OUT, "stories260K.bin"))
    print("config:", cfg)
    config, hf = to_hf(cfg, w)

    golden = {}
    worst = 0.0
    for k, ids in enumerate(SEQUENCES):
        ref = runc_logits(cfg, w, ids)
        worst = max(worst, float(np.abs(hf_logits(config, hf, ids) - ref).max()))
        golden[f"ids.{k}"] = np.array(ids, dtype=np.int64)
        golden[f"logits.{k}"] = ref.astype(np.float32)
    assert worst < 1e-4, f"HF-layout logits differ from run.c's by {worst}"

    greedy, margin = runc_greedy(cfg, w, GREEDY_STEPS)
    assert 1 not in greedy, "run.c would stop at a sampled BOS"
    assert margin > 1e-3, f"near tie in greedy argmax ({margin})"
    # The HF-layout model, run over the whole generated sequence at once, picks the same tokens.
    whole = hf_logits(config, hf, [1] + greedy[:-1])
    assert [int(i) for i in whole.argmax(-1)] == greedy
    golden["greedy.ids"] = np.array(greedy, dtype=np.int64)
    greedy_text = Tokenizer(os.path.join(SRC, "tok512.bin"), 512).decode_all(greedy, prev=1)

    write_safetensors(os.path.join(OUT, "golden.safetensors"), golden)
    write_safetensors(os.path.join(OUT, "hf-expected", "model.safetensors"), {k: v.numpy() for k, v in hf.items()})
    with open(os.path.join(OUT, "hf-expected", "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(OUT, "greedy.txt"), "wb") as f:
        f.write(greedy_text)
    print(f"HF layout vs run.c max logit diff {worst:.2e}; smallest greedy top-2 margin {margin:.3f}")
    print(f"greedy ids ({len(greedy)}):", " ".join(map(str, greedy)))
    print("greedy text:", greedy_text.decode("utf-8", "backslashreplace"))


if __name__ == "__main__":
    main()
