#pragma once
// What the T5 and decoder-only side networks share when they are built: the new projections'
// initialisation and the pruning chain's tensor plumbing.
#include <map>
#include <string>

#include <torch/torch.h>

#include "ladder/methods/lst.h"

namespace ladder::lst_init {

// The authors' N(0, 0.01) for a projection the backbone does not have; its bias at 0.
void init_new_linear(LinearImpl& linear, torch::Generator& gen);
// A ladder rung: dense (a new Linear) or low rank, whose down keeps the state's scale
// (std 1/sqrt(d)) and whose up makes the rung's output start at the dense ladder's scale.
void init_rung(torch::nn::Module& rung, torch::Generator& gen);

// importance[name] as fp32 on the CPU; an Error naming it when it is absent.
torch::Tensor importance_of(const std::map<std::string, torch::Tensor>& importance, const std::string& name);
// Copies a pruned tensor into a side parameter of the same shape (its device and dtype).
void copy_into(torch::Tensor target, const torch::Tensor& source);
// w[rows][:, cols].
inline torch::Tensor gather(const torch::Tensor& w, const torch::Tensor& rows, const torch::Tensor& cols) {
  return w.index_select(0, rows).index_select(1, cols);
}

}  // namespace ladder::lst_init
