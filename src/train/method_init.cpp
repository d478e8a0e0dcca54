#include "ladder/train/method_init.h"

#include <algorithm>

#include "ladder/data/shuffle.h"
#include "ladder/error.h"

namespace ladder::train {

std::vector<std::size_t> init_sample_indices(std::size_t n, int64_t count, uint64_t seed) {
  std::vector<std::size_t> order = data::torch_randperm(n, seed);
  order.resize(std::min<std::size_t>(n, static_cast<std::size_t>(std::max<int64_t>(0, count))));
  return order;
}

std::string initialize_from_training_data(FineTuningMethod& method, const std::vector<TokenizedExample>& train,
                                          uint64_t seed, const torch::Device& device) {
  const int64_t wanted = method.init_examples_needed();
  if (wanted <= 0) return "";
  if (train.empty()) throw UsageError("method " + method.name() + ": its initialisation needs training examples");
  std::vector<Seq2SeqBatch> batches;
  for (std::size_t i : init_sample_indices(train.size(), wanted, seed))
    batches.push_back(batch_to(collate(train, {i}, method.config().pad_token_id), device));
  return method.initialize_from_examples(batches);
}

}  // namespace ladder::train
