// Properties every baseline method must have (PEFT's test list), on the tiny fixture models:
// a fresh method leaves the model's outputs alone, exactly the intended tensors train and get
// gradients, save -> load round trips (trainable again after loading), LoRA merged ==
// unmerged, a short run lowers the loss, and a saved method refuses another backbone.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "../core/expect_error.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/lora.h"
#include "ladder/methods/merge.h"
#include "ladder/methods/method.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {
namespace fs = std::filesystem;

struct Case {
  std::string fixture, method;
  nlohmann::json settings;
  std::string label;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label << " " << c.settings.dump(); }

// The other gated/relu fixture, for "wrong backbone" checks.
std::string other_fixture(const std::string& fixture) {
  return fixture == "t5-tiny-v1_0" ? "t5-tiny-v1_1" : "t5-tiny-v1_0";
}

using test::golden_batch;

T5ForConditionalGeneration load_backbone(const std::string& fixture, torch::ScalarType dtype = torch::kFloat) {
  ModelOptions options;
  options.dtype = dtype;
  auto model = load_model(test::fixture_dir(fixture), options).model;
  model->eval();
  return model;
}

std::unique_ptr<FineTuningMethod> build(const Case& c, T5ForConditionalGeneration backbone, uint64_t seed = 0,
                                        torch::ScalarType dtype = torch::kFloat) {
  MethodOptions options;
  options.name = c.method;
  options.settings = c.settings;
  options.seed = seed;
  options.backbone_dtype = dtype;
  auto method = make_method(std::move(backbone), options);
  method->set_training(false);
  return method;
}

torch::Tensor logits_of(FineTuningMethod& method, const Seq2SeqBatch& batch) {
  torch::NoGradGuard no_grad;
  return method.forward(batch).logits;
}

torch::Tensor plain_logits(const std::string& fixture, const Seq2SeqBatch& batch,
                           torch::ScalarType dtype = torch::kFloat) {
  torch::NoGradGuard no_grad;
  return load_backbone(fixture, dtype)->forward(batch).logits;
}

// Seeded noise on every trainable tensor, so that the method's own modules change the output.
void perturb(FineTuningMethod& method, uint64_t seed, double scale) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, tensor] : method.named_trainable())
    tensor.add_(torch::randn(tensor.sizes(), gen, torch::kFloat).to(tensor.scalar_type()) * scale);
}

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ladder_methods_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

// Trainable parameter counts worked out from the architecture, independently of the methods.
int64_t expected_trainable(const Case& c, const T5Config& cfg, int64_t backbone_count) {
  const int64_t E = cfg.num_layers, D = cfg.num_decoder_layers, d = cfg.d_model, inner = cfg.inner_dim(),
                ff = cfg.d_ff;
  const int64_t attentions = E + 2 * D, ff_layers = E + D;
  if (c.method == "full") return backbone_count;
  if (c.method == "lora") {
    const int64_t r = c.settings.value("r", 32);
    if (!c.settings.contains("target_modules")) return r * (d + inner) * 2 * attentions;  // q and v
    // q, k, v: d -> inner; o: inner -> d; FF in: d -> ff (1 or 2 of them); wo: ff -> d.
    return r * (d + inner) * 4 * attentions + r * (d + ff) * (cfg.is_gated() ? 3 : 2) * ff_layers;
  }
  if (c.method == "adapter") {
    const int64_t b = d / 16;
    const int64_t adapter = d * b + b + b * d + d;
    const int64_t norms = d * ((2 * E + 1) + (3 * D + 1));
    return adapter * 2 * ff_layers + norms;
  }
  if (c.method == "bitfit") return (3 * inner + d) * attentions + ((cfg.is_gated() ? 2 : 1) * ff + d) * ff_layers;
  if (c.method == "prompt") return c.settings.value("num_virtual_tokens", 100) * d;
  throw std::logic_error("no expected count for " + c.method);
}

