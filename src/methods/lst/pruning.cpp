// Side-network initialisation by chained structural pruning of the backbone
// (docs/lst-design.md §6).
#include "ladder/error.h"
#include "ladder/methods/lst.h"
#include "ladder/models/quantize.h"
#include "side_init.h"

namespace ladder {

torch::Tensor top_l1_rows(const torch::Tensor& importance, int64_t keep) {
  if (keep > importance.size(0))
    throw Error("pruning: cannot keep " + std::to_string(keep) + " of " + std::to_string(importance.size(0)) + " rows");
  torch::Tensor scores = importance.to(torch::kDouble).abs().sum(1);
  torch::Tensor kept = std::get<1>(torch::topk(scores, keep, 0, /*largest=*/true, /*sorted=*/true));
  return std::get<0>(torch::sort(kept));
}

namespace {

// Walks one stack's blocks, carrying the kept residual dimensions, and copies the pruned
// weights of kept blocks into the side stack.
class StackPruner {
 public:
  StackPruner(T5ForConditionalGenerationImpl& backbone, const std::map<std::string, torch::Tensor>& importance,
              int64_t reduction)
      : backbone_(backbone), importance_(importance), reduction_(reduction) {}

  // `kept_dims` enters as the stack's input set and leaves as its output set.
  // encoder_dims: the encoder's final kept set, or undefined for the authors' rule (the
  // cross-attention's k and v columns follow the decoder chain like q).
  void prune(const std::string& prefix, T5StackImpl& stack, SideStackImpl& side, torch::Tensor& kept_dims,
             const torch::Tensor& encoder_dims) {
    for (size_t i = 0; i < stack.blocks.size(); ++i) {
      const std::string block = prefix + ".block." + std::to_string(i) + ".layer.";
      auto position = std::find(side.kept.begin(), side.kept.end(), static_cast<int64_t>(i));
      T5Block target = position == side.kept.end() ? nullptr : side.side->blocks[position - side.kept.begin()];
      int layer = 0;
      prune_attention(block + std::to_string(layer) + ".", "SelfAttention", kept_dims, kept_dims,
                      target ? target->self_attention->layer_norm->weight : torch::Tensor(),
                      target ? target->self_attention->SelfAttention.get() : nullptr);
      ++layer;
      if (stack.is_decoder) {
        const torch::Tensor kv_dims = encoder_dims.defined() ? encoder_dims : kept_dims;
        prune_attention(block + std::to_string(layer) + ".", "EncDecAttention", kept_dims, kv_dims,
                        target ? target->cross_attention->layer_norm->weight : torch::Tensor(),
                        target ? target->cross_attention->EncDecAttention.get() : nullptr);
        ++layer;
      }
      prune_feed_forward(block + std::to_string(layer) + ".", kept_dims, target ? target->feed_forward.get() : nullptr);
    }
    copy(side.side->final_layer_norm->weight, weight(prefix + ".final_layer_norm.weight").index_select(0, kept_dims));
  }

 private:
  torch::Tensor weight(const std::string& name) const {
    // Dequantised when the backbone is quantised: the side network starts from those values.
    return logical_weight(backbone_, name);
  }
  torch::Tensor importance(const std::string& name) const { return lst_init::importance_of(importance_, name); }
  static void copy(torch::Tensor target, const torch::Tensor& source) { lst_init::copy_into(target, source); }
  static torch::Tensor gather(const torch::Tensor& w, const torch::Tensor& rows, const torch::Tensor& cols) {
    return lst_init::gather(w, rows, cols);
  }

