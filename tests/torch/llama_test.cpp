// Decoder-only models (LlamaForCausalLM, Qwen2, Mistral) against tests/reference/llama_reference.py's
// plain-PyTorch reference of the Hugging Face math, and llama2.c's stories260K against its run.c
// semantics (tests/reference/llama2c_reference.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <cmath>
#include <fstream>
#include <tuple>

#include "../core/expect_error.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/method.h"
#include "ladder/models/llama/generate.h"
#include "ladder/models/llama/llama2c.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {
namespace fs = std::filesystem;

std::string llama_dir(const std::string& name) { return std::string(LADDER_TEST_DATA) + "/llama/" + name; }
std::string llama2c_dir() { return std::string(LADDER_TEST_DATA) + "/llama2c"; }

class LlamaParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    loaded = load_causal_lm(llama_dir(GetParam()));
    loaded.model->eval();
    golden = read_safetensors(llama_dir(GetParam()) + "/golden.safetensors");
    batch.input_ids = golden.at("input_ids");
    batch.attention_mask = golden.at("attention_mask");
    batch.labels = golden.at("labels");
  }
  LoadedCausalLM loaded;
  std::map<std::string, torch::Tensor> golden;
  CausalLMBatch batch;
};

TEST_P(LlamaParity, HiddenStatesLogitsAndLoss) {
  torch::NoGradGuard no_grad;
  CausalLMOutput out = loaded.model->forward(batch, /*collect_hidden=*/true);
  const int64_t layers = loaded.model->config.num_hidden_layers;
  ASSERT_EQ(out.hidden_states.size(), static_cast<size_t>(layers + 1));
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    EXPECT_LE(test::max_abs_diff(out.hidden_states[i], golden.at("hidden_states." + std::to_string(i))), 2e-5)
        << "hidden state " << i;
  EXPECT_LE(test::max_abs_diff(out.logits, golden.at("logits")), 2e-5);
  EXPECT_LE(test::max_abs_diff(out.loss.reshape({1}), golden.at("loss")), 1e-5);
}

TEST_P(LlamaParity, GradientsOfEveryParameter) {
  CausalLMOutput out = loaded.model->forward(batch);
  out.loss.backward();
  int64_t compared = 0;
  for (const auto& item : loaded.model->named_parameters()) {
    const std::string key = "grad." + item.key();
    ASSERT_TRUE(golden.count(key)) << key << " missing from the golden file";
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_LE(test::max_rel_diff(item.value().grad(), golden.at(key)), 1e-4) << item.key();
    ++compared;
  }
  int64_t golden_grads = 0;
  for (const auto& [name, t] : golden) golden_grads += name.rfind("grad.", 0) == 0;
  EXPECT_EQ(compared, golden_grads);
}

TEST_P(LlamaParity, GreedyWithAndWithoutCacheEqualsReference) {
  torch::NoGradGuard no_grad;
  torch::Tensor prompt = batch.input_ids.narrow(0, 0, 1).narrow(1, 0, 4);
  GenerationOptions options;
  options.max_new_tokens = 6;
  for (bool cache : {true, false}) {
    auto session = start_causal_decoding(*loaded.model, cache);
    torch::Tensor ids = greedy_generate(*session, prompt, {}, loaded.model->config, options);
    EXPECT_TRUE(torch::equal(ids, golden.at("greedy_ids"))) << (cache ? "cached " : "uncached ") << ids;
  }
}

