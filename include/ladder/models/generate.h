#pragma once
// Greedy and beam-search decoding over any encoder-decoder that can say "logits of the next
// token" and reorder what it has cached.
#include <functional>
#include <memory>
#include <torch/torch.h>

#include "ladder/models/sampling.h"
#include "ladder/models/t5/model.h"

namespace ladder {

struct GenerationOptions {
  int64_t max_new_tokens = 20;
  bool use_cache = true;
  // Ids at or above this are never emitted (T5 pads its vocabulary past the tokenizer's);
  // <= 0 means no limit.
  int64_t vocab_limit = 0;
  // 1: greedy. More: beam search (the authors' VL runs use 5), hypotheses ranked by summed
  // log-probability / generated length ** length_penalty, as transformers' BeamSearchScorer
  // (early_stopping false).
  int64_t num_beams = 1;
  double length_penalty = 1.0;
  // How each next token is chosen (greedy by default); not with beam search.
  SamplingOptions sampling;
  // Streaming: called after each step with the ids just chosen [B] and which rows have ended
  // [B] (by this step's end-of-sequence id, or before it: their id is then padding); returning
  // false ends generation there. Not with beam search, whose beams change until the end.
  std::function<bool(const torch::Tensor& next, const torch::Tensor& ended)> on_step;
};

// One decoding pass: holds the encoder output and, with caching, the keys/values.
class DecodingSession {
 public:
  virtual ~DecodingSession() = default;
  // decoder_ids [N, t] so far (t >= 1) -> logits of position t [N, V]. With a cache only the
  // last column is new; without one everything is recomputed.
  virtual torch::Tensor next_logits(const torch::Tensor& decoder_ids) = 0;
  // Keeps rows `rows` (int64, any length) of every per-row state, in that order: beam search
  // first repeats each example num_beams times, then follows the beams' parents.
  virtual void reorder(const torch::Tensor& rows) = 0;
};

// The plain T5's session (backbone only); inputs: input_ids, attention_mask, visual.
std::unique_ptr<DecodingSession> start_decoding(T5ForConditionalGenerationImpl& model, const Seq2SeqBatch& inputs,
                                                bool use_cache);

// Starts from decoder_start_token_id; rows that emitted eos continue with pad. Returns
// [B, 1 + generated] including the start token, like transformers' generate().
torch::Tensor greedy_generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                              const GenerationOptions& options, const torch::Device& device);
// The best finished hypothesis per example, in greedy_generate's layout (padded after eos).
torch::Tensor beam_generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                            const GenerationOptions& options, const torch::Device& device);
// greedy_generate or beam_generate by options.num_beams.
torch::Tensor generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                       const GenerationOptions& options, const torch::Device& device);
torch::Tensor greedy_generate(T5ForConditionalGenerationImpl& model, const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask, const GenerationOptions& options);

}  // namespace ladder
