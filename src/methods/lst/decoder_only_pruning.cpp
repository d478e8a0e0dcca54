// The decoder-only side network's initialisation by chained structural pruning:
// docs/lst-design.md §6's chain over a Llama-family stack, made head-aware where grouped-query
// attention and RoPE need it. Per key/value group, the query heads of the group and their
// key/value head keep the same head dimensions (so q.k still pairs the dimensions it was trained
// on), chosen as whole RoPE pairs (t, t + head_dim/2), which become the side head's pairs
// (i, i + head_dim/(2r)).
#include <tuple>

#include "ladder/error.h"
#include "ladder/methods/decoder_only_lst.h"
#include "ladder/models/quantize.h"
#include "side_init.h"

namespace ladder {
namespace {

class DecoderPruner {
 public:
  DecoderPruner(LlamaForCausalLMImpl& backbone, const std::map<std::string, torch::Tensor>& importance, int64_t reduction)
      : backbone_(backbone), importance_(importance), reduction_(reduction) {}

  torch::Tensor weight(const std::string& name) const { return logical_weight(backbone_, name); }
  torch::Tensor importance(const std::string& name) const { return lst_init::importance_of(importance_, name); }
  static void copy(torch::Tensor target, const torch::Tensor& source) { lst_init::copy_into(target, source); }
  static torch::Tensor gather(const torch::Tensor& w, const torch::Tensor& rows, const torch::Tensor& cols) {
    return lst_init::gather(w, rows, cols);
  }

  // Rows of q and of k/v kept, head by head: {q rows, kv rows}.
  std::pair<torch::Tensor, torch::Tensor> attention_rows(const std::string& a, const torch::Tensor& dims) const {
    const LlamaConfig& c = backbone_.config;
    const int64_t hd = c.head_dim, half = hd / 2, groups = c.kv_groups(), kv = c.num_key_value_heads;
    const int64_t keep_pairs = hd / reduction_ / 2;
    torch::Tensor fq = importance(a + "q_proj.weight").index_select(1, dims).reshape({kv, groups, hd, -1}).sum(1);
    torch::Tensor fk = importance(a + "k_proj.weight").index_select(1, dims).reshape({kv, hd, -1});
    torch::Tensor fv = importance(a + "v_proj.weight").index_select(1, dims).reshape({kv, hd, -1});
    torch::Tensor score = (fq * fk * fv).to(torch::kDouble).abs().sum(-1);  // [kv, hd]
    torch::Tensor pairs = score.narrow(1, 0, half) + score.narrow(1, half, half);
    std::vector<int64_t> q_rows, kv_rows;
    for (int64_t g = 0; g < kv; ++g) {
      torch::Tensor kept = std::get<0>(torch::sort(std::get<1>(torch::topk(pairs[g], keep_pairs))));
      std::vector<int64_t> head_dims;
      for (int64_t i = 0; i < keep_pairs; ++i) head_dims.push_back(kept[i].item<int64_t>());
      for (int64_t i = 0; i < keep_pairs; ++i) head_dims.push_back(kept[i].item<int64_t>() + half);
      for (int64_t t : head_dims) kv_rows.push_back(g * hd + t);
      for (int64_t h = g * groups; h < (g + 1) * groups; ++h)
        for (int64_t t : head_dims) q_rows.push_back(h * hd + t);
    }
    return {torch::tensor(q_rows, torch::kLong), torch::tensor(kv_rows, torch::kLong)};
  }

  void prune_layer(int64_t i, torch::Tensor& dims, LlamaDecoderLayerImpl* target) {
    const LlamaConfig& c = backbone_.config;
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const std::string a = p + "self_attn.";
    auto [q_rows, kv_rows] = attention_rows(a, dims);
    torch::Tensor out_dims = top_l1_rows(importance(a + "o_proj.weight").index_select(1, q_rows), c.hidden_size / reduction_);
    if (target) {
      auto& attn = target->self_attn;
      copy(target->input_layernorm->weight, weight(p + "input_layernorm.weight").index_select(0, dims));
      copy(attn->q_proj->weight, gather(weight(a + "q_proj.weight"), q_rows, dims));
      copy(attn->k_proj->weight, gather(weight(a + "k_proj.weight"), kv_rows, dims));
      copy(attn->v_proj->weight, gather(weight(a + "v_proj.weight"), kv_rows, dims));
      copy(attn->o_proj->weight, gather(weight(a + "o_proj.weight"), out_dims, q_rows));
      // Qwen2's q/k/v biases follow their rows.
      const std::tuple<const char*, Linear&, const torch::Tensor&> biased[] = {
          {"q_proj", attn->q_proj, q_rows}, {"k_proj", attn->k_proj, kv_rows}, {"v_proj", attn->v_proj, kv_rows}};
      for (const auto& [proj, linear, rows] : biased)
        if (linear->bias.defined()) copy(linear->bias, weight(a + proj + ".bias").index_select(0, rows));
    }
    dims = out_dims;

    const std::string m = p + "mlp.";
    torch::Tensor score = importance(m + "gate_proj.weight").index_select(1, dims) * importance(m + "up_proj.weight").index_select(1, dims);
    torch::Tensor inner = top_l1_rows(score, c.intermediate_size / reduction_);
    torch::Tensor down_dims = top_l1_rows(importance(m + "down_proj.weight").index_select(1, inner), c.hidden_size / reduction_);
    if (target) {
      copy(target->post_attention_layernorm->weight, weight(p + "post_attention_layernorm.weight").index_select(0, dims));
      copy(target->mlp->gate_proj->weight, gather(weight(m + "gate_proj.weight"), inner, dims));
      copy(target->mlp->up_proj->weight, gather(weight(m + "up_proj.weight"), inner, dims));
      copy(target->mlp->down_proj->weight, gather(weight(m + "down_proj.weight"), down_dims, inner));
    }
    dims = down_dims;
  }

 private:
  LlamaForCausalLMImpl& backbone_;
  const std::map<std::string, torch::Tensor>& importance_;
  int64_t reduction_;
};

}  // namespace

void DecoderOnlyLstMethod::initialize_side(const std::map<std::string, torch::Tensor>& importance) {
  const int64_t r = config_.reduction;
  DecoderPruner pruner(*causal, importance, r);
  // The embedding seeds the chain: its d columns scored over the vocabulary.
  torch::Tensor dims = top_l1_rows(pruner.importance("model.embed_tokens.weight").t(), causal->config.hidden_size / r);
  const std::vector<int64_t>& kept = config_.decoder_layers;
  for (int64_t i = 0; i < causal->config.num_hidden_layers; ++i) {
    auto position = std::find(kept.begin(), kept.end(), i);
    pruner.prune_layer(i, dims, position == kept.end() ? nullptr : side->layers[position - kept.begin()].get());
  }
  DecoderPruner::copy(side->norm->weight, pruner.weight("model.norm.weight").index_select(0, dims));
  side_initialized_ = true;
}

}  // namespace ladder
