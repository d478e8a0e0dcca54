#pragma once
// Text-to-text examples and the datasets the trainer consumes. Torch-free: tokenisation and
// collation happen later, so loaders and metrics are testable without libtorch.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace ladder::data {

struct Example {
  std::string source;  // model input, task prefix included ("rte sentence1: A sentence2: B")
  std::string target;  // expected output text ("0", "3.8", free text)
  // 0-based position among the usable rows (examples) of the file it was read from: for GLUE
  // the file its split came from (train.tsv for sst2/qnli/qqp validation, dev.tsv for the
  // halves of a small task's dev set), for custom data its file. Malformed rows skipped under
  // LoadOptions::skip_malformed are not counted, so this is the row's position in the data set
  // the authors' HF `datasets` code would index (dataset.select(indices)). Selection and
  // shuffling keep it. The default lets `Example{source, target}` still compile.
  std::size_t index = 0;
  // Vision-language examples only (data/vl/tasks.h): the task of a multi-task set, the images
  // the example reads, and what scoring needs (VQA/GQA answer scores, caption references).
  // (Default-initialised with {} so that Example{source, target, index} stays warning-free.)
  std::string vl_task{};
  std::vector<std::string> image_ids{};
  std::vector<std::pair<std::string, double>> answers{};
  std::vector<std::string> references{};
};

struct Dataset {
  std::string task;               // "rte", or the custom task name
  std::vector<Example> examples;  // in the order described by the loader
  // Valid target strings (sorted for custom data, task order for GLUE). Empty for free
  // seq2seq and for regression (stsb), where any text is a well-formed prediction.
  std::vector<std::string> labels;
  std::size_t skipped_rows = 0;  // malformed rows dropped under LoadOptions::skip_malformed
};

struct LoadOptions {
  // false: the first malformed row throws FormatError "FILE:LINE: ...".
  // true: malformed rows are dropped and counted in Dataset::skipped_rows. Errors that make
  // the rest of a file unreadable (missing file, bad header, unterminated CSV quote) still throw.
  bool skip_malformed = false;
  // GLUE large tasks (sst2, qnli, qqp) only: how many shuffled training rows become the
  // validation split (the paper uses 1,000). Smaller values let tests use tiny files.
  std::size_t large_task_validation_size = 1000;
  // GLUE stsb only: the grid the similarity score is rounded to for the target string.
  // 0.1: the LST authors' code (round_stsb_target: nearest 0.1, "3.85" -> "3.8"), the default.
  // 0.2: the T5 paper's rule (nearest 0.2). Other values: load_glue throws UsageError.
  double stsb_step = 0.1;
};

}  // namespace ladder::data
