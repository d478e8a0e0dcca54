#include "ladder/train/method_init.h"

#include <algorithm>
#include <tuple>

#include "ladder/data/shuffle.h"
#include "ladder/error.h"

namespace ladder::train {

std::vector<std::size_t> init_sample_indices(std::size_t n, int64_t count, uint64_t seed) {
  std::vector<std::size_t> order = data::torch_randperm(n, seed);
  order.resize(std::min<std::size_t>(n, static_cast<std::size_t>(std::max<int64_t>(0, count))));
  return order;
}

std::string initialize_from_training_data(FineTuningMethod& method, const std::vector<TokenizedExample>& train,
                                          uint64_t seed, const torch::Device& device, dist::ProcessGroup* group,
                                          const FineTuningMethod::ExampleDone& on_example) {
  const int64_t wanted = method.init_examples_needed();
  if (wanted <= 0) return "";
  if (train.empty()) throw UsageError("method " + method.name() + ": its initialisation needs training examples");
  const std::vector<std::size_t> sample = init_sample_indices(train.size(), wanted, seed);
  std::size_t begin = 0, end = sample.size();
  if (group) std::tie(begin, end) = dist::shard_range(sample.size(), group->rank(), group->size());
  CollateOptions layout;
  layout.decoder_only = method.backbone_handle().is_causal_lm();
  std::vector<Seq2SeqBatch> batches;
  for (std::size_t k = begin; k < end; ++k)
    batches.push_back(batch_to(collate(train, {sample[k]}, method.backbone_handle().padding_id(), layout), device));
  if (!group) return method.initialize_from_examples(batches, {}, on_example);
  int64_t summed = 0;
  const std::string line = method.initialize_from_examples(batches, [&](torch::Tensor& statistic) {
    torch::Tensor flat = statistic.contiguous();
    group->all_reduce_sum(flat, "the sum of the side network's initialisation statistics");
    if (!flat.is_same(statistic)) statistic.copy_(flat);
    ++summed;
  }, on_example);
  return line + " on rank " + std::to_string(group->rank()) + " (" + std::to_string(sample.size()) + " over " +
         std::to_string(group->size()) + " ranks, " + std::to_string(summed) + " statistics summed)";
}

}  // namespace ladder::train
