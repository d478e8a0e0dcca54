#include "ladder/models/generate.h"

#include <algorithm>
#include <limits>

#include "ladder/error.h"

namespace ladder {
namespace {

class T5DecodingSession : public DecodingSession {
 public:
  T5DecodingSession(T5ForConditionalGenerationImpl& model, const Seq2SeqBatch& inputs, bool use_cache)
      : model_(model), use_cache_(use_cache) {
    EncoderInput input = model.encoder_input(inputs.input_ids, inputs.attention_mask, inputs.visual);
    encoder_mask_ = input.mask;
    encoder_output_ = model.encode(input).last_hidden_state;
  }

  torch::Tensor next_logits(const torch::Tensor& decoder_ids) override {
    using torch::indexing::Slice;
    torch::Tensor new_ids = use_cache_ ? decoder_ids.index({Slice(), Slice(-1, torch::indexing::None)}) : decoder_ids;
    StackOutput dec = model_.decode(new_ids, encoder_output_, encoder_mask_, false, nullptr,
                                    use_cache_ ? &cache_ : nullptr);
    return model_.head(dec.last_hidden_state.index({Slice(), -1}));
  }

  void reorder(const torch::Tensor& rows) override {
    encoder_output_ = encoder_output_.index_select(0, rows);
    encoder_mask_ = encoder_mask_.index_select(0, rows);
    reorder_cache(cache_, rows);
  }

 private:
  T5ForConditionalGenerationImpl& model_;
  bool use_cache_;
  torch::Tensor encoder_output_, encoder_mask_;
  StackCache cache_;
};

void forbid_beyond_vocab(torch::Tensor& logits, int64_t vocab_limit) {
  if (vocab_limit > 0 && vocab_limit < logits.size(-1))
    logits.index_put_({torch::indexing::Slice(), torch::indexing::Slice(vocab_limit, torch::indexing::None)},
                      -std::numeric_limits<float>::infinity());
}

}  // namespace

std::unique_ptr<DecodingSession> start_decoding(T5ForConditionalGenerationImpl& model, const Seq2SeqBatch& inputs,
                                                bool use_cache) {
  return std::make_unique<T5DecodingSession>(model, inputs, use_cache);
}

torch::Tensor greedy_generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                              const GenerationOptions& options, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  auto long_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  torch::Tensor ids = torch::full({batch_size, 1}, config.decoder_start_token_id, long_options);
  torch::Tensor finished = torch::zeros({batch_size}, long_options.dtype(torch::kBool));
  torch::Generator generator = sampling_generator(options.sampling);
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor logits = session.next_logits(ids).to(torch::kFloat);
    forbid_beyond_vocab(logits, options.vocab_limit);
    // The penalty sees the generated ids, not the start token.
    torch::Tensor next = pick_next_tokens(logits, ids.narrow(1, 1, ids.size(1) - 1), options.sampling, generator);
    next = torch::where(finished, torch::full_like(next, config.pad_token_id), next);
    ids = torch::cat({ids, next.unsqueeze(1)}, 1);
    finished = finished | (next == config.eos_token_id);
    if (options.on_step && !options.on_step(next, finished)) break;
    if (finished.all().item<bool>()) break;
  }
  return ids;
}

namespace {

struct Hypothesis {
  std::vector<int64_t> tokens;  // generated, eos included when it finished
  double score;                 // summed log-probability / length ** length_penalty
};

// The finished hypotheses of one example: at most num_beams, the best kept.
struct Hypotheses {
  std::vector<Hypothesis> kept;
  bool done = false;
  void add(Hypothesis h, std::size_t beams) {
    kept.push_back(std::move(h));
    std::sort(kept.begin(), kept.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
    if (kept.size() > beams) kept.pop_back();
  }
  double worst() const { return kept.empty() ? -std::numeric_limits<double>::infinity() : kept.back().score; }
};

}  // namespace

torch::Tensor beam_generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                            const GenerationOptions& options, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const int64_t K = options.num_beams;
  if (K < 1) throw UsageError("beam search needs at least one beam");
  auto long_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  session.reorder(torch::arange(batch_size, long_options).repeat_interleave(K));
  // Beam k of example b is row b * K + k. At the start only beam 0 is live, so the first step
  // does not pick the same token K times.
  std::vector<double> beam_scores(static_cast<std::size_t>(batch_size * K), 0.0);
  for (int64_t b = 0; b < batch_size; ++b)
    for (int64_t k = 1; k < K; ++k) beam_scores[static_cast<std::size_t>(b * K + k)] = -1e9;
  std::vector<std::vector<int64_t>> beams(static_cast<std::size_t>(batch_size * K));
  std::vector<Hypotheses> finished(static_cast<std::size_t>(batch_size));
  const auto length_norm = [&](std::size_t length) {
    return std::pow(static_cast<double>(std::max<std::size_t>(length, 1)), options.length_penalty);
  };

