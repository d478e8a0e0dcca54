#include "ladder/models/t5/stack.h"

#include "ladder/error.h"

namespace ladder {

torch::Tensor additive_mask(const torch::Tensor& mask, int64_t query_length, int64_t past_length,
                            bool causal, torch::ScalarType dtype) {
  // Large but finite in fp32 and bf16, so a fully masked row stays uniform instead of NaN.
  const double lowest = -1e30;
  torch::Tensor keep = mask.to(torch::kBool).unsqueeze(1).unsqueeze(1);  // [B,1,1,K]
  if (causal) {
    const int64_t key_length = mask.size(1);
    auto options = torch::TensorOptions().dtype(torch::kLong).device(mask.device());
    torch::Tensor query_pos = torch::arange(past_length, past_length + query_length, options).unsqueeze(1);
    torch::Tensor key_pos = torch::arange(key_length, options).unsqueeze(0);
    keep = keep & (key_pos <= query_pos).unsqueeze(0).unsqueeze(0);
  }
  torch::Tensor out = torch::zeros(keep.sizes(), torch::TensorOptions().dtype(dtype).device(mask.device()));
  return out.masked_fill(keep.logical_not(), lowest);
}

void reorder_cache(StackCache& cache, const torch::Tensor& rows) {
  for (auto& block : cache.blocks)
    for (AttentionCache* attention : {&block.self, &block.cross})
      if (attention->key.defined()) {
        attention->key = attention->key.index_select(0, rows);
        attention->value = attention->value.index_select(0, rows);
      }
}

T5StackImpl::T5StackImpl(const T5Config& config, bool is_decoder_, int64_t num_layers)
    : is_decoder(is_decoder_), dropout(config.dropout_rate) {
  for (int64_t i = 0; i < num_layers; ++i) {
    blocks.push_back(T5Block(config, /*has_relative_attention_bias=*/i == 0, is_decoder));
    block->push_back(blocks.back());
  }
  register_module("block", block);
  final_layer_norm = register_module("final_layer_norm",
                                     T5LayerNorm(config.d_model, config.layer_norm_epsilon));
}

torch::Tensor T5StackImpl::self_bias(const Inputs& inputs, int64_t past_length) const {
  const torch::Tensor& embeds = inputs.inputs_embeds;
  const int64_t query_length = embeds.size(1);
  const int64_t key_length = past_length + query_length;
  torch::Tensor mask = inputs.attention_mask.defined()
                           ? inputs.attention_mask
                           : torch::ones({embeds.size(0), key_length},
                                         torch::TensorOptions().dtype(torch::kLong).device(embeds.device()));
  const auto& attention = blocks[0]->self_attention->SelfAttention;
  torch::Tensor position;
  if (inputs.biased_length >= 0 && inputs.biased_length < query_length) {
    if (past_length != 0) throw Error("internal: a partial position bias is for an encoder (no past)");
    const int64_t biased = inputs.biased_length;
    position = torch::constant_pad_nd(attention->compute_bias(biased, biased, 0, embeds.device()),
                                      {0, key_length - biased, 0, query_length - biased});
  } else {
    position = attention->compute_bias(query_length, key_length, past_length, embeds.device());
  }
  // The relative bias table may be bf16; masks and bias add in fp32, then match the states.
  torch::Tensor bias = position.to(torch::kFloat) +
                       additive_mask(mask, query_length, past_length, is_decoder, torch::kFloat);
  return bias.to(embeds.scalar_type());
}

torch::Tensor T5StackImpl::cross_bias(const Inputs& inputs, torch::ScalarType dtype) const {
  torch::Tensor mask = inputs.encoder_mask.defined()
                           ? inputs.encoder_mask
                           : torch::ones({inputs.encoder_output.size(0), inputs.encoder_output.size(1)},
                                         torch::TensorOptions().dtype(torch::kLong).device(inputs.encoder_output.device()));
  return additive_mask(mask, 1, 0, false, dtype);
}

StackOutput T5StackImpl::forward(const Inputs& inputs, bool collect_hidden, const BlockHook& hook,
                                 StackCache* cache) {
  if (cache && cache->blocks.empty()) cache->blocks.resize(blocks.size());
  const int64_t past = cache ? cache->past_length : 0;
  torch::Tensor h = torch::dropout(inputs.inputs_embeds, dropout, is_training());
  torch::Tensor bias = self_bias(inputs, past);
  torch::Tensor enc_bias = is_decoder ? cross_bias(inputs, h.scalar_type()) : torch::Tensor();

  StackOutput out;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (collect_hidden) out.hidden_states.push_back(h);
    h = blocks[i]->forward(h, bias, inputs.encoder_output, enc_bias,
                           cache ? &cache->blocks[i] : nullptr);
    if (hook) hook(static_cast<int64_t>(i), h);
  }
  h = torch::dropout(final_layer_norm->forward(h), dropout, is_training());
  if (collect_hidden) out.hidden_states.push_back(h);
  if (cache) cache->past_length = past + inputs.inputs_embeds.size(1);
  out.last_hidden_state = h;
  return out;
}

}  // namespace ladder