// What every trainable name must look like.
std::regex name_pattern(const Case& c) {
  if (c.method == "lora") {
    const std::string targets = c.settings.contains("target_modules") ? "q|k|v|o|wi|wi_0|wi_1|wo" : "q|v";
    return std::regex(R"(base_model\.model\.(encoder|decoder)\.block\.\d+\.layer\.\d\.)"
                      R"((SelfAttention|EncDecAttention|DenseReluDense)\.()" +
                      targets + R"()\.lora_[AB]\.weight)");
  }
  if (c.method == "adapter")
    return std::regex(R"((encoder|decoder)\.(block\.\d+\.layer\.\d\.adapter\.(down|up)\.(weight|bias)|)"
                      R"(block\.\d+\.layer\.\d\.layer_norm\.weight|final_layer_norm\.weight))");
  if (c.method == "bitfit")
    return std::regex(R"((encoder|decoder)\.block\.\d+\.layer\.\d\.(SelfAttention|EncDecAttention|DenseReluDense))"
                      R"(\.(q|k|v|o|wi|wi_0|wi_1|wo)\.bias)");
  if (c.method == "prompt") return std::regex("prompt_embeddings");
  return std::regex(".*");  // full: compared with the checkpoint's names instead
}

class MethodProperties : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { batch = golden_batch(GetParam().fixture); }
  Seq2SeqBatch batch;
};

TEST_P(MethodProperties, FreshMethodKeepsTheModelsOutputs) {
  const Case& c = GetParam();
  auto method = build(c, load_backbone(c.fixture));
  if (c.method == "prompt") {
    // The prompt changes the input: the encoder sees num_virtual_tokens more positions, all attended.
    const int64_t n = c.settings.value("num_virtual_tokens", 100);
    auto& model = method->backbone();
    torch::NoGradGuard no_grad;
    Seq2SeqOutput out = model->forward(batch, /*collect_hidden=*/true);
    EXPECT_EQ(out.encoder_hidden_states.front().size(1), batch.input_ids.size(1) + n);
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 5, model->config.vocab_size}));
    torch::Tensor mask = model->encoder_mask(batch.input_ids, batch.attention_mask);
    ASSERT_EQ(mask.size(1), batch.input_ids.size(1) + n);
    EXPECT_TRUE(torch::all(mask.slice(1, 0, n) == 1).item<bool>());
    EXPECT_TRUE(torch::equal(mask.slice(1, n), batch.attention_mask));
    // Each prompt vector starts as the embedding of a distinct token id below 5000.
    torch::Tensor distances =
        (model->prompt_embeddings.unsqueeze(1) - model->shared->weight.unsqueeze(0)).abs().amax(-1);
    auto [nearest, ids] = distances.min(1);
    EXPECT_EQ(nearest.max().item<double>(), 0.0);
    EXPECT_LT(ids.max().item<int64_t>(), std::min<int64_t>(5000, model->config.vocab_size));
    std::set<int64_t> distinct;
    for (int64_t i = 0; i < ids.numel(); ++i) distinct.insert(ids[i].item<int64_t>());
    EXPECT_EQ(static_cast<int64_t>(distinct.size()), n);
    return;
  }
  EXPECT_LE(test::max_abs_diff(logits_of(*method, batch), plain_logits(c.fixture, batch)), 1e-6);
}

TEST_P(MethodProperties, ExactlyTheIntendedParametersTrain) {
  const Case& c = GetParam();
  auto plain = load_backbone(c.fixture);
  auto method = build(c, load_backbone(c.fixture));
  EXPECT_EQ(method->backbone_count(), FineTuningMethod::count_parameters(*plain));

  std::set<const void*> trainable;
  std::set<std::string> names;
  const std::regex pattern = name_pattern(c);
  for (auto& [name, tensor] : method->named_trainable()) {
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_TRUE(trainable.insert(tensor.unsafeGetTensorImpl()).second) << "tensor listed twice: " << name;
    EXPECT_TRUE(std::regex_match(name, pattern)) << name;
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
  }
  if (c.method == "full") {
    std::set<std::string> expected;
    for (const auto& item : plain->named_parameters()) expected.insert(item.key());
    EXPECT_EQ(names, expected);
  }
  // requires_grad is true on exactly the trainable tensors, and those are part of the model.
  size_t registered = 0;
  for (const auto& item : method->backbone()->named_parameters()) {
    const bool listed = trainable.count(item.value().unsafeGetTensorImpl()) > 0;
    registered += listed;
    EXPECT_EQ(item.value().requires_grad(), listed) << item.key();
  }
  EXPECT_EQ(registered, trainable.size());
  EXPECT_EQ(method->trainable_count(), expected_trainable(c, method->config(), method->backbone_count()));
}

