#pragma once
// Shared by the decoder-only method tests: stories260K as a Hugging Face folder, a short
// completion to learn, and a few Adam steps on it.
#include <string>
#include <utility>

#include "ladder/methods/method.h"
#include "ladder/models/llama/llama2c.h"
#include "test_util.h"

namespace ladder::test {

inline MethodOptions method_options(const std::string& name, nlohmann::json settings = nlohmann::json::object(),
                                    uint64_t seed = 7) {
  MethodOptions o;
  o.name = name;
  o.settings = std::move(settings);
  o.seed = seed;
  return o;
}

// Converts the committed stories260K checkpoint into DIR/hf and returns that folder.
inline std::string stories_folder(const TempDir& dir) {
  convert_llama2c(std::string(LADDER_TEST_DATA) + "/llama2c/stories260K.bin", dir / "hf");
  return dir / "hf";
}

// A 5-token prompt and a 5-token completion (the loss is on the completion only). The ids are
// pieces stories260K was trained on (>= 259): ids 0-258 (<unk>, <s>, </s> and the 256 byte
// pieces) never occur in TinyStories and share one embedding to within 1e-3, so with the tied
// head frozen no method but full fine-tuning can tell them apart.
inline Seq2SeqBatch stories_completion() {
  Seq2SeqBatch batch;
  batch.input_ids = torch::tensor(std::vector<int64_t>{1, 461, 401, 378, 455, 473, 300, 420, 350, 280}).unsqueeze(0);
  batch.labels = batch.input_ids.clone();
  batch.labels.narrow(1, 0, 5).fill_(-100);
  return batch;
}

// The loss before the first and before the last of `steps` Adam updates.
inline std::pair<double, double> fit(FineTuningMethod& method, const Seq2SeqBatch& batch, int steps, double lr) {
  torch::optim::Adam optimizer(method.trainable_parameters(), torch::optim::AdamOptions(lr));
  method.set_training(true);
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    optimizer.zero_grad();
    torch::Tensor loss = method.forward(batch).loss;
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    loss.backward();
    optimizer.step();
  }
  return {first, last};
}

}  // namespace ladder::test
