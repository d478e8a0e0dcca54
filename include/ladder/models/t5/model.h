#pragma once
// T5ForConditionalGeneration: the one model definition every method wraps.
#include <torch/torch.h>

#include "ladder/models/t5/stack.h"
#include "ladder/models/t5/visual_embedding.h"

namespace ladder {

struct Seq2SeqOutput {
  torch::Tensor logits;  // [B, T, V]
  torch::Tensor loss;    // scalar, defined when labels were given
  std::vector<torch::Tensor> encoder_hidden_states, decoder_hidden_states;
};

struct Seq2SeqBatch {
  torch::Tensor input_ids;          // [B, S] int64
  torch::Tensor attention_mask;     // [B, S] 0/1; undefined = all tokens
  torch::Tensor labels;             // [B, T] int64 with -100 = ignored; optional
  torch::Tensor decoder_input_ids;  // [B, T]; derived from labels when undefined
  VisualInput visual;               // image features (vision-language tasks); optional
};

// What the encoder reads: token embeddings (the prompt-tuning prefix included), then the
// visual tokens when there are any, and the mask over both.
struct EncoderInput {
  torch::Tensor embeds;      // [B, P + S + V, d]
  torch::Tensor mask;        // [B, P + S + V]
  int64_t text_length = 0;   // P + S: the positions with a relative position bias
};

// labels shifted right with the start token; -100 becomes pad.
torch::Tensor shift_right(const torch::Tensor& labels, int64_t start_token_id, int64_t pad_token_id);
// Mean cross-entropy over labels != -100, computed in fp32.
torch::Tensor seq2seq_loss(const torch::Tensor& logits, const torch::Tensor& labels);

class T5ForConditionalGenerationImpl : public torch::nn::Module {
 public:
  explicit T5ForConditionalGenerationImpl(const T5Config& config);

  Seq2SeqOutput forward(const Seq2SeqBatch& batch, bool collect_hidden = false);

  // Token embeddings for the encoder, with the prompt-tuning prefix when one is set.
  torch::Tensor encoder_embeddings(const torch::Tensor& input_ids) const;
  torch::Tensor encoder_mask(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  StackOutput encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                     bool collect_hidden = false, const BlockHook& hook = nullptr);
  StackOutput encode(const EncoderInput& input, bool collect_hidden = false, const BlockHook& hook = nullptr);
  // Visual input needs enable_visual(); a text-only batch leaves the text as it is.
  EncoderInput encoder_input(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                             const VisualInput& visual);
  // VL-T5: registers encoder.visual_embedding (trainable, fp32); batches with visual input
  // then feed [text ; visual] to the encoder.
  void enable_visual(const VisualConfig& visual);
  torch::Tensor visual_embeds(const VisualInput& visual);
  StackOutput decode(const torch::Tensor& decoder_input_ids, const torch::Tensor& encoder_output,
                     const torch::Tensor& encoder_mask, bool collect_hidden = false,
                     const BlockHook& hook = nullptr, StackCache* cache = nullptr);
  // Decoder states -> vocabulary logits (scaling for the tied v1.0 head included).
  torch::Tensor head(const torch::Tensor& decoder_output) const;
  // Token embeddings without the prompt (a quantised table dequantises only these rows).
  torch::Tensor embed(const torch::Tensor& ids) const;
  // The dtype the frozen backbone runs in (its weights' dtype, or what quantised ones decode to).
  torch::ScalarType compute_dtype() const;
  torch::Device device() const;

  // Prompt tuning: learned vectors prepended to the encoder input ("prompt_embeddings").
  void set_prompt(torch::Tensor prompt_embeddings);

  T5Config config;
  torch::nn::Embedding shared{nullptr};
  T5Stack encoder{nullptr}, decoder{nullptr};
  Linear lm_head{nullptr};
  torch::Tensor prompt_embeddings;
  VisualEmbedding visual_embedding{nullptr};
};
TORCH_MODULE(T5ForConditionalGeneration);

}  // namespace ladder
