#pragma once
// Data-dependent initialisation of a method (LST's Fisher pruning), shared by `ladder train`
// and `ladder init` so that both start from the same weights.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ladder/dist/process_group.h"
#include "ladder/methods/method.h"
#include "ladder/train/batching.h"

namespace ladder::train {

// The training examples the initialisation sees: the first `count` of a seeded permutation
// of the whole training set (torch.randperm's, as the authors' shuffling DataLoader draws
// them), not the first rows of the file.
std::vector<std::size_t> init_sample_indices(std::size_t n, int64_t count, uint64_t seed);

// Runs method.initialize_from_examples on those examples (batch size 1 each) when the method
// wants data; returns its log line, or "" when there was nothing to do. With a process group
// each rank takes its slice of the sample (dist::shard_range) and the statistic is summed.
// `on_example` follows the examples of this process (see FineTuningMethod::ExampleDone).
std::string initialize_from_training_data(FineTuningMethod& method, const std::vector<TokenizedExample>& train,
                                          uint64_t seed, const torch::Device& device,
                                          dist::ProcessGroup* group = nullptr,
                                          const FineTuningMethod::ExampleDone& on_example = {});

}  // namespace ladder::train