TEST_P(MethodProperties, OnlyTrainableParametersGetGradients) {
  const Case& c = GetParam();
  auto method = build(c, load_backbone(c.fixture));
  method->set_training(true);
  method->forward(batch).loss.backward();
  std::set<const void*> trainable;
  double norm = 0.0;
  for (auto& [name, tensor] : method->named_trainable()) {
    trainable.insert(tensor.unsafeGetTensorImpl());
    ASSERT_TRUE(tensor.grad().defined()) << name;
    norm += tensor.grad().pow(2).sum().item<double>();
  }
  EXPECT_GT(norm, 0.0);
  for (const auto& item : method->backbone()->named_parameters())
    if (!trainable.count(item.value().unsafeGetTensorImpl()))
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
}

TEST_P(MethodProperties, SaveLoadRoundTrip) {
  const Case& c = GetParam();
  auto method = build(c, load_backbone(c.fixture), /*seed=*/3);
  // Compared with the fresh method rather than the plain model: a fresh prompt already changes
  // the outputs, so only this comparison shows that the perturbed prompt is what is used.
  const torch::Tensor fresh = logits_of(*method, batch);
  perturb(*method, 11, c.method == "full" ? 0.02 : 0.1);
  torch::Tensor before = logits_of(*method, batch);
  // The perturbed method's modules are wired into the forward pass (so a load that dropped
  // them would show below).
  EXPECT_GT(test::max_abs_diff(before, fresh), 1e-3);

  TempDir dir;
  save_method(*method, dir.path);
  auto loaded = load_method(load_backbone(c.fixture), dir.path);
  loaded->set_training(false);
  EXPECT_EQ(loaded->name(), c.method);
  EXPECT_EQ(loaded->settings(), method->settings());
  EXPECT_LE(test::max_abs_diff(logits_of(*loaded, batch), before), 1e-6);
  // Loaded weights train on (PEFT's "reloaded frozen" trap).
  for (auto& [name, tensor] : loaded->named_trainable()) EXPECT_TRUE(tensor.requires_grad()) << name;
}

TEST_P(MethodProperties, ShortTrainingRunLowersTheLoss) {
  const Case& c = GetParam();
  auto method = build(c, load_backbone(c.fixture));
  // Rates from a sweep on the fixtures (1e-3 .. 0.3); prompt tuning's is the paper's 0.3.
  // Ratios final/initial at these rates, v1_0 / v1_1: full 0.006 / 1e-5, lora 0.10 / 2e-5,
  // adapter 0.02 / 5e-5, bitfit 0.60 / 0.07 (2,176 biases plateau early), prompt 0.38 / 0.04.
  const double lr = c.method == "prompt" ? 0.3 : c.method == "adapter" || c.method == "bitfit" ? 3e-2 : 1e-2;
  torch::optim::AdamW optimizer(method->trainable_parameters(), torch::optim::AdamWOptions(lr).weight_decay(0.0));
  auto eval_loss = [&] {
    torch::NoGradGuard no_grad;
    method->set_training(false);
    return method->forward(batch).loss.item<double>();
  };
  const double initial = eval_loss();
  for (int step = 0; step < 30; ++step) {
    method->set_training(true);
    optimizer.zero_grad();
    method->forward(batch).loss.backward();
    optimizer.step();
  }
  const double final_loss = eval_loss();
  EXPECT_LT(final_loss, 0.7 * initial) << "initial " << initial << ", after 30 steps " << final_loss;
}

TEST_P(MethodProperties, LoadingOntoAnotherBackboneFails) {
  const Case& c = GetParam();
  auto method = build(c, load_backbone(c.fixture));
  TempDir dir;
  save_method(*method, dir.path);
  try {
    load_method(load_backbone(other_fixture(c.fixture)), dir.path);
    ADD_FAILURE() << "loaded onto " << other_fixture(c.fixture);
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("base model"), std::string::npos) << e.what();
  }
}

