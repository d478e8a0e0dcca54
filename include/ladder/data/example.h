#pragma once
// Text-to-text examples and the datasets the trainer consumes. Torch-free: tokenisation and
// collation happen later, so loaders and metrics are testable without libtorch.
#include <cstddef>
#include <string>
#include <vector>

namespace ladder::data {

struct Example {
  std::string source;  // model input, task prefix included ("rte sentence1: A sentence2: B")
  std::string target;  // expected output text ("0", "3.8", free text)
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
};

}  // namespace ladder::data
