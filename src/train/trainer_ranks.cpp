// The Trainer's data-parallel side (trainer.h): validation decoded in slices and gathered,
// and the check that every rank holds the same weights.
#include <algorithm>

#include "ladder/train/evaluate.h"
#include "ladder/train/state_cache.h"
#include "ladder/train/trainer.h"

namespace ladder::train {

std::vector<std::string> Trainer::validation_predictions() {
  DecodeOptions decode;
  decode.batch_size = options_.eval_batch_size > 0 ? options_.eval_batch_size : options_.batch_size;
  decode.max_new_tokens = max_new_tokens_;
  decode.device = device_;
  decode.num_beams = options_.num_beams;
  decode.visual = data_.visual.get();
  if (!distributed()) return generate_texts(method_, tokenizer_, data_.validation, decode);
  const auto [begin, end] = dist::shard_range(data_.validation.size(), group_->rank(), group_->size());
  const std::vector<TokenizedExample> slice(data_.validation.begin() + static_cast<std::ptrdiff_t>(begin),
                                            data_.validation.begin() + static_cast<std::ptrdiff_t>(end));
  const nlohmann::json mine = generate_texts(method_, tokenizer_, slice, decode);
  std::vector<std::string> predictions;
  for (const std::string& part :
       group_->all_gather("the validation predictions at update " + std::to_string(state_.global_step), mine.dump())) {
    for (const auto& text : nlohmann::json::parse(part)) predictions.push_back(text.get<std::string>());
  }
  if (predictions.size() != data_.validation.size())
    throw dist::DistributedError("the ranks gathered " + std::to_string(predictions.size()) + " validation predictions for " +
                                 std::to_string(data_.validation.size()) + " examples (do all ranks read the same data?)");
  return predictions;
}

void Trainer::check_ranks_agree() {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  torch::nn::Module trainable;
  for (const auto& [name, tensor] : optimizer_.params()) {
    std::string key = name;
    std::replace(key.begin(), key.end(), '.', '_');  // a flat module: register_parameter refuses dots
    trainable.register_parameter(key, tensor.detach(), /*requires_grad=*/false);  // the same data, untouched flags
  }
  const std::string mine = weights_checksum(trainable);
  const auto all = group_->all_gather("the trainable weights' checksums at update " + std::to_string(state_.global_step), mine);
  for (std::size_t r = 0; r < all.size(); ++r)
    if (all[r] != all[0])
      throw dist::DistributedError("after update " + std::to_string(state_.global_step) + " rank " + std::to_string(r) +
                                   " holds other trainable weights than rank 0 (checksum " + all[r] + " vs " + all[0] +
                                   "): the ranks' optimizer steps diverged (a nondeterministic kernel, or ranks "
                                   "started from different weights)");
}

}  // namespace ladder::train