TEST_P(MethodProperties, UnknownSettingIsAUsageError) {
  Case c = GetParam();
  c.settings["no_such_setting"] = 1;
  EXPECT_THROW(build(c, load_backbone(c.fixture)), UsageError);
}

TEST_P(MethodProperties, Bf16BackboneTrainsFp32Weights) {
  const Case& c = GetParam();
  auto method = build(c, load_backbone(c.fixture, torch::kBFloat16), 0, torch::kBFloat16);
  for (auto& [name, tensor] : method->named_trainable()) ASSERT_EQ(tensor.scalar_type(), torch::kFloat) << name;
  const torch::Tensor fresh = logits_of(*method, batch);
  const torch::Tensor plain_bf16 = plain_logits(c.fixture, batch, torch::kBFloat16);
  if (c.method == "lora" || c.method == "bitfit") {
    // Zero-initialised additions in fp32, cast into the bf16 stream: exactly the plain model.
    EXPECT_EQ(fresh.scalar_type(), torch::kBFloat16);
    EXPECT_LE(test::max_abs_diff(fresh, plain_bf16), 1e-6);
  } else if (c.method == "full") {
    // Full fine-tuning trains fp32 copies of the bf16 weights: the fp32 model of those weights.
    torch::NoGradGuard no_grad;
    auto widened = load_backbone(c.fixture, torch::kBFloat16);
    widened->to(torch::kFloat);
    EXPECT_LE(test::max_abs_diff(fresh, widened->forward(batch).logits), 1e-6);
  } else if (c.method == "adapter") {
    // The norms now multiply in fp32 before rounding to bf16: as accurate as the plain bf16 model.
    const torch::Tensor fp32 = plain_logits(c.fixture, batch);
    EXPECT_EQ(fresh.scalar_type(), torch::kBFloat16);
    EXPECT_LE(test::max_abs_diff(fresh, fp32), 2 * test::max_abs_diff(plain_bf16, fp32) + 1e-3);
  }
  method->set_training(true);
  torch::Tensor loss = method->forward(batch).loss;
  ASSERT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
  for (auto& [name, tensor] : method->named_trainable()) {
    ASSERT_TRUE(tensor.grad().defined()) << name;
    EXPECT_EQ(tensor.grad().scalar_type(), torch::kFloat) << name;
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const std::string fixture : {"t5-tiny-v1_0", "t5-tiny-v1_1"}) {
    const bool gated = fixture == "t5-tiny-v1_1";
    const std::string tag = gated ? "v1_1_" : "v1_0_";
    nlohmann::json every_linear = gated ? nlohmann::json{"q", "k", "v", "o", "wi_0", "wi_1", "wo"}
                                        : nlohmann::json{"q", "k", "v", "o", "wi", "wo"};
    cases.push_back({fixture, "full", nlohmann::json::object(), tag + "full"});
    cases.push_back({fixture, "lora", nlohmann::json::object(), tag + "lora"});
    cases.push_back({fixture, "lora", {{"r", 4}, {"target_modules", every_linear}}, tag + "lora_every_linear"});
    cases.push_back({fixture, "adapter", nlohmann::json::object(), tag + "adapter"});
    cases.push_back({fixture, "bitfit", nlohmann::json::object(), tag + "bitfit"});
    cases.push_back({fixture, "prompt", nlohmann::json::object(), tag + "prompt"});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Baselines, MethodProperties, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.label; });

// ---- LoRA specifics ----

LoraMethod& as_lora(FineTuningMethod& method) {
  auto* lora = dynamic_cast<LoraMethod*>(&method);
  if (!lora) throw std::logic_error("not a LoRA method");
  return *lora;
}

TEST(LoraTest, TrainableCountByHandForTheFixture) {
  // t5-tiny-v1_0: d_model 64, 4 heads x 16 = 64 inner; q and v in 2 encoder self-attentions
  // and 2 x (self + cross) decoder attentions = 12 modules, each 32 * (64 + 64).
  Case c{"t5-tiny-v1_0", "lora", nlohmann::json::object(), ""};
  auto method = build(c, load_backbone(c.fixture));
  EXPECT_EQ(method->trainable_count(), 12 * 32 * (64 + 64));
  EXPECT_EQ(as_lora(*method).adapted_modules().size(), 12u);
}

