#pragma once
// Greedy continuation of prompts by a decoder-only model, with or without its KV cache.
#include <memory>

#include <torch/torch.h>

#include "ladder/models/generate.h"
#include "ladder/models/llama/model.h"

namespace ladder {

// One generation pass over a batch of prompts. A method with its own state (LST's side
// network) implements it to keep its own cache next to the backbone's.
class CausalDecodingSession {
 public:
  virtual ~CausalDecodingSession() = default;
  // tokens [B, t] so far (prompts left-padded) and their 0/1 mask -> logits of the next token
  // [B, V]. With a cache only the columns after the previous call are computed.
  virtual torch::Tensor next_logits(const torch::Tensor& tokens, const torch::Tensor& mask) = 0;
};

std::unique_ptr<CausalDecodingSession> start_causal_decoding(LlamaForCausalLMImpl& model, bool use_cache);

// prompt [B, L] left-padded with prompt_mask (undefined = no padding). Returns the generated
// ids [B, n], n <= max_new_tokens: a row that emitted an eos id continues with
// config.fill_token_id(); generation stops once every row has ended.
torch::Tensor greedy_generate(CausalDecodingSession& session, const torch::Tensor& prompt, const torch::Tensor& prompt_mask,
                              const LlamaConfig& config, const GenerationOptions& options);

// Prompts of different lengths as one left-padded batch: {ids, mask}.
std::pair<torch::Tensor, torch::Tensor> left_padded_batch(const std::vector<std::vector<int64_t>>& prompts,
                                                          int64_t pad_id);

}  // namespace ladder
