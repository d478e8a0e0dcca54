#pragma once
// Greedy decoding over any encoder-decoder that can say "logits of the next token".
#include <memory>
#include <torch/torch.h>

#include "ladder/models/t5/model.h"

namespace ladder {

struct GenerationOptions {
  int64_t max_new_tokens = 20;
  bool use_cache = true;
  // Ids at or above this are never emitted (T5 pads its vocabulary past the tokenizer's);
  // <= 0 means no limit.
  int64_t vocab_limit = 0;
};

// One decoding pass: holds the encoder output and, with caching, the keys/values.
class DecodingSession {
 public:
  virtual ~DecodingSession() = default;
  // decoder_ids [B, t] so far (t >= 1) -> logits of position t [B, V]. With a cache only the
  // last column is new; without one everything is recomputed.
  virtual torch::Tensor next_logits(const torch::Tensor& decoder_ids) = 0;
};

// The plain T5's session (backbone only).
std::unique_ptr<DecodingSession> start_decoding(T5ForConditionalGenerationImpl& model,
                                                const torch::Tensor& input_ids,
                                                const torch::Tensor& attention_mask, bool use_cache);

// Starts from decoder_start_token_id; rows that emitted eos continue with pad. Returns
// [B, 1 + generated] including the start token, like transformers' generate().
torch::Tensor greedy_generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                              const GenerationOptions& options, const torch::Device& device);
torch::Tensor greedy_generate(T5ForConditionalGenerationImpl& model, const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask, const GenerationOptions& options);

}  // namespace ladder