TEST(LoraTest, MergedEqualsUnmerged) {
  for (const std::string fixture : {"t5-tiny-v1_0", "t5-tiny-v1_1"}) {
    Seq2SeqBatch batch = golden_batch(fixture);
    // Every Linear kind of the fixture: the feed-forward inputs are wi (relu) or wi_0 and wi_1 (gated).
    const nlohmann::json every_linear = fixture == "t5-tiny-v1_1"
                                            ? nlohmann::json{"q", "k", "v", "o", "wi_0", "wi_1", "wo"}
                                            : nlohmann::json{"q", "k", "v", "o", "wi", "wo"};
    Case c{fixture, "lora", {{"target_modules", every_linear}}, ""};
    auto method = build(c, load_backbone(fixture));
    const T5Config& cfg = method->config();
    const size_t linears = 4 * (cfg.num_layers + 2 * cfg.num_decoder_layers) +
                           (cfg.is_gated() ? 3 : 2) * (cfg.num_layers + cfg.num_decoder_layers);
    EXPECT_EQ(as_lora(*method).adapted_modules().size(), linears) << fixture;
    {
      torch::NoGradGuard no_grad;
      torch::Generator gen = at::detail::createCPUGenerator(5);
      for (auto& [name, tensor] : method->named_trainable())
        if (name.find("lora_B") != std::string::npos) tensor.normal_(0.0, 0.05, gen);
    }
    torch::Tensor unmerged = logits_of(*method, batch);
    EXPECT_GT(test::max_abs_diff(unmerged, plain_logits(fixture, batch)), 1e-3) << fixture;
    as_lora(*method).merge();
    EXPECT_TRUE(as_lora(*method).merged());
    // fp32 rounding of W + scaling * B·A differs from the two products; v1_1's logits reach ~40.
    EXPECT_LE(test::max_rel_diff(logits_of(*method, batch), unmerged), 1e-6) << fixture;
    EXPECT_THROW(method->set_training(true), UsageError);
  }
}

TEST(LoraTest, SavedKeysFollowPeft) {
  const std::string fixture = "t5-tiny-v1_0";
  Case c{fixture, "lora", nlohmann::json::object(), ""};
  auto method = build(c, load_backbone(fixture));
  TempDir dir;
  save_method(*method, dir.path);

  // Expected keys from the reference checkpoint's own names (golden.json, written by transformers).
  nlohmann::json golden;
  std::ifstream(test::fixture_dir(fixture) + "/golden.json") >> golden;
  std::set<std::string> expected;
  const std::regex qv(R"((.*\.(SelfAttention|EncDecAttention)\.(q|v))\.weight)");
  for (const auto& key : golden.at("checkpoint_keys")) {
    std::smatch m;
    const std::string k = key.get<std::string>();
    if (!std::regex_match(k, m, qv)) continue;
    expected.insert("base_model.model." + m[1].str() + ".lora_A.weight");
    expected.insert("base_model.model." + m[1].str() + ".lora_B.weight");
  }
  ASSERT_EQ(expected.size(), 24u);
  auto stored = read_safetensors(dir.path + "/adapter_model.safetensors");
  std::set<std::string> found;
  for (const auto& [name, tensor] : stored) {
    found.insert(name);
    const bool is_a = name.find("lora_A") != std::string::npos;
    EXPECT_EQ(tensor.sizes(), is_a ? (std::vector<int64_t>{32, 64}) : (std::vector<int64_t>{64, 32})) << name;
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
    if (!is_a) EXPECT_EQ(tensor.abs().max().item<double>(), 0.0) << "B starts at zero: " << name;
  }
  EXPECT_EQ(found, expected);

  nlohmann::json config;
  std::ifstream(dir.path + "/adapter_config.json") >> config;
  EXPECT_EQ(config.at("peft_type"), "LORA");
  EXPECT_EQ(config.at("r"), 32);
  EXPECT_EQ(config.at("lora_alpha").get<double>(), 32.0);
  EXPECT_EQ(config.at("lora_dropout").get<double>(), 0.1);
  EXPECT_EQ(config.at("target_modules"), nlohmann::json({"q", "v"}));
}

