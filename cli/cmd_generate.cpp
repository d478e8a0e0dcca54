// `ladder generate --model DIR TEXT...`: greedy decoding with the plain backbone, one line per text.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/models/generate.h"
#include "ladder/models/t5/load.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "runtime_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string tokenizer;  // default: <model>/spiece.model
  int64_t max_new_tokens = 20;
  int64_t max_source_length = 512;
  std::vector<std::string> texts;
  RuntimeOptions runtime;
};

void run_generate(const GenerateOptions& o) {
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  const torch::Device device = model_options.device;
  LoadedModel loaded = load_model(o.model, model_options);
  std::string tokenizer_path = o.tokenizer.empty() ? loaded.tokenizer_path : o.tokenizer;
  if (tokenizer_path.empty())
    throw UsageError(o.model + ": no spiece.model in the model directory (pass --tokenizer FILE)");
  T5Tokenizer tokenizer = T5Tokenizer::load(tokenizer_path);
  const T5Config& config = loaded.model->config;
  if (tokenizer.vocab_size() > config.vocab_size)
    throw UsageError(expected_found(tokenizer_path + ": tokenizer vocabulary",
                                    "at most the model's " + std::to_string(config.vocab_size),
                                    std::to_string(tokenizer.vocab_size()), "tokenizer of another model?"));

  // Right-padded batch of all texts, as the reference does it.
  std::vector<std::vector<int64_t>> encoded;
  int64_t longest = 1;
  for (const auto& text : o.texts) {
    encoded.push_back(tokenizer.encode(text, o.max_source_length));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(encoded.back().size()));
  }
  const int64_t batch = static_cast<int64_t>(encoded.size());
  torch::Tensor ids = torch::full({batch, longest}, config.pad_token_id, torch::kLong);
  torch::Tensor mask = torch::zeros({batch, longest}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = static_cast<int64_t>(encoded[b].size());
    ids[b].narrow(0, 0, n).copy_(torch::tensor(encoded[b], torch::kLong));
    mask[b].narrow(0, 0, n).fill_(1);
  }

  loaded.model->eval();
  torch::NoGradGuard no_grad;
  GenerationOptions options;
  options.max_new_tokens = o.max_new_tokens;
  options.vocab_limit = tokenizer.vocab_size();  // T5 pads its embedding past the tokenizer's ids
  torch::Tensor generated = greedy_generate(*loaded.model, ids.to(device), mask.to(device), options).to(torch::kCPU);
  for (int64_t b = 0; b < batch; ++b) {
    // Skip the start token; stop at the first </s> (later positions are padding).
    std::vector<int64_t> out;
    for (int64_t t = 1; t < generated.size(1); ++t) {
      const int64_t id = generated[b][t].item<int64_t>();
      if (id == config.eos_token_id) break;
      out.push_back(id);
    }
    std::cout << tokenizer.decode(out) << "\n";
  }
}

}  // namespace

void add_generate_command(CLI::App& root) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* app = root.add_subcommand("generate", "Greedy generation with a model, one output line per input text");
  app->add_option("--model", options->model, "Hugging Face model directory or arch:NAME")->required();
  app->add_option("--tokenizer", options->tokenizer, "sentencepiece model (default: MODEL/spiece.model)");
  app->add_option("--max-new-tokens", options->max_new_tokens, "tokens to generate at most")
      ->capture_default_str()
      ->check(whole_number(1, kMaxCount));
  app->add_option("--max-source-length", options->max_source_length, "input ids kept per text, </s> included")
      ->capture_default_str()
      ->check(whole_number(1, kMaxCount));
  app->add_option("text", options->texts, "input texts")->required();
  add_runtime_options(app, options->runtime);
  add_backbone_dtype_option(app, options->runtime);
  app->callback([options] { run_generate(*options); });
}

}  // namespace ladder::cli
