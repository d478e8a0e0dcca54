#pragma once
// LlamaForCausalLM: the one decoder-only definition (Llama 2/3, TinyLlama, SmolLM, Qwen2,
// Mistral). Module names equal Hugging Face's checkpoint keys (model.layers.N.self_attn.q_proj,
// ...). It reuses T5's Linear (so LoRA, BitFit and quantised weights apply unchanged), T5's RMS
// norm (the same math: fp32 statistics, no mean, no bias) and the attention kernels.
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "ladder/models/llama/config.h"
#include "ladder/models/t5/layers.h"
#include "ladder/models/t5/stack.h"

namespace ladder {

using LlamaRMSNorm = T5LayerNorm;

struct CausalLMBatch {
  torch::Tensor input_ids;       // [B, L] int64
  torch::Tensor attention_mask;  // [B, past + L] 0/1 (left or right padding); undefined = all tokens
  torch::Tensor labels;          // [B, L] int64, -100 = ignored; position t predicts labels[t + 1]
};

struct CausalLMOutput {
  torch::Tensor logits;  // [B, L, V]
  torch::Tensor loss;    // defined when labels were given
  // Hugging Face's output_hidden_states: the embeddings, each block's output, and the last
  // block's output after the final norm in place of the raw one (num_hidden_layers + 1).
  std::vector<torch::Tensor> hidden_states;
};

// Keys and values of every layer so far, before the grouped heads are repeated.
struct DecoderCache {
  std::vector<AttentionCache> layers;
  int64_t past_length = 0;
};
void reorder_cache(DecoderCache& cache, const torch::Tensor& rows);

// Hugging Face's causal-LM loss: logits[:, :-1] against labels[:, 1:], mean over labels != -100.
torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels);
// Position of each token among the real ones of its row (left padding shifts them), as
// transformers' generate() derives them: cumsum(mask) - 1, 0 at padding.
torch::Tensor positions_from_mask(const torch::Tensor& mask);

// cos and sin [B, L, head_dim] of RoPE at `positions` [B, L] in Hugging Face's rotate_half layout
// (Llama 3 scaling applied when configured). fp32.
std::pair<torch::Tensor, torch::Tensor> rotary_tables(const LlamaConfig& config, const torch::Tensor& positions);
torch::Tensor rope_inverse_frequencies(const LlamaConfig& config);  // [head_dim / 2], fp32, CPU
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& config);
  // x [B, L, d]; cos/sin [B, L, head_dim]; bias additive [B, 1, L, past + L].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias, AttentionCache* cache);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Adapter adapter{nullptr};  // set by the adapter method: applied to the output, before the residual
  int64_t num_heads, num_kv_heads, head_dim;
};
TORCH_MODULE(LlamaAttention);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const LlamaConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  Adapter adapter{nullptr};  // set by the adapter method
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias, AttentionCache* cache);
  LlamaRMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

// The stack: embeddings, layers, final norm (Hugging Face's LlamaModel, "model.").
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& config);

  struct Inputs {
    torch::Tensor inputs_embeds;   // [B, L, d]
    torch::Tensor attention_mask;  // [B, past + L]; undefined = all ones
  };
  // The additive causal + padding bias and the RoPE tables the layers consume; exposed so that
  // a side network reading this stack builds the same ones.
  torch::Tensor attention_bias(const torch::Tensor& mask, int64_t query_length, int64_t past_length,
                               torch::ScalarType dtype) const;
  torch::Tensor full_mask(const Inputs& inputs, int64_t past_length) const;
  StackOutput forward(const Inputs& inputs, bool collect_hidden = false, const BlockHook& hook = nullptr,
                      DecoderCache* cache = nullptr);

  LlamaConfig config;
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers_list;
  std::vector<LlamaDecoderLayer> layers;
  LlamaRMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLMImpl(const LlamaConfig& config);

  CausalLMOutput forward(const CausalLMBatch& batch, bool collect_hidden = false, const BlockHook& hook = nullptr,
                         DecoderCache* cache = nullptr);
  // Token embeddings (a quantised table dequantises only these rows).
  torch::Tensor embed(const torch::Tensor& ids) const;
  // Final hidden states -> vocabulary logits (the tied head reads the embedding table).
  torch::Tensor head(const torch::Tensor& hidden);
  torch::ScalarType compute_dtype() const;
  torch::Device device() const;
  // Prompt tuning: learned vectors [P, d] before every sequence ("prompt_embeddings"); the
  // outputs keep the input's length (hidden states and logits of the prompt are dropped).
  void set_prompt(torch::Tensor prompt_embeddings);

  LlamaConfig config;
  LlamaModel model{nullptr};
  Linear lm_head{nullptr};  // null when tied
  torch::Tensor prompt_embeddings;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace ladder