  torch::Tensor ids = torch::full({batch_size * K, 1}, config.decoder_start_token_id, long_options);
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor logits = session.next_logits(ids).to(torch::kFloat);
    forbid_beyond_vocab(logits, options.vocab_limit);
    torch::Tensor logp = torch::log_softmax(logits, -1).cpu();
    const int64_t V = logp.size(1);
    torch::Tensor total = logp + torch::tensor(beam_scores, torch::kDouble).to(torch::kFloat).unsqueeze(1);
    auto [top_scores, top_index] = total.view({batch_size, K * V}).topk(std::min<int64_t>(2 * K, K * V), 1);
    auto scores_a = top_scores.accessor<float, 2>();
    auto index_a = top_index.accessor<int64_t, 2>();

    std::vector<int64_t> parents, next_tokens;
    std::vector<double> next_scores;
    std::vector<std::vector<int64_t>> next_beams;
    for (int64_t b = 0; b < batch_size; ++b) {
      Hypotheses& done = finished[static_cast<std::size_t>(b)];
      int64_t filled = 0;
      for (int64_t rank = 0; rank < top_index.size(1) && filled < K; ++rank) {
        const int64_t row = b * K + index_a[b][rank] / V, token = index_a[b][rank] % V;
        const double score = scores_a[b][rank];
        if (!done.done && token == config.eos_token_id) {
          // As transformers: an eos below the first K candidates does not finish a hypothesis.
          if (rank < K) {
            std::vector<int64_t> tokens = beams[static_cast<std::size_t>(row)];
            tokens.push_back(token);
            done.add({tokens, score / length_norm(tokens.size())}, static_cast<std::size_t>(K));
          }
          continue;
        }
        // A finished example keeps decoding padding on its rows, which nothing reads.
        parents.push_back(row);
        next_tokens.push_back(done.done ? config.pad_token_id : token);
        next_scores.push_back(done.done ? 0.0 : score);
        std::vector<int64_t> tokens = beams[static_cast<std::size_t>(row)];
        tokens.push_back(next_tokens.back());
        next_beams.push_back(std::move(tokens));
        ++filled;
      }
      if (!done.done && static_cast<int64_t>(done.kept.size()) >= K) {
        // No live beam can still beat the worst kept hypothesis (the live scores only fall).
        const double best_live = scores_a[b][0] / length_norm(static_cast<std::size_t>(step + 1));
        done.done = done.worst() >= best_live;
      }
    }
    bool all_done = true;
    for (const auto& h : finished) all_done = all_done && h.done;
    if (all_done) break;
    beams = std::move(next_beams);
    beam_scores = std::move(next_scores);
    torch::Tensor parent_rows = torch::tensor(parents, torch::kLong).to(device);
    session.reorder(parent_rows);
    ids = torch::cat({ids.index_select(0, parent_rows), torch::tensor(next_tokens, torch::kLong).to(device).unsqueeze(1)}, 1);
  }
  // Examples still open at the length limit: their live beams compete as they stand.
  for (int64_t b = 0; b < batch_size; ++b) {
    Hypotheses& done = finished[static_cast<std::size_t>(b)];
    if (done.done) continue;
    for (int64_t k = 0; k < K; ++k) {
      const auto& tokens = beams[static_cast<std::size_t>(b * K + k)];
      if (!tokens.empty() && beam_scores[static_cast<std::size_t>(b * K + k)] > -1e8)
        done.add({tokens, beam_scores[static_cast<std::size_t>(b * K + k)] / length_norm(tokens.size())},
                 static_cast<std::size_t>(K));
    }
  }
  std::size_t longest = 0;
  for (const auto& h : finished) longest = std::max(longest, h.kept.empty() ? 0 : h.kept.front().tokens.size());
  torch::Tensor out = torch::full({batch_size, static_cast<int64_t>(longest) + 1}, config.pad_token_id, torch::kLong);
  out.select(1, 0).fill_(config.decoder_start_token_id);
  auto out_a = out.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch_size; ++b) {
    if (finished[static_cast<std::size_t>(b)].kept.empty()) continue;
    const auto& tokens = finished[static_cast<std::size_t>(b)].kept.front().tokens;
    for (std::size_t t = 0; t < tokens.size(); ++t) out_a[b][static_cast<int64_t>(t) + 1] = tokens[t];
  }
  return out.to(device);
}

torch::Tensor generate(DecodingSession& session, int64_t batch_size, const T5Config& config,
                       const GenerationOptions& options, const torch::Device& device) {
  if (options.num_beams > 1 && options.sampling.sampled())
    throw UsageError("beam search ranks hypotheses by probability: sample (--temperature) with --num-beams 1");
  if (options.num_beams > 1 && options.on_step)
    throw UsageError("beam search settles its output only at the end: stream with --num-beams 1");
  return options.num_beams > 1 ? beam_generate(session, batch_size, config, options, device)
                               : greedy_generate(session, batch_size, config, options, device);
}

torch::Tensor greedy_generate(T5ForConditionalGenerationImpl& model, const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask, const GenerationOptions& options) {
  torch::NoGradGuard no_grad;
  Seq2SeqBatch inputs;
  inputs.input_ids = input_ids;
  inputs.attention_mask = attention_mask;
  auto session = start_decoding(model, inputs, options.use_cache);
  return generate(*session, input_ids.size(0), model.config, options, input_ids.device());
}

}  // namespace ladder
