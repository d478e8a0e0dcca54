// Values checked at the door: config.json fields, model sizes that cannot fit, tokenizer and
// adapter files that are not what they claim, custom labels with surrounding spaces.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ladder/data/custom.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/method.h"
#include "ladder/models/t5/config.h"
#include "ladder/models/t5/load.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/task_data.h"
#include "test_util.h"

namespace ladder {
namespace {
namespace fs = std::filesystem;

// The message of the FormatError/UsageError that `f` throws ("" and a failure if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

nlohmann::json fixture_config() { return read_json_file(test::fixture_dir("t5-tiny-v1_0") + "/config.json"); }

TEST(ConfigValues, BadFieldsNameTheFileAndTheField) {
  const std::string source = "/some/config.json";
  const std::vector<std::pair<nlohmann::json, std::vector<std::string>>> cases = {
      {{{"layer_norm_epsilon", 0.0}}, {"layer_norm_epsilon", "positive"}},
      {{{"layer_norm_epsilon", -1e-6}}, {"layer_norm_epsilon"}},
      {{{"num_layers", 2.5}}, {"num_layers", "whole number", "2.5"}},
      {{{"num_layers", 1e9}}, {"num_layers", "more than any T5"}},
      {{{"d_ff", 1e12}}, {"d_ff", "more than any T5"}},
      {{{"d_model", 1e300}}, {"d_model", "whole number"}},
      {{{"pad_token_id", 5000}}, {"pad_token_id", "outside the vocabulary"}},
      {{{"decoder_start_token_id", -1}}, {"decoder_start_token_id", "outside the vocabulary"}},
      {{{"num_heads", "8"}}, {"num_heads", "whole number"}},
      {{{"tie_word_embeddings", 1}}, {"tie_word_embeddings", "true or false"}},
  };
  for (const auto& [patch, words] : cases) {
    nlohmann::json config = fixture_config();
    config.update(patch);
    const std::string message = error_of([&] { T5Config::from_json(config, source); });
    EXPECT_NE(message.find(source), std::string::npos) << message;
    for (const auto& w : words) EXPECT_NE(message.find(w), std::string::npos) << patch.dump() << ": " << message;
    EXPECT_EQ(message.find("-9223372036854775808"), std::string::npos) << message;
  }
  nlohmann::json whole = fixture_config();
  whole["num_layers"] = 2.0;  // a whole number written as a float is fine
  EXPECT_EQ(T5Config::from_json(whole, source).num_layers, 2);
}

TEST(ConfigValues, AModelThatCannotFitIsRefusedBeforeAllocating) {
  test::TempDir dir;
  nlohmann::json config = fixture_config();
  config["num_layers"] = 1024;
  config["num_decoder_layers"] = 1024;
  config["d_model"] = 1 << 20;
  config["d_ff"] = 1 << 20;
  write_json_atomically(dir / "config.json", config);
  const std::string message = error_of([&] { load_model("arch:" + dir / "config.json"); });
  EXPECT_NE(message.find("needs"), std::string::npos) << message;
  EXPECT_NE(message.find("GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("available"), std::string::npos) << message;
}

TEST(DoorErrors, ADirectoryGivenAsTheTokenizerSaysSo) {
  const std::string dir = test::fixture_dir("tiny-tokenizer");
  const std::string message = error_of([&] { T5Tokenizer::load(dir); });
  EXPECT_NE(message.find(dir), std::string::npos) << message;
  EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
}

TEST(DoorErrors, BadSettingsInAnAdapterConfigNameTheFile) {
  test::TempDir dir;
  MethodOptions options;
  options.name = "lora";
  auto method = make_method(load_model(test::fixture_dir("t5-tiny-v1_0")).model, options);
  save_method(*method, dir / "adapter");
  const std::string path = dir / "adapter/ladder_config.json";
  nlohmann::json config = read_json_file(path);
  config["method"] = "adapter";  // lora's settings under another method
  write_json_atomically(path, config);
  const std::string message = error_of([&] { load_method(load_model(test::fixture_dir("t5-tiny-v1_0")).model, dir / "adapter"); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("unknown setting"), std::string::npos) << message;
}

TEST(CustomData, LabelsAndTargetsAreTrimmedLikePredictions) {
  test::TempDir dir;
  std::ofstream(dir / "train.jsonl") << "{\"text\": \"good\", \"label\": \" pos \"}\n"
                                     << "{\"text\": \"bad\", \"label\": \"neg\\t\"}\n";
  data::ClassificationFields fields;
  const data::Dataset loaded = data::load_custom_classification(dir / "train.jsonl", fields);
  EXPECT_EQ(loaded.examples[0].target, "pos");
  EXPECT_EQ(loaded.examples[1].target, "neg");
  EXPECT_EQ(loaded.labels, (std::vector<std::string>{"neg", "pos"}));
  // A right answer decoded with a space around it scores as right.
  train::TaskSpec task;
  task.task = "custom";
  task.kind = "classification";
  task.classification.known_labels = loaded.labels;
  const auto scores = train::score_predictions(task, {" pos", "neg "}, {"pos", "neg"});
  EXPECT_DOUBLE_EQ(scores.at("accuracy"), 1.0);
}

// Accuracy 0 or exactly one class's share: the shares of predicted labels and of predictions
// that are no label say whether the model answers nothing valid or one class always.
TEST(PredictionShares, SayWhichLabelsAndHowManyInvalid) {
  train::TaskSpec rte;
  rte.task = "rte";
  const auto scores = train::score_predictions(rte, {"Ca", "", " 0", "0"}, {"0", "1", "1", "0"});
  EXPECT_DOUBLE_EQ(scores.at("invalid_share"), 0.5);
  EXPECT_DOUBLE_EQ(scores.at("predicted_share/0"), 0.5);
  EXPECT_DOUBLE_EQ(scores.at("predicted_share/1"), 0.0);
  EXPECT_DOUBLE_EQ(scores.at("accuracy"), 0.25);
  // A decoder-only model answers the label's word.
  rte.decoder_only = true;
  const auto words = train::score_predictions(rte, {" entailment", "entailment", "maybe", "entailment"},
                                              {"entailment", "not_entailment", "entailment", "entailment"});
  EXPECT_DOUBLE_EQ(words.at("predicted_share/entailment"), 0.75);
  EXPECT_DOUBLE_EQ(words.at("predicted_share/not_entailment"), 0.0);
  EXPECT_DOUBLE_EQ(words.at("invalid_share"), 0.25);
  // Tasks without a label set have none.
  train::TaskSpec stsb;
  stsb.task = "stsb";
  EXPECT_EQ(train::score_predictions(stsb, {"1.0", "2.0"}, {"1.0", "2.4"}).count("invalid_share"), 0u);
}

}  // namespace
}  // namespace ladder
