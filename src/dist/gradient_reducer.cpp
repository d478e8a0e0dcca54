#include "ladder/dist/gradient_reducer.h"

namespace ladder::dist {

GradientReducer::GradientReducer(ProcessGroup& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : group_(group), parameters_(std::move(parameters)) {
  // Consecutive tensors of one dtype and device share a bucket up to bucket_bytes.
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const torch::Tensor& p = parameters_[i];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    gradient_bytes_ += bytes;
    bool fits = !buckets_.empty();
    if (fits) {
      const torch::Tensor& first = parameters_[buckets_.back().members.front()];
      fits = first.scalar_type() == p.scalar_type() && first.device() == p.device() &&
             (buckets_.back().numel + p.numel()) * static_cast<int64_t>(p.element_size()) <= bucket_bytes;
    }
    if (!fits) buckets_.emplace_back();
    buckets_.back().members.push_back(i);
    buckets_.back().numel += p.numel();
  }
}

std::vector<double> GradientReducer::reduce(const std::vector<double>& scalars, const std::string& what) {
  torch::NoGradGuard no_grad;
  // One small fp64 all-reduce: the scalars, then which parameters have a gradient somewhere.
  const int64_t n_scalars = static_cast<int64_t>(scalars.size());
  torch::Tensor meta = torch::zeros({n_scalars + static_cast<int64_t>(parameters_.size())}, torch::kDouble);
  auto m = meta.accessor<double, 1>();
  for (int64_t i = 0; i < n_scalars; ++i) m[i] = scalars[static_cast<std::size_t>(i)];
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    m[n_scalars + static_cast<int64_t>(i)] = parameters_[i].grad().defined() ? 1.0 : 0.0;
  group_.all_reduce_sum(meta, what);

  for (const Bucket& bucket : buckets_) {
    const torch::Tensor& first = parameters_[bucket.members.front()];
    torch::Tensor flat = torch::zeros({bucket.numel}, first.options().requires_grad(false));
    int64_t offset = 0;
    for (std::size_t i : bucket.members) {
      const torch::Tensor& grad = parameters_[i].grad();
      const int64_t n = parameters_[i].numel();
      if (grad.defined()) flat.narrow(0, offset, n).copy_(grad.reshape({-1}));
      offset += n;
    }
    group_.all_reduce_sum(flat, what);
    offset = 0;
    for (std::size_t i : bucket.members) {
      torch::Tensor& p = parameters_[i];
      const int64_t n = p.numel();
      torch::Tensor summed = flat.narrow(0, offset, n).view(p.sizes());
      offset += n;
      if (p.grad().defined()) p.mutable_grad().copy_(summed);
      else if (m[n_scalars + static_cast<int64_t>(i)] > 0) p.mutable_grad() = summed.clone();
    }
  }
  std::vector<double> sums(scalars.size());
  for (int64_t i = 0; i < n_scalars; ++i) sums[static_cast<std::size_t>(i)] = m[i];
  return sums;
}

}  // namespace ladder::dist
