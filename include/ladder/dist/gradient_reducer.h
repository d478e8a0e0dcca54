#pragma once
// Sums the trainable tensors' gradients over the ranks once per update, in a few flat buckets
// (one all-reduce each, not one per tensor), together with a handful of scalars the ranks must
// agree on (the update's loss, its token count, a stop request).
//
// Each rank scales its loss by its share of the global batch's target tokens (see
// Trainer::run), so the sum is exactly the gradient of one process seeing the whole batch.
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "ladder/dist/process_group.h"

namespace ladder::dist {

class GradientReducer {
 public:
  static constexpr int64_t kDefaultBucketBytes = int64_t{64} << 20;

  GradientReducer(ProcessGroup& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes = kDefaultBucketBytes);

  // Sums every parameter's gradient over the ranks (a rank without one, e.g. with no example
  // in this micro-batch, adds zeros; a parameter that no rank has a gradient for keeps none),
  // and returns the sums of `scalars` (fp64, the same on every rank). `what` names the step.
  std::vector<double> reduce(const std::vector<double>& scalars, const std::string& what);

  int64_t gradient_bytes() const { return gradient_bytes_; }  // per update, every bucket
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into parameters_
    int64_t numel = 0;
  };
  ProcessGroup& group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<Bucket> buckets_;
  int64_t gradient_bytes_ = 0;
};

}  // namespace ladder::dist