  void prune_attention(const std::string& layer, const std::string& attention, torch::Tensor& kept_dims,
                       const torch::Tensor& kv_dims, torch::Tensor target_norm, T5AttentionImpl* target) {
    const std::string a = layer + attention + ".";
    torch::Tensor norm = weight(layer + "layer_norm.weight").index_select(0, kept_dims);
    // q reads the stream's kept columns; k and v read the stream (self) or the encoder output.
    torch::Tensor score = importance(a + "q.weight").index_select(1, kept_dims) *
                          importance(a + "k.weight").index_select(1, kv_dims) *
                          importance(a + "v.weight").index_select(1, kv_dims);
    const int64_t inner = weight(a + "q.weight").size(0) / reduction_;
    torch::Tensor heads = top_l1_rows(score, inner);
    torch::Tensor out_dims = top_l1_rows(importance(a + "o.weight").index_select(1, heads), weight(a + "o.weight").size(0) / reduction_);
    if (target) {
      copy(target_norm, norm);
      copy(target->q->weight, gather(weight(a + "q.weight"), heads, kept_dims));
      copy(target->k->weight, gather(weight(a + "k.weight"), heads, kv_dims));
      copy(target->v->weight, gather(weight(a + "v.weight"), heads, kv_dims));
      copy(target->o->weight, gather(weight(a + "o.weight"), out_dims, heads));
    }
    kept_dims = out_dims;
  }

  void prune_feed_forward(const std::string& layer, torch::Tensor& kept_dims, T5LayerFFImpl* target) {
    const std::string f = layer + "DenseReluDense.";
    torch::Tensor norm = weight(layer + "layer_norm.weight").index_select(0, kept_dims);
    const bool gated = importance_.count(f + "wi_0.weight") > 0;
    torch::Tensor score = gated ? importance(f + "wi_0.weight").index_select(1, kept_dims) *
                                      importance(f + "wi_1.weight").index_select(1, kept_dims)
                                : importance(f + "wi.weight").index_select(1, kept_dims);
    const int64_t d_ff = weight(f + "wo.weight").size(1) / reduction_;
    torch::Tensor inner = top_l1_rows(score, d_ff);
    torch::Tensor out_dims = top_l1_rows(importance(f + "wo.weight").index_select(1, inner), weight(f + "wo.weight").size(0) / reduction_);
    if (target) {
      auto& dense = target->DenseReluDense;
      copy(target->layer_norm->weight, norm);
      if (gated) {
        copy(dense->wi_0->weight, gather(weight(f + "wi_0.weight"), inner, kept_dims));
        copy(dense->wi_1->weight, gather(weight(f + "wi_1.weight"), inner, kept_dims));
      } else {
        copy(dense->wi->weight, gather(weight(f + "wi.weight"), inner, kept_dims));
      }
      copy(dense->wo->weight, gather(weight(f + "wo.weight"), out_dims, inner));
    }
    kept_dims = out_dims;
  }

  T5ForConditionalGenerationImpl& backbone_;
  const std::map<std::string, torch::Tensor>& importance_;
  int64_t reduction_;
};

}  // namespace

void LstMethod::initialize_side(const std::map<std::string, torch::Tensor>& importance) {
  const int64_t r = config_.reduction;
  StackPruner pruner(*backbone_, importance, r);
  // The embedding only seeds the chain: score its d columns over the vocabulary.
  torch::Tensor dims = top_l1_rows(lst_init::importance_of(importance, "shared.weight").t(), config().d_model / r);
  pruner.prune("encoder", *backbone_->encoder, *side_encoder, dims, torch::Tensor());
  const torch::Tensor encoder_dims = config_.cross_attention_columns == "encoder" ? dims : torch::Tensor();
  pruner.prune("decoder", *backbone_->decoder, *side_decoder, dims, encoder_dims);
  // The backbone's block-0 relative bias table, unpruned, seeds each side bias owner.
  torch::NoGradGuard no_grad;
  const std::pair<T5StackImpl*, SideStackImpl*> stacks[] = {{backbone_->encoder.get(), side_encoder.get()},
                                                            {backbone_->decoder.get(), side_decoder.get()}};
  for (const auto& [backbone_stack, side_stack] : stacks) {
    torch::Tensor source = backbone_stack->blocks[0]->self_attention->SelfAttention->relative_attention_bias->weight;
    torch::Tensor target = side_stack->side->blocks[0]->self_attention->SelfAttention->relative_attention_bias->weight;
    if (source.sizes() == target.sizes()) target.copy_(source.to(torch::kFloat));
  }
  side_initialized_ = true;
}

}  // namespace ladder
