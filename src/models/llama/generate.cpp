#include "ladder/models/llama/generate.h"

#include <algorithm>

#include "ladder/error.h"

namespace ladder {
namespace {

class BackboneSession : public CausalDecodingSession {
 public:
  BackboneSession(LlamaForCausalLMImpl& model, bool use_cache) : model_(model), use_cache_(use_cache) {}

  torch::Tensor next_logits(const torch::Tensor& tokens, const torch::Tensor& mask) override {
    CausalLMBatch batch;
    batch.attention_mask = mask;
    if (!use_cache_) {
      batch.input_ids = tokens;
      return model_.forward(batch).logits.select(1, -1);
    }
    // The tokens already read (the cache may hold more positions: a tuned prompt's).
    batch.input_ids = tokens.narrow(1, seen_, tokens.size(1) - seen_);
    seen_ = tokens.size(1);
    return model_.forward(batch, false, nullptr, &cache_).logits.select(1, -1);
  }

 private:
  LlamaForCausalLMImpl& model_;
  bool use_cache_;
  int64_t seen_ = 0;
  DecoderCache cache_;
};

}  // namespace

std::unique_ptr<CausalDecodingSession> start_causal_decoding(LlamaForCausalLMImpl& model, bool use_cache) {
  return std::make_unique<BackboneSession>(model, use_cache);
}

torch::Tensor greedy_generate(CausalDecodingSession& session, const torch::Tensor& prompt, const torch::Tensor& prompt_mask,
                              const LlamaConfig& config, const GenerationOptions& options) {
  if (prompt.dim() != 2 || prompt.size(1) == 0) throw UsageError("generation needs at least one prompt token per row");
  torch::Tensor tokens = prompt;
  torch::Tensor mask = prompt_mask.defined() ? prompt_mask.to(torch::kLong) : torch::ones_like(prompt);
  const int64_t batch = prompt.size(0);
  auto options_long = torch::TensorOptions().dtype(torch::kLong).device(prompt.device());
  torch::Tensor finished = torch::zeros({batch}, options_long.dtype(torch::kBool));
  std::vector<torch::Tensor> generated;
  torch::Generator generator = sampling_generator(options.sampling);
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor logits = session.next_logits(tokens, mask).to(torch::kFloat);
    if (options.vocab_limit > 0 && options.vocab_limit < logits.size(-1))
      logits.narrow(-1, options.vocab_limit, logits.size(-1) - options.vocab_limit).fill_(-INFINITY);
    // The penalty sees the prompt and what was generated (left padding included, as HF's).
    torch::Tensor next = pick_next_tokens(logits, tokens, options.sampling, generator);
    next = torch::where(finished, torch::full_like(next, config.fill_token_id()), next);
    generated.push_back(next.unsqueeze(1));
    for (int64_t id : config.eos_token_ids) finished |= next == id;
    tokens = torch::cat({tokens, next.unsqueeze(1)}, 1);
    mask = torch::cat({mask, torch::ones({batch, 1}, options_long)}, 1);
    if (options.on_step && !options.on_step(next, finished)) break;
    if (finished.all().item<bool>()) break;
  }
  if (generated.empty()) return torch::zeros({batch, 0}, options_long);
  return torch::cat(generated, 1);
}

std::pair<torch::Tensor, torch::Tensor> left_padded_batch(const std::vector<std::vector<int64_t>>& prompts,
                                                          int64_t pad_id) {
  int64_t longest = 1;
  for (const auto& p : prompts) longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
  const int64_t batch = static_cast<int64_t>(prompts.size());
  torch::Tensor ids = torch::full({batch, longest}, pad_id, torch::kLong);
  torch::Tensor mask = torch::zeros({batch, longest}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = static_cast<int64_t>(prompts[b].size());
    if (n == 0) continue;
    ids[b].narrow(0, longest - n, n).copy_(torch::tensor(prompts[b], torch::kLong));
    mask[b].narrow(0, longest - n, n).fill_(1);
  }
  return {ids, mask};
}

}  // namespace ladder