// A left-padded batch, decoded with the cache, gives each row the logits it has alone.
TEST_P(LlamaParity, LeftPaddedCachedDecodingEqualsEachRowAlone) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> long_row, short_row;
  for (int64_t t = 0; t < 7; ++t) long_row.push_back(batch.input_ids[0][t].item<int64_t>());
  for (int64_t t = 0; t < 3; ++t) short_row.push_back(batch.input_ids[1][t].item<int64_t>());
  auto [ids, mask] = left_padded_batch({long_row, short_row}, 0);
  DecoderCache cache;
  CausalLMBatch step;
  step.input_ids = ids.narrow(1, 0, 5);
  step.attention_mask = mask.narrow(1, 0, 5);
  loaded.model->forward(step, false, nullptr, &cache);
  step.input_ids = ids.narrow(1, 5, 2);
  step.attention_mask = mask;
  torch::Tensor last = loaded.model->forward(step, false, nullptr, &cache).logits;
  for (int64_t row = 0; row < 2; ++row) {
    const std::vector<int64_t>& alone = row == 0 ? long_row : short_row;
    CausalLMBatch single;
    single.input_ids = torch::tensor(alone, torch::kLong).unsqueeze(0);
    torch::Tensor reference = loaded.model->forward(single).logits[0];
    const int64_t n = static_cast<int64_t>(alone.size());
    EXPECT_LE(test::max_abs_diff(last[row], reference.narrow(0, n - 2, 2)), 2e-5) << "row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaParity,
                         ::testing::Values("llama-gqa", "llama3-tied-scaled", "qwen2-bias", "mistral"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

TEST(LlamaLoad, ConfigsAreReadAsTheirFamiliesSpellThem) {
  const LlamaConfig qwen = load_causal_lm(llama_dir("qwen2-bias")).model->config;
  EXPECT_EQ(qwen.model_type, "qwen2");
  EXPECT_TRUE(qwen.attention_bias);
  EXPECT_FALSE(qwen.o_proj_bias);
  EXPECT_EQ(qwen.sliding_window, 0) << "Qwen2's window is off unless use_sliding_window";
  const LlamaConfig llama3 = load_causal_lm(llama_dir("llama3-tied-scaled")).model->config;
  EXPECT_TRUE(llama3.rope_scaling.enabled());
  EXPECT_EQ(llama3.eos_token_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(llama3.tie_word_embeddings);
  EXPECT_FALSE(load_causal_lm(llama_dir("llama3-tied-scaled")).model->lm_head);
}

TEST(LlamaLoad, ShardedCheckpointEqualsSingleFile) {
  torch::NoGradGuard no_grad;
  auto single = load_causal_lm(llama_dir("llama-gqa"));
  auto sharded = load_causal_lm(llama_dir("llama-gqa-sharded"));
  auto a = single.model->named_parameters(), b = sharded.model->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
}

TEST(LlamaLoad, FamilyIsTakenFromModelType) {
  EXPECT_EQ(model_family(llama_dir("mistral")), ModelFamily::causal_lm);
  EXPECT_EQ(model_family("arch:" + llama_dir("qwen2-bias")), ModelFamily::causal_lm);
  EXPECT_EQ(model_family("arch:llama-1b"), ModelFamily::causal_lm);
  EXPECT_EQ(model_family("arch:t5-small"), ModelFamily::t5);
  EXPECT_EQ(model_family(test::fixture_dir("t5-tiny-v1_1")), ModelFamily::t5);
}

// Copies a fixture with one change to its config or tensors.
std::string edited_copy(const test::TempDir& dir, const std::string& fixture,
                        const std::function<void(nlohmann::json&, std::map<std::string, torch::Tensor>&)>& edit) {
  const std::string out = dir / fixture;
  fs::create_directories(out);
  nlohmann::json config = read_json_file(llama_dir(fixture) + "/config.json");
  auto tensors = read_safetensors(llama_dir(fixture) + "/model.safetensors");
  edit(config, tensors);
  write_json_atomically(out + "/config.json", config);
  write_safetensors(out + "/model.safetensors", tensors);
  return out;
}

TEST(LlamaLoad, CheckpointThatDoesNotFitIsNamedTensorByTensor) {
  test::TempDir dir;
  std::string missing = edited_copy(dir, "llama-gqa", [](auto&, auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
  std::string message = test::error_of<LoadError>([&] { load_causal_lm(missing); });
  EXPECT_TRUE(test::contains(message, "missing tensors: model.layers.1.mlp.up_proj.weight")) << message;

  test::TempDir dir2;
  std::string wrong = edited_copy(dir2, "llama-gqa", [](auto&, auto& t) {
    t["model.layers.0.self_attn.k_proj.weight"] = torch::zeros({32, 32});
  });
  message = test::error_of<LoadError>([&] { load_causal_lm(wrong); });
  EXPECT_TRUE(test::contains(message, "wrong shape: model.layers.0.self_attn.k_proj.weight (checkpoint [32, 32], model [16, 32])"))
      << message;

  test::TempDir dir3;
  std::string untied = edited_copy(dir3, "llama3-tied-scaled", [](auto& c, auto&) { c["tie_word_embeddings"] = false; });
  message = test::error_of<LoadError>([&] { load_causal_lm(untied); });
  EXPECT_TRUE(test::contains(message, "no lm_head.weight")) << message;

  // A tied config over a checkpoint with its own head would drop that head: refused. A copy of
  // the embedding under lm_head.weight is fine.
  test::TempDir dir4;
  std::string dropped = edited_copy(dir4, "llama-gqa", [](auto& c, auto&) { c["tie_word_embeddings"] = true; });
  message = test::error_of<LoadError>([&] { load_causal_lm(dropped); });
  EXPECT_TRUE(test::contains(message, "differs from model.embed_tokens.weight")) << message;
  test::TempDir dir5;
  std::string copied = edited_copy(dir5, "llama3-tied-scaled", [](auto&, auto& t) { t["lm_head.weight"] = t.at("model.embed_tokens.weight").clone(); });
  EXPECT_NO_THROW(load_causal_lm(copied));
}

TEST(LlamaLoad, BadConfigsNameTheFileAndTheKey) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](auto& c) { c["num_key_value_heads"] = 3; }, "must be a multiple of num_key_value_heads"},
      {[](auto& c) { c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; }, "rope_scaling type \"yarn\""},
      {[](auto& c) { c["hidden_act"] = "gelu"; }, "hidden_act \"gelu\""},
      {[](auto& c) { c.erase("hidden_size"); }, "missing required key \"hidden_size\""},
      {[](auto& c) { c["eos_token_id"] = 4000; }, "\"eos_token_id\" is 4000, outside the vocabulary"},
      {[](auto& c) { c["rms_norm_eps"] = -1; }, "\"rms_norm_eps\" must be a positive number"},
      {[](auto& c) { c["model_type"] = "gpt2"; }, "model_type is \"gpt2\""},
  };
  for (const auto& item : cases) {
    nlohmann::json config = read_json_file(llama_dir("llama-gqa") + "/config.json");
    item.edit(config);
    const std::string message = test::error_of<FormatError>([&] { LlamaConfig::from_json(config, "x/config.json"); });
    EXPECT_TRUE(test::contains(message, "x/config.json: ")) << message;
    EXPECT_TRUE(test::contains(message, item.expected)) << message;
  }
}

TEST(LlamaLoad, RandomPresetsBuildWithTheirPublishedShapes) {
  ModelOptions options;
  options.seed = 5;
  auto tiny = load_causal_lm("arch:stories260k", options);
  EXPECT_EQ(tiny.model->model->layers.size(), 5u);
  EXPECT_EQ(tiny.model->model->layers[0]->self_attn->k_proj->weight.sizes(), (std::vector<int64_t>{32, 64}));
  const LlamaConfig big = LlamaConfig::builtin("llama-1b");
  EXPECT_EQ(big.num_key_value_heads, 8);
  EXPECT_EQ(big.head_dim, 64);
  EXPECT_TRUE(big.rope_scaling.enabled());
  EXPECT_TRUE(LlamaConfig::builtin("qwen2-0.5b").attention_bias);
}

TEST(Llama2c, ConversionEqualsTheIndependentHuggingFaceLayout) {
  test::TempDir dir;
  const LlamaConfig config = convert_llama2c(llama2c_dir() + "/stories260K.bin", dir / "hf");
  EXPECT_EQ(config.num_key_value_heads, 4);
  auto converted = read_safetensors(dir / "hf/model.safetensors");
  auto expected = read_safetensors(llama2c_dir() + "/hf-expected/model.safetensors");
  ASSERT_EQ(converted.size(), expected.size());
  for (const auto& [name, t] : expected) {
    ASSERT_TRUE(converted.count(name)) << name;
    EXPECT_TRUE(torch::equal(converted.at(name), t)) << name;
  }
  // A second conversion into the same folder would overwrite it: refused.
  const std::string message = test::error_of<UsageError>([&] { convert_llama2c(llama2c_dir() + "/stories260K.bin", dir / "hf"); });
  EXPECT_TRUE(test::contains(message, "exists")) << message;
}

TEST(Llama2c, LogitsAndGreedyFollowRunC) {
  test::TempDir dir;
  convert_llama2c(llama2c_dir() + "/stories260K.bin", dir / "hf");
  auto loaded = load_causal_lm(dir / "hf");
  loaded.model->eval();
  auto golden = read_safetensors(llama2c_dir() + "/golden.safetensors");
  torch::NoGradGuard no_grad;
  for (int k = 0; k < 3; ++k) {
    CausalLMBatch batch;
    batch.input_ids = golden.at("ids." + std::to_string(k)).unsqueeze(0);
    torch::Tensor logits = loaded.model->forward(batch).logits[0];
    EXPECT_LE(test::max_abs_diff(logits, golden.at("logits." + std::to_string(k))), 1e-4) << "sequence " << k;
  }
  GenerationOptions options;
  options.max_new_tokens = golden.at("greedy.ids").size(0);  // 256: run.c's default length
  for (bool cache : {true, false}) {
    auto session = start_causal_decoding(*loaded.model, cache);
    torch::Tensor ids = greedy_generate(*session, torch::tensor({int64_t{1}}).unsqueeze(0), {}, loaded.model->config, options);
    EXPECT_TRUE(torch::equal(ids[0], golden.at("greedy.ids"))) << (cache ? "cached " : "uncached ") << ids;
  }
}

TEST(Llama2c, DamagedCheckpointsAreRefusedWithTheReason) {
  test::TempDir dir;
  const std::string bytes = test::read_text(llama2c_dir() + "/stories260K.bin");
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir / name, std::ios::binary) << content;
    return dir / name;
  };
  std::string message = test::error_of<FormatError>([&] { read_llama2c(write("short.bin", bytes.substr(0, bytes.size() - 4))); });
  EXPECT_TRUE(test::contains(message, "file size: expected 1056540 bytes")) << message;
  EXPECT_TRUE(test::contains(message, "truncated?")) << message;
  std::string versioned = bytes;
  versioned.replace(0, 4, std::string("\x32\x34\x6b\x61", 4));
  message = test::error_of<FormatError>([&] { read_llama2c(write("v1.bin", versioned)); });
  EXPECT_TRUE(test::contains(message, "versioned llama2.c export")) << message;
  message = test::error_of<FormatError>([&] { read_llama2c(write("tiny.bin", "abc")); });
  EXPECT_TRUE(test::contains(message, "too short")) << message;
  std::string odd_heads = bytes;
  const int32_t three = 3;
  odd_heads.replace(12, 4, reinterpret_cast<const char*>(&three), 4);  // n_heads
  message = test::error_of<FormatError>([&] { read_llama2c(write("heads.bin", odd_heads)); });
  EXPECT_TRUE(test::contains(message, "n_heads 3")) << message;
  EXPECT_FALSE(fs::exists(dir / "out")) << "nothing written";
}


