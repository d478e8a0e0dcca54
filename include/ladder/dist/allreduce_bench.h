#pragma once
// `ladder bench allreduce`: what data parallelism costs each method per update: the bytes of
// its trainable gradients, and the time of their all-reduce (dist::GradientReducer, the one
// training uses) on local ranks over Gloo's loopback transport.
#include <cstdint>
#include <string>
#include <vector>

namespace ladder::dist {

struct AllReduceRecord {
  std::string method;
  int64_t trainable_parameters = 0;
  int64_t bytes_per_update = 0;  // the gradients summed at each update (fp32 trainable tensors)
  int64_t buckets = 0;
  int ranks = 0;
  double median_seconds = 0;  // one update's reduction on `ranks` ranks of this machine
};

// Times `steps` reductions (after one untimed) of tensors shaped as `shapes`, on `ranks`
// threads of this process, each a rank of a Gloo group over loopback.
AllReduceRecord time_gradient_allreduce(const std::string& method, const std::vector<std::vector<int64_t>>& shapes,
                                        int ranks, int steps);

std::string format_allreduce_table(const std::vector<AllReduceRecord>& records);

}  // namespace ladder::dist
