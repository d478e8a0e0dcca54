#pragma once
// A T5 encoder or decoder stack: blocks, the shared relative bias of block 0, final norm.
#include <functional>
#include <torch/torch.h>

#include "ladder/models/t5/block.h"

namespace ladder {

struct StackCache {
  std::vector<BlockCache> blocks;
  int64_t past_length = 0;
};

// Keeps rows `rows` of every cached key and value, in that order (beam search).
void reorder_cache(StackCache& cache, const torch::Tensor& rows);

// Called with the output of block i (before the final layer norm); methods read states here.
using BlockHook = std::function<void(int64_t layer, const torch::Tensor& block_output)>;

struct StackOutput {
  torch::Tensor last_hidden_state;           // after final norm and dropout
  std::vector<torch::Tensor> hidden_states;  // input of each block, then the final output
};

// Additive attention mask: 0 where attended, the dtype's lowest value elsewhere.
// mask [B, K] (1 = token) -> [B, 1, 1, K]; with causal, [B, 1, Q, K] for queries at past.. .
torch::Tensor additive_mask(const torch::Tensor& mask, int64_t query_length, int64_t past_length,
                            bool causal, torch::ScalarType dtype);

class T5StackImpl : public torch::nn::Module {
 public:
  T5StackImpl(const T5Config& config, bool is_decoder, int64_t num_layers);

  struct Inputs {
    torch::Tensor inputs_embeds;   // [B, L, d], not yet dropped out
    torch::Tensor attention_mask;  // [B, L(+past)] of 0/1; undefined = all ones
    torch::Tensor encoder_output;  // decoder only
    torch::Tensor encoder_mask;    // decoder only
    // Only the first biased_length positions get a relative position bias (VL-T5: text
    // tokens; the visual tokens after them have none, to or from anything). -1 = all.
    int64_t biased_length = -1;
  };
  StackOutput forward(const Inputs& inputs, bool collect_hidden = false,
                      const BlockHook& hook = nullptr, StackCache* cache = nullptr);

  // Position bias + self mask, and the cross-attention mask, as the blocks consume them.
  // Exposed so that a side network reading this stack can build the same masks.
  torch::Tensor self_bias(const Inputs& inputs, int64_t past_length) const;
  torch::Tensor cross_bias(const Inputs& inputs, torch::ScalarType dtype) const;

  torch::nn::ModuleList block;
  std::vector<T5Block> blocks;
  T5LayerNorm final_layer_norm{nullptr};
  bool is_decoder;
  double dropout;
};
TORCH_MODULE(T5Stack);

}  // namespace ladder