// adapter_config.json holds PEFT's LoraConfig keys and nothing else (PEFT before 0.13 refuses a
// key it does not know); ladder's facts are in ladder_config.json. A folder as PEFT writes it
// (adapter_config.json alone, with keys of later PEFT versions) loads and computes the same.
TEST(LoraTest, FoldersArePeftsBothWays) {
  const std::string fixture = "t5-tiny-v1_0";
  Case c{fixture, "lora", nlohmann::json{{"r", 4}, {"alpha", 16.0}}, ""};
  auto method = build(c, load_backbone(fixture));
  perturb(*method, 5, 0.1);  // B off zero, so that the adapter changes the logits
  method->set_base_model_source("google/t5-tiny");
  TempDir dir;
  save_method(*method, dir.path + "/ladder");
  nlohmann::json peft;
  std::ifstream(dir.path + "/ladder/adapter_config.json") >> peft;
  const std::set<std::string> peft_keys = {"base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode",
                                           "init_lora_weights", "lora_alpha", "lora_dropout", "modules_to_save",
                                           "peft_type", "r", "revision", "target_modules", "task_type"};
  for (const auto& [key, value] : peft.items()) EXPECT_TRUE(peft_keys.count(key)) << "not a LoraConfig key: " << key;
  EXPECT_EQ(peft.at("base_model_name_or_path"), "google/t5-tiny");
  EXPECT_EQ(peft.at("r"), 4);
  nlohmann::json ours;
  std::ifstream(dir.path + "/ladder/ladder_config.json") >> ours;
  EXPECT_EQ(ours.at("method"), "lora");
  EXPECT_EQ(ours.at("base_model").at("source"), "google/t5-tiny");

  // As PEFT 0.13 writes it: its own defaults for what ladder's LoRA does not use.
  fs::create_directories(dir.path + "/peft");
  fs::copy_file(dir.path + "/ladder/adapter_model.safetensors", dir.path + "/peft/adapter_model.safetensors");
  nlohmann::json written = peft;
  written["use_dora"] = false;
  written["use_rslora"] = false;
  written["rank_pattern"] = nlohmann::json::object();
  written["alpha_pattern"] = nlohmann::json::object();
  written["layers_to_transform"] = nullptr;
  written["loftq_config"] = nlohmann::json::object();
  write_json_atomically(dir.path + "/peft/adapter_config.json", written);
  EXPECT_EQ(saved_method_name(dir.path + "/peft"), "lora");
  auto loaded = load_method(load_backbone(fixture), dir.path + "/peft");
  EXPECT_EQ(loaded->settings().at("r"), 4);
  EXPECT_EQ(loaded->settings().at("alpha").get<double>(), 16.0);
  EXPECT_EQ(loaded->base_model_source(), "google/t5-tiny");
  const Seq2SeqBatch batch = golden_batch(fixture);
  method->set_training(false);
  loaded->set_training(false);
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = method->forward(batch).logits;
  EXPECT_TRUE(torch::equal(loaded->forward(batch).logits, expected));
  EXPECT_GT(test::max_abs_diff(expected, load_backbone(fixture)->forward(batch).logits), 1e-4);

  // What ladder's LoRA does not compute is refused, naming the file and the key.
  for (const char* key : {"use_dora", "fan_in_fan_out"}) {
    nlohmann::json other = written;
    other[key] = true;
    write_json_atomically(dir.path + "/peft/adapter_config.json", other);
    const std::string message = test::error_of<FormatError>([&] { load_method(load_backbone(fixture), dir.path + "/peft"); });
    EXPECT_NE(message.find("adapter_config.json"), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << message;
  }
}

// PEFT's "all-linear": every projection of the blocks, the output head left alone.
TEST(LoraTest, AllLinearTargetsEveryProjection) {
  for (const std::string fixture : {"t5-tiny-v1_0", "t5-tiny-v1_1"}) {
    Case all{fixture, "lora", nlohmann::json{{"target_modules", "all-linear"}}, ""};
    auto method = build(all, load_backbone(fixture));
    const bool gated = fixture == "t5-tiny-v1_1";
    const nlohmann::json listed = gated ? nlohmann::json{"q", "k", "v", "o", "wi_0", "wi_1", "wo"}
                                        : nlohmann::json{"q", "k", "v", "o", "wi", "wo"};
    EXPECT_EQ(method->settings().at("target_modules"), listed) << fixture;
    Case explicit_list{fixture, "lora", nlohmann::json{{"target_modules", listed}}, ""};
    EXPECT_EQ(method->trainable_count(), build(explicit_list, load_backbone(fixture))->trainable_count()) << fixture;
    for (const auto& [name, tensor] : method->named_trainable()) EXPECT_EQ(name.find("lm_head"), std::string::npos) << name;
  }
}

TEST(LoraTest, SeedDecidesTheInitialisation) {
  Case c{"t5-tiny-v1_0", "lora", nlohmann::json::object(), ""};
  auto a = build(c, load_backbone(c.fixture), 1), b = build(c, load_backbone(c.fixture), 1),
       other = build(c, load_backbone(c.fixture), 2);
  torch::Tensor wa = a->named_trainable().front().second, wb = b->named_trainable().front().second,
                wo = other->named_trainable().front().second;
  EXPECT_TRUE(torch::equal(wa, wb));
  EXPECT_FALSE(torch::equal(wa, wo));
  // PEFT's init: A ~ U(-1/sqrt(in), 1/sqrt(in)).
  EXPECT_LE(wa.abs().max().item<double>(), 1.0 / std::sqrt(64.0));
}

TEST(LoraTest, BadSettingsAreUsageErrors) {
  const std::string fixture = "t5-tiny-v1_1";  // gated: has wi_0/wi_1, no wi
  for (const nlohmann::json& settings :
       {nlohmann::json{{"r", 0}}, nlohmann::json{{"r", "8"}}, nlohmann::json{{"r", 2.5}},
        nlohmann::json{{"dropout", 1.0}}, nlohmann::json{{"alpha", -1}},
        nlohmann::json{{"target_modules", nlohmann::json::array()}}, nlohmann::json{{"target_modules", {"x"}}},
        nlohmann::json{{"target_modules", {"q", "q"}}}, nlohmann::json{{"target_modules", {"wi"}}}}) {
    Case c{fixture, "lora", settings, ""};
    EXPECT_THROW(build(c, load_backbone(fixture)), UsageError) << settings.dump();
  }
}

TEST(AdapterTest, BadSettingsAreUsageErrors) {
  for (const nlohmann::json& settings :
       {nlohmann::json{{"reduction_factor", 0}}, nlohmann::json{{"reduction_factor", 65}},
        nlohmann::json{{"activation", "tanh"}}, nlohmann::json{{"train_layer_norms", 1}}}) {
    Case c{"t5-tiny-v1_0", "adapter", settings, ""};
    EXPECT_THROW(build(c, load_backbone(c.fixture)), UsageError) << settings.dump();
  }
}

TEST(AdapterTest, WithoutLayerNormsOnlyAdaptersTrain) {
  Case c{"t5-tiny-v1_0", "adapter", {{"train_layer_norms", false}, {"reduction_factor", 8}}, ""};
  auto method = build(c, load_backbone(c.fixture));
  // 8 adapters (self-attention + FF in 2 + 2 blocks), bottleneck 64 / 8 = 8.
  EXPECT_EQ(method->trainable_count(), 8 * (64 * 8 + 8 + 8 * 64 + 64));
  for (auto& [name, tensor] : method->named_trainable()) EXPECT_NE(name.find(".adapter."), std::string::npos);
}

TEST(PromptTest, NumVirtualTokensSetting) {
  Case c{"t5-tiny-v1_0", "prompt", {{"num_virtual_tokens", 7}}, ""};
  auto method = build(c, load_backbone(c.fixture));
  EXPECT_EQ(method->trainable_count(), 7 * 64);
  Case bad{"t5-tiny-v1_0", "prompt", {{"num_virtual_tokens", 0}}, ""};
  EXPECT_THROW(build(bad, load_backbone(bad.fixture)), UsageError);
}

}  // namespace
}  // namespace ladder

