#pragma once
// Learning-rate schedules of the paper's recipe (transformers' get_linear_schedule_with_warmup
// and get_constant_schedule_with_warmup). Update number s (0-based) uses lr_at(s): the
// scheduler is stepped after the optimizer as in transformers' Trainer, so with warmup the
// first update has learning rate 0.
#include <cstdint>
#include <string>

namespace ladder::train {

struct Schedule {
  std::string kind = "linear";  // linear: warmup then linear decay to 0 at total_steps;
                                // constant: warmup then base_lr
  double base_lr = 3e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  double lr_at(int64_t step) const;
  void validate() const;  // UsageError for an unknown kind or negative counts
};

// The authors warm up for 500 updates on every task (configs/side_transformers.json
// warmup_steps), even where the whole run is shorter. requested >= 0 is used as given;
// requested < 0 (not set) means those 500. run.json records the resolved number.
int64_t resolve_warmup_steps(int64_t requested, int64_t total_steps);
constexpr int64_t kPaperWarmupSteps = 500;

}  // namespace ladder::train
