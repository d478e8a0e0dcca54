#pragma once
// Shared by the decoder-only method tests: stories260K as a Hugging Face folder, a short
// completion to learn, and a few Adam steps on it.
#include <string>
#include <utility>
#include <vector>

#include "ladder/methods/method.h"
#include "ladder/models/llama/llama2c.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"
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

inline std::string stories_tokenizer_path() { return std::string(LADDER_TEST_DATA) + "/llama2c/tok512.bin"; }

// Converts the committed stories260K checkpoint, with its own tokenizer, into DIR/hf and
// returns that folder.
inline std::string stories_folder(const TempDir& dir) {
  convert_llama2c(std::string(LADDER_TEST_DATA) + "/llama2c/stories260K.bin", dir / "hf", stories_tokenizer_path());
  return dir / "hf";
}

// A prompt and a completion stories260K finds unlikely, in its own tokenizer's ids, ending with
// the model's end of text (<s>, id 1: llama2.c's data separates stories by it); the loss is on
// the completion only.
inline Seq2SeqBatch stories_completion() {
  const Llama2cTokenizer tokenizer = Llama2cTokenizer::load(stories_tokenizer_path());
  std::vector<int64_t> ids = tokenizer.encode("Lily saw a", /*add_bos=*/true);
  const auto prompt = static_cast<int64_t>(ids.size());
  for (int64_t id : tokenizer.encode("purple cow.")) ids.push_back(id);
  ids.push_back(Llama2cTokenizer::kBosId);
  Seq2SeqBatch batch;
  batch.input_ids = torch::tensor(ids).unsqueeze(0);
  batch.labels = batch.input_ids.clone();
  batch.labels.narrow(1, 0, prompt).fill_(-100);
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
