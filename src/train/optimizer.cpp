#include "ladder/train/optimizer.h"

#include <cmath>

#include "ladder/error.h"

namespace ladder::train {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  for (const auto& [name, tensor] : params_)
    if (!tensor.requires_grad())
      throw Error("optimizer: tensor " + name + " does not require a gradient (a frozen tensor listed as trainable)");
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2;
  for (auto& [name, param] : params_) {
    if (!param.grad().defined()) continue;
    Slot& slot = state_[name];
    torch::Tensor grad = param.grad().to(torch::kFloat);
    // fp32 master arithmetic even for a lower-precision tensor; a no-op copy for fp32.
    torch::Tensor value = param.scalar_type() == torch::kFloat ? param : param.to(torch::kFloat);
    if (!slot.exp_avg.defined()) {
      slot.exp_avg = torch::zeros_like(value);
      slot.exp_avg_sq = torch::zeros_like(value);
    }
    slot.step += 1;
    if (options_.weight_decay != 0) value.mul_(1.0 - lr * options_.weight_decay);
    slot.exp_avg.mul_(b1).add_(grad, 1.0 - b1);
    slot.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1.0 - b2);
    const double bias_correction1 = 1.0 - std::pow(b1, static_cast<double>(slot.step));
    const double bias_correction2 = 1.0 - std::pow(b2, static_cast<double>(slot.step));
    torch::Tensor denom = (slot.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options_.eps);
    value.addcdiv_(slot.exp_avg, denom, -lr / bias_correction1);
    if (value.data_ptr() != param.data_ptr()) param.copy_(value);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, param] : params_)
    if (param.grad().defined()) param.mutable_grad() = torch::Tensor();
}

std::map<std::string, torch::Tensor> AdamW::state_tensors() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, slot] : state_) {
    if (!slot.exp_avg.defined()) continue;
    out["exp_avg." + name] = slot.exp_avg;
    out["exp_avg_sq." + name] = slot.exp_avg_sq;
  }
  return out;
}

std::map<std::string, int64_t> AdamW::step_counts() const {
  std::map<std::string, int64_t> out;
  for (const auto& [name, slot] : state_) out[name] = slot.step;
  return out;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& tensors, const std::map<std::string, int64_t>& steps,
                       const std::string& source) {
  std::map<std::string, Slot> loaded;
  std::size_t used = 0;
  for (const auto& [name, param] : params_) {
    auto step = steps.find(name);
    if (step == steps.end()) continue;  // never updated
    auto avg = tensors.find("exp_avg." + name), avg_sq = tensors.find("exp_avg_sq." + name);
    if (avg == tensors.end() || avg_sq == tensors.end())
      throw LoadError(source + ": missing optimizer moments for " + name + " (exp_avg." + name + ", exp_avg_sq." + name + ")");
    for (const auto* t : {&avg->second, &avg_sq->second})
      if (t->sizes() != param.sizes())
        throw LoadError(source + ": " + expected_found("optimizer moment shape of " + name, c10::str(param.sizes()),
                                                       c10::str(t->sizes()), "checkpoint of another method or model?"));
    Slot slot;
    slot.exp_avg = avg->second.to(param.device(), torch::kFloat).clone();
    slot.exp_avg_sq = avg_sq->second.to(param.device(), torch::kFloat).clone();
    slot.step = step->second;
    loaded[name] = std::move(slot);
    used += 2;
  }
  if (loaded.size() != steps.size()) {
    for (const auto& [name, count] : steps)
      if (!loaded.count(name)) throw LoadError(source + ": optimizer state for unknown tensor " + name + " (checkpoint of another method?)");
  }
  if (used != tensors.size())
    throw LoadError(source + ": " + expected_found("optimizer tensors", std::to_string(used), std::to_string(tensors.size()),
                                                   "extra moments without a step count"));
  state_ = std::move(loaded);
}

double clip_grad_norm(const std::vector<std::pair<std::string, torch::Tensor>>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& [name, param] : params)
    if (param.grad().defined()) norms.push_back(param.grad().to(torch::kFloat).norm(2));
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  // torch.nn.utils.clip_grad_norm_'s coefficient, eps included, applied when below 1.
  const double coefficient = max_norm / (total + 1e-6);
  if (max_norm > 0 && coefficient < 1.0) {
    for (const auto& [name, param] : params)
      if (param.grad().defined()) param.grad().mul_(coefficient);
  }
  return total;
}

}  // namespace ladder::train
