#include "ladder/models/generate.h"

namespace ladder {
namespace {

class T5DecodingSession : public DecodingSession {
 public:
  T5DecodingSession(T5ForConditionalGenerationImpl& model, const torch::Tensor& input_ids,
                    const torch::Tensor& attention_mask, bool use_cache)
      : model_(model), use_cache_(use_cache) {
    encoder_mask_ = model.encoder_mask(input_ids, attention_mask);
    encoder_output_ = model.encode(input_ids, attention_mask).last_hidden_state;
  }

  torch::Tensor next_logits(const torch::Tensor& decoder_ids) override {
    using torch::indexing::Slice;
    torch::Tensor new_ids = use_cache_ ? decoder_ids.index({Slice(), Slice(-1, torch::indexing::None)}) : decoder_ids;
    StackOutput dec = model_.decode(new_ids, encoder_output_, encoder_mask_, false, nullptr,
                                    use_cache_ ? &cache_ : nullptr);
    return model_.head(dec.last_hidden_state.index({Slice(), -1}));
  }

 private:
  T5ForConditionalGenerationImpl& model_;
  bool use_cache_;
  torch::Tensor encoder_output_, encoder_mask_;
  StackCache cache_;
};

}  // namespace

std::unique_ptr<DecodingSession> start_decoding(T5ForConditionalGenerationImpl& model,
                                                const torch::Tensor& input_ids,
                                                const torch::Tensor& attention_mask, bool use_cache) {
  return std::make_unique<T5DecodingSession>(model, input_ids, attention_mask, use_cache);
}

torch::Tensor greedy_generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                              const GenerationOptions& options, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  auto long_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  torch::Tensor ids = torch::full({batch_size, 1}, config.decoder_start_token_id, long_options);
  torch::Tensor finished = torch::zeros({batch_size}, long_options.dtype(torch::kBool));
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor logits = session.next_logits(ids).to(torch::kFloat);
    if (options.vocab_limit > 0 && options.vocab_limit < logits.size(-1))
      logits.index_put_({torch::indexing::Slice(), torch::indexing::Slice(options.vocab_limit, torch::indexing::None)},
                        -std::numeric_limits<float>::infinity());
    torch::Tensor next = logits.argmax(-1);
    next = torch::where(finished, torch::full_like(next, config.pad_token_id), next);
    ids = torch::cat({ids, next.unsqueeze(1)}, 1);
    finished = finished | (next == config.eos_token_id);
    if (finished.all().item<bool>()) break;
  }
  return ids;
}

torch::Tensor greedy_generate(T5ForConditionalGenerationImpl& model, const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask, const GenerationOptions& options) {
  torch::NoGradGuard no_grad;
  auto session = start_decoding(model, input_ids, attention_mask, options.use_cache);
  return greedy_generate(*session, input_ids.size(0), model.config, options, input_ids.device());
}

}  // namespace ladder
