// full, LoRA and BitFit on decoder-only backbones, through the same method classes as on T5.
#include <gtest/gtest.h>

#include <filesystem>

#include "../core/expect_error.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/method.h"
#include "ladder/models/llama/generate.h"
#include "ladder/models/llama/llama2c.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/tensor_io.h"
#include "decoder_test_util.h"
#include "test_util.h"

namespace ladder {
namespace {

std::string llama_dir(const std::string& name) { return std::string(LADDER_TEST_DATA) + "/llama/" + name; }

struct Fixture {
  LlamaForCausalLM model{nullptr};
  std::map<std::string, torch::Tensor> golden;
  Seq2SeqBatch batch;
};

Fixture fixture(const std::string& name) {
  Fixture f;
  f.model = load_causal_lm(llama_dir(name)).model;
  f.golden = read_safetensors(llama_dir(name) + "/golden.safetensors");
  f.batch.input_ids = f.golden.at("input_ids");
  f.batch.attention_mask = f.golden.at("attention_mask");
  f.batch.labels = f.golden.at("labels");
  return f;
}

using test::method_options;

// Full fine-tuning's gradients are the plain model's: the reference's, tensor by tensor, under
// the checkpoint's names.
TEST(DecoderOnlyMethods, FullFineTuningGradientsEqualTheReference) {
  for (const char* name : {"llama-gqa", "qwen2-bias"}) {
    Fixture f = fixture(name);
    auto method = make_method(f.model, method_options("full"));
    method->set_training(false);
    method->forward(f.batch).loss.backward();
    int64_t compared = 0;
    for (auto& [tensor_name, tensor] : method->named_trainable()) {
      ASSERT_TRUE(f.golden.count("grad." + tensor_name)) << tensor_name;
      EXPECT_LE(test::max_rel_diff(tensor.grad(), f.golden.at("grad." + tensor_name)), 1e-4) << name << " " << tensor_name;
      ++compared;
    }
    EXPECT_EQ(compared, static_cast<int64_t>(f.model->parameters().size()));
  }
}

TEST(DecoderOnlyMethods, LoraStartsAsTheModelAndTrainsOnlyItsMatrices) {
  Fixture f = fixture("llama-gqa");
  torch::Tensor plain;
  {
    torch::NoGradGuard no_grad;
    plain = f.model->forward(causal_batch(f.batch)).logits;
  }
  auto method = make_method(f.model, method_options("lora", {{"r", 4}, {"dropout", 0.0}}));
  EXPECT_EQ(method->settings()["target_modules"], (std::vector<std::string>{"q_proj", "v_proj"}));
  method->set_training(true);
  Seq2SeqOutput out = method->forward(f.batch);
  EXPECT_TRUE(torch::equal(out.logits, plain)) << "B = 0: a fresh LoRA is the plain model";
  out.loss.backward();
  const auto trainable = method->named_trainable();
  ASSERT_EQ(trainable.size(), 2u * 2 * 2);  // 2 layers x (q_proj, v_proj) x (A, B)
  EXPECT_EQ(trainable.front().first, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  for (auto& [name, tensor] : trainable) {
    ASSERT_TRUE(tensor.grad().defined()) << name;
    // With B = 0 the first step moves only B.
    if (name.find("lora_B") != std::string::npos) EXPECT_GT(tensor.grad().abs().max().item<double>(), 0) << name;
    else EXPECT_EQ(tensor.grad().abs().max().item<double>(), 0) << name;
  }
  for (const auto& item : f.model->named_parameters())
    EXPECT_EQ(item.value().requires_grad(), item.key().find(".lora_") != std::string::npos) << item.key();

  const std::string message = test::error_of<UsageError>(
      [&] { make_method(fixture("llama-gqa").model, method_options("lora", {{"target_modules", {"q"}}})); });
  EXPECT_TRUE(test::contains(message, "q_proj")) << message;
}

TEST(DecoderOnlyMethods, SavedLoraLoadsBackAndChecksItsBaseModel) {
  test::TempDir dir;
  Fixture f = fixture("llama-gqa");
  auto method = make_method(f.model, method_options("lora", {{"r", 4}, {"target_modules", {"q_proj", "down_proj"}}}));
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : method->named_trainable()) tensor.normal_(0.0, 0.1);
  }
  method->set_training(false);
  torch::Tensor trained = method->forward(f.batch).logits.detach();
  save_method(*method, dir / "adapter");
  const nlohmann::json config = read_json_file(dir / "adapter/adapter_config.json");
  EXPECT_EQ(config["task_type"], "CAUSAL_LM");
  // PEFT's keys only (PEFT before 0.13 refuses others); ladder's facts have a file of their own.
  EXPECT_FALSE(config.contains("visual")) << config.dump();
  EXPECT_EQ(read_json_file(dir / "adapter/ladder_config.json")["base_model"]["config"]["model_type"], "llama");