namespace ladder {
namespace {

// merge: the LoRA folded into the fixture's own checkpoint (names and dtypes as the folder has
// them) gives the LoRA's logits as a plain model; methods with modules of their own are refused.
TEST(MergeTest, LoraFoldedIntoTheCheckpointGivesTheLorasLogitsAsAPlainModel) {
  const std::string fixture = "t5-tiny-v1_0";
  Seq2SeqBatch batch = golden_batch(fixture);
  Case c{fixture, "lora", {{"target_modules", {"q", "v", "wo"}}}, ""};
  auto method = build(c, load_backbone(fixture));
  {
    torch::NoGradGuard no_grad;
    torch::Generator gen = at::detail::createCPUGenerator(7);
    for (auto& [name, tensor] : method->named_trainable())
      if (name.find("lora_B") != std::string::npos) tensor.normal_(0.0, 0.05, gen);
  }
  const torch::Tensor lora_logits = logits_of(*method, batch);
  TempDir dir;
  const std::string out = dir.path + "/merged";
  const MergeReport report = save_merged_model(*method, test::fixture_dir(fixture), out);
  EXPECT_EQ(report.tensors_changed, static_cast<int64_t>(as_lora(*method).adapted_modules().size()));

  const safetensors::Checkpoint base = safetensors::Checkpoint::open(test::fixture_dir(fixture));
  const safetensors::Checkpoint merged = safetensors::Checkpoint::open(out);
  ASSERT_EQ(merged.names(), base.names());
  EXPECT_EQ(report.tensors_written, static_cast<int64_t>(base.names().size()));
  for (const auto& name : base.names()) EXPECT_EQ(merged.info(name).dtype, base.info(name).dtype) << name;
  EXPECT_TRUE(fs::exists(out + "/config.json"));
  EXPECT_FALSE(fs::exists(out + "/golden.safetensors"));  // weight files are not copied

  torch::Tensor plain;
  {
    torch::NoGradGuard no_grad;
    auto model = load_model(out).model;
    model->eval();
    plain = model->forward(batch).logits;
  }
  EXPECT_GT(test::max_abs_diff(lora_logits, plain_logits(fixture, batch)), 1e-3);
  EXPECT_LE(test::max_rel_diff(plain, lora_logits), 1e-6);

  // Refusals write nothing: a folder that is not empty, a method with modules of its own.
  EXPECT_THROW(save_merged_model(*method, test::fixture_dir(fixture), out), UsageError);
  Case lst{fixture, "lst", nlohmann::json::object(), ""};
  auto side = build(lst, load_backbone(fixture));
  {
    const std::string message = test::error_of<UsageError>([&] { save_merged_model(*side, test::fixture_dir(fixture), dir.path + "/lst"); });
    EXPECT_TRUE(test::contains(message, "side network")) << message;
  }
  EXPECT_FALSE(fs::exists(dir.path + "/lst"));
  Case bitfit{fixture, "bitfit", nlohmann::json::object(), ""};
  auto biases = build(bitfit, load_backbone(fixture));
  {
    const std::string message = test::error_of<UsageError>([&] { save_merged_model(*biases, test::fixture_dir(fixture), dir.path + "/bitfit"); });
    EXPECT_TRUE(test::contains(message, "bias")) << message;
    EXPECT_TRUE(test::contains(message, "has no place")) << message;
  }
  EXPECT_FALSE(fs::exists(dir.path + "/bitfit"));
  {
    const std::string message = test::error_of<UsageError>([&] { save_merged_model(*method, "arch:t5-small", dir.path + "/arch"); });
    EXPECT_TRUE(test::contains(message, "model folder")) << message;
  }
}

// Full fine-tuning: every tensor is the trained one.
TEST(MergeTest, FullFineTuningWritesTheTrainedWeights) {
  const std::string fixture = "t5-tiny-v1_1";
  Case c{fixture, "full", nlohmann::json::object(), ""};
  auto method = build(c, load_backbone(fixture));
  perturb(*method, 3, 0.01);
  TempDir dir;
  const MergeReport report = save_merged_model(*method, test::fixture_dir(fixture), dir.path + "/merged");
  EXPECT_EQ(report.tensors_changed, report.tensors_written);
  const auto merged = read_safetensors(dir.path + "/merged/model.safetensors");
  for (auto& [name, tensor] : method->named_trainable())
    if (merged.count(name)) EXPECT_TRUE(torch::equal(merged.at(name), tensor.detach())) << name;
}

}  // namespace
}  // namespace ladder
