#include "ladder/train/schedule.h"

#include <algorithm>

#include "ladder/error.h"

namespace ladder::train {

double Schedule::lr_at(int64_t step) const {
  if (step < warmup_steps) return base_lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  if (kind == "constant") return base_lr;
  const double remaining = static_cast<double>(total_steps - step);
  return base_lr * std::max(0.0, remaining / static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps)));
}

void Schedule::validate() const {
  if (kind != "linear" && kind != "constant")
    throw UsageError(expected_found("learning-rate schedule", "linear or constant", "\"" + kind + "\""));
  if (warmup_steps < 0 || total_steps < 1)
    throw UsageError("learning-rate schedule: warmup must be >= 0 and the run at least one update");
  if (!(base_lr > 0)) throw UsageError(expected_found("learning rate", "> 0", std::to_string(base_lr)));
}

int64_t resolve_warmup_steps(int64_t requested, int64_t total_steps) {
  (void)total_steps;
  return requested >= 0 ? requested : kPaperWarmupSteps;
}

}  // namespace ladder::train