  auto loaded = load_method(fixture("llama-gqa").model, dir / "adapter");
  loaded->set_training(false);
  EXPECT_LE(test::max_abs_diff(loaded->forward(f.batch).logits, trained), 1e-6);
  std::string message = test::error_of<LoadError>([&] { load_method(fixture("qwen2-bias").model, dir / "adapter"); });
  EXPECT_TRUE(test::contains(message, "different base model")) << message;
  // Mistral's fixture has llama-gqa's shapes: its model_type tells them apart.
  message = test::error_of<LoadError>([&] { load_method(fixture("mistral").model, dir / "adapter"); });
  EXPECT_TRUE(test::contains(message, "backbone model_type: expected \"llama\", found \"mistral\"")) << message;
}

TEST(DecoderOnlyMethods, BitFitTrainsProjectionBiasesPretrainedOnesIncluded) {
  Fixture f = fixture("qwen2-bias");
  const torch::Tensor pretrained = f.model->model->layers[0]->self_attn->q_proj->bias.detach().clone();
  torch::Tensor plain;
  {
    torch::NoGradGuard no_grad;
    plain = f.model->forward(causal_batch(f.batch)).logits;
  }
  auto method = make_method(f.model, method_options("bitfit"));
  method->set_training(false);
  Seq2SeqOutput out = method->forward(f.batch);
  EXPECT_LE(test::max_abs_diff(out.logits, plain), 1e-6);
  std::map<std::string, torch::Tensor> trainable;
  for (auto& [name, tensor] : method->named_trainable()) trainable[name] = tensor;
  EXPECT_EQ(trainable.size(), 2u * 7);  // 2 layers x 7 projections
  ASSERT_TRUE(trainable.count("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_TRUE(torch::equal(trainable["model.layers.0.self_attn.q_proj.bias"], pretrained));
  EXPECT_EQ(trainable["model.layers.0.mlp.down_proj.bias"].abs().max().item<double>(), 0.0);
  out.loss.backward();
  for (auto& [name, tensor] : trainable) EXPECT_TRUE(tensor.grad().defined()) << name;
}

// Adapters after each layer's self-attention and MLP start as the identity (up = 0), train
// with the RMSNorms, and load back.
TEST(DecoderOnlyMethods, AdaptersStartAsTheModelTrainWithTheNormsAndLoadBack) {
  test::TempDir dir;
  Fixture f = fixture("llama-gqa");
  torch::Tensor plain;
  {
    torch::NoGradGuard no_grad;
    plain = f.model->forward(causal_batch(f.batch)).logits;
  }
  const int64_t d = f.model->config.hidden_size, layers = f.model->config.num_hidden_layers;
  auto method = make_method(f.model, method_options("adapter", {{"reduction_factor", 4}}));
  method->set_training(false);
  Seq2SeqOutput out = method->forward(f.batch);
  EXPECT_TRUE(torch::equal(out.logits, plain));
  std::map<std::string, torch::Tensor> trainable;
  for (auto& [name, tensor] : method->named_trainable()) trainable[name] = tensor;
  const int64_t b = d / 4;
  EXPECT_EQ(method->trainable_count(), layers * 2 * (d * b + b + b * d + d) + (2 * layers + 1) * d);
  for (const char* name : {"model.layers.0.self_attn.adapter.down.weight", "model.layers.1.mlp.adapter.up.bias",
                           "model.layers.0.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                           "model.norm.weight"})
    EXPECT_TRUE(trainable.count(name)) << name;
  out.loss.backward();
  for (auto& [name, tensor] : trainable) EXPECT_TRUE(tensor.grad().defined()) << name;
  for (const auto& item : f.model->named_parameters())
    if (!trainable.count(item.key())) EXPECT_FALSE(item.value().requires_grad()) << item.key();
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : trainable) tensor.add_(torch::randn_like(tensor) * 0.1);
  }
  torch::Tensor trained = method->forward(f.batch).logits.detach();
  EXPECT_GT(test::max_abs_diff(trained, plain), 1e-3);
  save_method(*method, dir / "adapter");
  auto loaded = load_method(fixture("llama-gqa").model, dir / "adapter");
  loaded->set_training(false);
  EXPECT_LE(test::max_abs_diff(loaded->forward(f.batch).logits, trained), 1e-6);
}

// A prompt of P vectors reads as P tokens before every sequence: with the embeddings of ids p
// as the prompt, the logits of x are the plain model's on (p, x) without the first P, padding
// and generation (with and without the cache) included.
TEST(DecoderOnlyMethods, APromptIsTokensBeforeEverySequence) {
  Fixture f = fixture("llama-gqa");
  LlamaForCausalLM tuned = fixture("llama-gqa").model;
  const torch::Tensor p = torch::tensor(std::vector<int64_t>{5, 17, 42});
  {
    torch::NoGradGuard no_grad;
    tuned->set_prompt(tuned->embed(p).clone());
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::tensor(std::vector<int64_t>{0, 0, 7, 8, 9, 11, 12, 13, 14, 15}).view({2, 5});
  const torch::Tensor mask = torch::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}).view({2, 5});
  CausalLMBatch prompted{x, mask, torch::Tensor()};
  CausalLMBatch plain{torch::cat({p.unsqueeze(0).expand({2, -1}), x}, 1),
                      torch::cat({torch::ones({2, 3}, torch::kLong), mask}, 1), torch::Tensor()};
  const torch::Tensor got = tuned->forward(prompted).logits;
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 5, f.model->config.vocab_size}));
  const torch::Tensor want = f.model->forward(plain).logits.narrow(1, 3, 5);
  // Row 0's padding positions attend to nothing real: compare the real ones.
  EXPECT_LE(test::max_abs_diff(got[0].narrow(0, 2, 3), want[0].narrow(0, 2, 3)), 1e-5);
  EXPECT_LE(test::max_abs_diff(got[1], want[1]), 1e-5);
  GenerationOptions greedy;
  greedy.max_new_tokens = 6;
  auto reference = start_causal_decoding(*f.model, false);
  const torch::Tensor expected = greedy_generate(*reference, plain.input_ids, plain.attention_mask, f.model->config, greedy);
  for (bool cache : {true, false}) {
    auto session = start_causal_decoding(*tuned, cache);
    EXPECT_TRUE(torch::equal(greedy_generate(*session, x, mask, tuned->config, greedy), expected)) << cache;
  }
}

