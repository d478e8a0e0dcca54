#include "side_init.h"

#include <cmath>

#include "ladder/error.h"

namespace ladder::lst_init {

void init_new_linear(LinearImpl& linear, torch::Generator& gen) {
  torch::NoGradGuard no_grad;
  linear.weight.copy_(torch::empty(linear.weight.sizes(), torch::kFloat).normal_(0.0, 0.01, gen));
  if (linear.bias.defined()) linear.bias.zero_();
}

void init_rung(torch::nn::Module& rung, torch::Generator& gen) {
  if (auto* dense = rung.as<LinearImpl>()) return init_new_linear(*dense, gen);
  auto& low = *rung.as<LowRankLadderImpl>();
  torch::NoGradGuard no_grad;
  const double d = static_cast<double>(low.down->in_features), k = static_cast<double>(low.down->out_features);
  low.down->weight.copy_(torch::empty(low.down->weight.sizes()).normal_(0.0, 1.0 / std::sqrt(d), gen));
  low.up->weight.copy_(torch::empty(low.up->weight.sizes()).normal_(0.0, 0.01 * std::sqrt(d / k), gen));
  low.up->bias.zero_();
}

torch::Tensor importance_of(const std::map<std::string, torch::Tensor>& importance, const std::string& name) {
  auto it = importance.find(name);
  if (it == importance.end()) throw Error("pruning: no importance for " + name);
  return it->second.to(torch::kFloat).cpu();
}

void copy_into(torch::Tensor target, const torch::Tensor& source) {
  torch::NoGradGuard no_grad;
  if (target.sizes() != source.sizes()) throw Error("pruning: shape mismatch while copying into the side network");
  target.copy_(source.to(target.device(), target.scalar_type()));
}

}  // namespace ladder::lst_init