// int8/NF4 backbones (QST's 4-bit backbone): every Linear and the embedding stored quantised,
// logits within the formats' error, and LST runs over it with magnitude pruning.
TEST(LlamaQuantized, LogitsStayCloseAndNoFullPrecisionWeightsRemain) {
  auto logits_of = [](const std::string& fixture, QuantFormat format) {
    ModelOptions options;
    options.quantization = format;
    auto loaded = load_causal_lm(llama_dir(fixture), options);
    auto golden = read_safetensors(llama_dir(fixture) + "/golden.safetensors");
    CausalLMBatch batch;
    batch.input_ids = golden.at("input_ids");
    batch.attention_mask = golden.at("attention_mask");
    torch::NoGradGuard no_grad;
    if (format != QuantFormat::none)
      for (const auto& item : loaded.model->named_parameters()) {
        const bool small = item.key().find("norm") != std::string::npos || item.key().find(".bias") != std::string::npos;
        EXPECT_TRUE(small) << item.key() << " is still a full-precision parameter";
      }
    return loaded.model->forward(batch).logits;
  };
  auto relative_rms = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item<double>();
  };
  const std::vector<std::tuple<std::string, double, double>> cases = {{"llama-gqa", 0.0265, 0.397},
                                                                      {"qwen2-bias", 0.0286, 0.429}};
  for (const auto& [fixture, int8_measured, nf4_measured] : cases) {
    const torch::Tensor reference = logits_of(fixture, QuantFormat::none);
    const double int8 = relative_rms(logits_of(fixture, QuantFormat::int8), reference);
    const double nf4 = relative_rms(logits_of(fixture, QuantFormat::nf4), reference);
    std::cout << fixture << ": relative RMS logit error int8 " << int8 << ", nf4 " << nf4 << "\n";
    EXPECT_LE(int8, 2.5 * int8_measured) << fixture;
    EXPECT_LE(nf4, 2.5 * nf4_measured) << fixture;
    EXPECT_GT(nf4, int8) << fixture;
  }
  ModelOptions nf4;
  nf4.quantization = QuantFormat::nf4;
  MethodOptions lst;
  lst.name = "lst";
  lst.settings = {{"reduction", 2}, {"side_init", "magnitude"}};
  auto method = make_method(load_causal_lm(llama_dir("llama-gqa"), nf4).model, lst);
  auto golden = read_safetensors(llama_dir("llama-gqa") + "/golden.safetensors");
  Seq2SeqBatch batch;
  batch.input_ids = golden.at("input_ids");
  batch.labels = golden.at("labels");
  torch::Tensor loss = method->forward(batch).loss;
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
  for (auto& [name, tensor] : method->named_trainable()) EXPECT_TRUE(tensor.grad().defined()) << name;
}

}  // namespace
}  // namespace ladder