TEST(DecoderOnlyMethods, PromptTuningTrainsOnlyThePromptAndLoadsBack) {
  test::TempDir dir;
  Fixture f = fixture("llama-gqa");
  auto method = make_method(f.model, method_options("prompt", {{"num_virtual_tokens", 4}}));
  const auto trainable = method->named_trainable();
  ASSERT_EQ(trainable.size(), 1u);
  EXPECT_EQ(trainable[0].first, "prompt_embeddings");
  EXPECT_EQ(trainable[0].second.sizes(), (std::vector<int64_t>{4, f.model->config.hidden_size}));
  method->set_training(true);
  Seq2SeqOutput out = method->forward(f.batch);
  EXPECT_EQ(out.logits.size(1), f.batch.input_ids.size(1));
  out.loss.backward();
  EXPECT_GT(trainable[0].second.grad().abs().max().item<double>(), 0);
  for (const auto& item : f.model->named_parameters())
    EXPECT_EQ(item.value().requires_grad(), item.key() == "prompt_embeddings") << item.key();
  method->set_training(false);
  const torch::Tensor logits = method->forward(f.batch).logits.detach();
  save_method(*method, dir / "prompt");
  auto loaded = load_method(fixture("llama-gqa").model, dir / "prompt");
  loaded->set_training(false);
  EXPECT_LE(test::max_abs_diff(loaded->forward(f.batch).logits, logits), 1e-6);
}

// stories260K learns a fixed completion with adapters and with a prompt, as with LoRA below.
TEST(DecoderOnlyMethods, AdaptersAndPromptsLowerTheLossOfACompletionOnStories260K) {
  for (const char* name : {"adapter", "prompt"}) {
    test::TempDir dir;
    const nlohmann::json settings =
        std::string(name) == "adapter" ? nlohmann::json{{"reduction_factor", 4}} : nlohmann::json{{"num_virtual_tokens", 8}};
    auto method = make_method(load_causal_lm(test::stories_folder(dir)).model, method_options(name, settings));
    auto [first, last] = test::fit(*method, test::stories_completion(), 40, std::string(name) == "prompt" ? 0.1 : 1e-2);
    EXPECT_GT(first, 3.0) << name;
    EXPECT_LT(last, 0.5 * first) << name << ": first " << first << ", last " << last;
  }
}

// stories260K (a real pretrained model) learns a fixed completion with LoRA: the loss on the
// completion tokens falls from above 3 to below 0.1.
TEST(DecoderOnlyMethods, LoraLowersTheLossOfACompletionOnStories260K) {
  test::TempDir dir;
  auto method = make_method(load_causal_lm(test::stories_folder(dir)).model,
                            method_options("lora", {{"r", 8}, {"alpha", 16}, {"dropout", 0.0}}));
  auto [first, last] = test::fit(*method, test::stories_completion(), 40, 1e-2);
  EXPECT_GT(first, 3.0);
  EXPECT_LT(last, 0.1) << "first " << first << ", last " << last;
}

}  // namespace
}  // namespace ladder
