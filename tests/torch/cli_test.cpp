// The `ladder` binary end to end: forward parity on the fixtures, tokenize against the golden
// tokenizations, inspect against published parameter counts, and one-line errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "ladder/io/safetensors.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/quantize.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {
namespace fs = std::filesystem;

using test::TempDir;

using test::CliResult;
using test::quote;
using test::read_text;
using test::run_cli;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// An error as the contract wants it: non-zero exit, one line on stderr naming the problem.
void expect_one_line_error(const CliResult& r, const std::vector<std::string>& must_contain) {
  EXPECT_NE(r.status, 0) << "stdout: " << r.out;
  EXPECT_EQ(r.err_lines(), 1) << "stderr: " << r.err;
  for (const auto& s : must_contain) EXPECT_NE(r.err.find(s), std::string::npos) << "expected \"" << s << "\" in: " << r.err;
}

std::map<std::string, torch::Tensor> golden_of(const std::string& fixture) {
  return read_safetensors(test::fixture_dir(fixture) + "/golden.safetensors");
}

// ---- forward: parity with the reference through the binary --------------------------------

class CliForward : public ::testing::TestWithParam<std::string> {};

TEST_P(CliForward, MatchesGoldenHiddenStatesLogitsAndLoss) {
  TempDir dir;
  auto golden = golden_of(GetParam());
  write_safetensors(dir / "in.safetensors", {{"input_ids", golden.at("input_ids")},
                                             {"attention_mask", golden.at("attention_mask")},
                                             {"labels", golden.at("labels")}});
  CliResult r = run_cli({"forward", "--model", test::fixture_dir(GetParam()), "--inputs", dir / "in.safetensors",
                         "--output", dir / "out.safetensors", "--threads", "1"},
                        dir);
  ASSERT_EQ(r.status, 0) << r.err;
  auto out = read_safetensors(dir / "out.safetensors");
  int compared = 0;
  for (const auto& [name, expected] : golden) {
    const bool wanted = name.rfind("encoder_hidden_states.", 0) == 0 || name.rfind("decoder_hidden_states.", 0) == 0 ||
                        name == "logits" || name == "loss";
    if (!wanted) continue;
    ++compared;
    auto it = out.find(name);
    ASSERT_NE(it, out.end()) << "output lacks " << name;
    EXPECT_EQ(it->second.scalar_type(), torch::kFloat) << name;
    ASSERT_EQ(it->second.sizes(), expected.sizes()) << name;
    EXPECT_LE(test::max_abs_diff(it->second, expected), 1e-4) << name;
  }
  EXPECT_GE(compared, 6);  // at least 2+1 encoder, 2+1 decoder states, logits, loss
  EXPECT_EQ(out.size(), static_cast<size_t>(compared)) << "the output holds tensors the golden file does not";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliForward,
                         ::testing::Values("t5-tiny-v1_0", "t5-tiny-v1_1", "t5-tiny-relpos", "t5-tiny-untied"));

TEST(CliForwardInputs, DecoderInputIdsWithoutLabelsGiveLogitsAndNoLoss) {
  TempDir dir;
  auto golden = golden_of("t5-tiny-v1_1");
  write_safetensors(dir / "in.safetensors", {{"input_ids", golden.at("input_ids").to(torch::kInt)},
                                             {"attention_mask", golden.at("attention_mask")},
                                             {"decoder_input_ids", golden.at("decoder_input_ids")}});
  CliResult r = run_cli({"forward", "--model", test::fixture_dir("t5-tiny-v1_1"), "--inputs", dir / "in.safetensors",
                         "--output", dir / "out.safetensors"},
                        dir);
  ASSERT_EQ(r.status, 0) << r.err;
  auto out = read_safetensors(dir / "out.safetensors");
  EXPECT_EQ(out.count("loss"), 0u);
  ASSERT_EQ(out.count("logits"), 1u);
  EXPECT_LE(test::max_abs_diff(out.at("logits"), golden.at("logits")), 1e-4);
}

TEST(CliForwardInputs, BadInputsNameTheFile) {
  TempDir dir;
  auto golden = golden_of("t5-tiny-v1_0");
  const std::string model = test::fixture_dir("t5-tiny-v1_0");
  auto forward = [&](const std::map<std::string, torch::Tensor>& inputs) {
    write_safetensors(dir / "bad.safetensors", inputs);
    return run_cli({"forward", "--model", model, "--inputs", dir / "bad.safetensors", "--output", dir / "out.safetensors"},
                   dir);
  };
  expect_one_line_error(forward({{"attention_mask", golden.at("attention_mask")}, {"labels", golden.at("labels")}}),
                        {dir / "bad.safetensors", "input_ids"});
  expect_one_line_error(forward({{"input_ids", golden.at("input_ids").to(torch::kFloat)}, {"labels", golden.at("labels")}}),
                        {dir / "bad.safetensors", "input_ids", "int64"});
  expect_one_line_error(forward({{"input_ids", golden.at("input_ids")},
                                 {"attention_mask", golden.at("attention_mask").narrow(1, 0, 3)},
                                 {"labels", golden.at("labels")}}),
                        {dir / "bad.safetensors", "attention_mask"});
  expect_one_line_error(forward({{"input_ids", golden.at("input_ids")}, {"labels", golden.at("labels").narrow(0, 0, 2)}}),
                        {dir / "bad.safetensors", "labels"});
  expect_one_line_error(forward({{"input_ids", golden.at("input_ids") + 5000}, {"labels", golden.at("labels")}}),
                        {dir / "bad.safetensors", "input_ids", "1100"});
  expect_one_line_error(run_cli({"forward", "--model", model, "--inputs", dir / "absent.safetensors", "--output",
                                 dir / "out.safetensors"},
                                dir),
                        {dir / "absent.safetensors"});
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

// ---- model loading errors ----------------------------------------------------------------

// A copy of a fixture's model whose config or checkpoint the test then breaks.
class CliBrokenModel : public ::testing::Test {
 protected:
  void SetUp() override {
    model_dir = dir / "model";
    fs::create_directories(model_dir);
    fs::copy_file(test::fixture_dir("t5-tiny-v1_0") + "/config.json", model_dir + "/config.json");
    weights = read_safetensors(test::fixture_dir("t5-tiny-v1_0") + "/model.safetensors");
    auto golden = golden_of("t5-tiny-v1_0");
    write_safetensors(dir / "in.safetensors", {{"input_ids", golden.at("input_ids")}, {"labels", golden.at("labels")}});
  }
  CliResult forward() {
    return run_cli({"forward", "--model", model_dir, "--inputs", dir / "in.safetensors", "--output", dir / "out.safetensors"},
                   dir);
  }
  TempDir dir;
  std::string model_dir;
  std::map<std::string, torch::Tensor> weights;
};

TEST_F(CliBrokenModel, IntactCopyWorks) {
  write_safetensors(model_dir + "/model.safetensors", weights);
  CliResult r = forward();
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(CliBrokenModel, MissingModelDirectory) {
  expect_one_line_error(run_cli({"forward", "--model", dir / "no-such-model", "--inputs", dir / "in.safetensors",
                                 "--output", dir / "out.safetensors"},
                                dir),
                        {dir / "no-such-model"});
  expect_one_line_error(run_cli({"inspect", dir / "no-such-model"}, dir), {dir / "no-such-model"});
}

TEST_F(CliBrokenModel, ConfigMissingAKey) {
  write_safetensors(model_dir + "/model.safetensors", weights);
  nlohmann::json config = nlohmann::json::parse(read_text(model_dir + "/config.json"));
  config.erase("d_model");
  std::ofstream(model_dir + "/config.json") << config.dump(2);
  expect_one_line_error(forward(), {"config.json", "d_model"});
}

TEST_F(CliBrokenModel, CheckpointMissingATensor) {
  const std::string name = "encoder.final_layer_norm.weight";
  ASSERT_EQ(weights.erase(name), 1u);
  write_safetensors(model_dir + "/model.safetensors", weights);
  expect_one_line_error(forward(), {"missing", name});
}

TEST_F(CliBrokenModel, CheckpointTensorOfTheWrongShape) {
  const std::string name = "decoder.block.1.layer.2.DenseReluDense.wi.weight";
  ASSERT_EQ(weights.at(name).sizes(), torch::IntArrayRef({96, 64}));
  weights[name] = torch::zeros({95, 64});
  write_safetensors(model_dir + "/model.safetensors", weights);
  expect_one_line_error(forward(), {"wrong shape", name});
}

// ---- tokenize ------------------------------------------------------------------------------

TEST(CliTokenize, GivesTheGoldenIds) {
  TempDir dir;
  const std::string data = std::string(LADDER_TEST_DATA) + "/tokenizer";
  auto golden = nlohmann::json::parse(read_text(data + "/golden_tokenization.json"));
  std::vector<std::string> args = {"tokenize", "--tokenizer", data + "/spiece.model"};
  std::vector<std::string> expected;
  for (int index : {0, 2, 6}) {  // plain text, an apostrophe, runs of spaces
    const auto& c = golden.at("cases").at(index);
    args.push_back(c.at("text").get<std::string>());
    std::string line;
    for (const auto& id : c.at("ids")) line += (line.empty() ? "" : " ") + std::to_string(id.get<int64_t>());
    expected.push_back(line);
  }
  CliResult r = run_cli(args, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), expected);

  // "translate English to German: ..." cut to 4 ids keeps 3 pieces and </s>.
  r = run_cli({"tokenize", "--tokenizer", data + "/spiece.model", "--max-length", "4", args[3]}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), std::vector<std::string>{"13959 1566 12 1"});

  expect_one_line_error(run_cli({"tokenize", "--tokenizer", dir / "missing.model", "hello"}, dir),
                        {dir / "missing.model"});
}

TEST(CliTokenize, LlamaFamilyTokenizersStartWithTheirBeginToken) {
  TempDir dir;
  const std::string data = std::string(LADDER_TEST_DATA) + "/tokenizer";
  CliResult r = run_cli({"tokenize", "--tokenizer", data + "/llama2/tokenizer.model", "Once upon a time"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), std::vector<std::string>{"1 9038 2501 263 931"});
  const auto golden = nlohmann::json::parse(read_text(data + "/byte-bpe/llama3-style/golden.json"));
  const auto& c = golden.at("cases").at(1);
  std::string line;
  for (const auto& id : c.at("ids")) line += (line.empty() ? "" : " ") + std::to_string(id.get<int64_t>());
  r = run_cli({"tokenize", "--tokenizer", data + "/byte-bpe/llama3-style/tokenizer.json", c.at("text").get<std::string>()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), std::vector<std::string>{line});
  expect_one_line_error(run_cli({"tokenize", "--tokenizer", data + "/llama2/tokenizer.model", "--parse-special", "x"}, dir),
                        {"--parse-special is T5's"});
}

TEST(CliTokenize, SpecialTokensArePlainTextUnlessAskedFor) {
  // Line 1136 of golden_tokenization_large.jsonl: plain sentencepiece splits the sentinel;
  // --parse-special gives its single id as Hugging Face's T5Tokenizer does.
  TempDir dir;
  const std::string model = std::string(LADDER_TEST_DATA) + "/tokenizer/spiece.model";
  const std::string text = "<extra_id_0> is plain text to sentencepiece";
  CliResult r = run_cli({"tokenize", "--tokenizer", model, text}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), std::vector<std::string>{"3 2 25666 834 23 26 834 632 3155 19 6080 1499 12 7142 8424 1"});
  r = run_cli({"tokenize", "--tokenizer", model, "--parse-special", text, "</s> <pad> <unk>"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), (std::vector<std::string>{"32099 19 6080 1499 12 7142 8424 1", "1 0 2 1"}));
}

// ---- inspect -------------------------------------------------------------------------------

TEST(CliInspect, T5SmallParameterCounts) {
  TempDir dir;
  CliResult r = run_cli({"inspect", "arch:t5-small", "--threads", "1"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  // transformers: T5ForConditionalGeneration("t5-small").num_parameters() == 60,506,624.
  EXPECT_NE(r.out.find("parameters: 60,506,624\n"), std::string::npos) << r.out;
  // By hand: shared 32128*512; encoder 6 x (4*512^2 + 2*512*2048 + 2*512) + 32*8 + 512;
  // decoder 6 x (8*512^2 + 2*512*2048 + 3*512) + 32*8 + 512.
  EXPECT_NE(r.out.find("shared: 16,449,536\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("encoder: 18,881,280\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decoder: 25,175,808\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("d_model 512, heads 8 x d_kv 64, d_ff 2048, layers 6 enc / 6 dec, vocab 32128"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("head: tied+scaled"), std::string::npos) << r.out;
}

TEST(CliInspect, HeadKindsOfTheFixtures) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"t5-tiny-v1_0", "head: tied+scaled"}, {"t5-tiny-v1_1", "head: tied ("}, {"t5-tiny-untied", "head: untied"}};
  for (const auto& [fixture, head] : cases) {
    CliResult r = run_cli({"inspect", test::fixture_dir(fixture)}, dir);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(head), std::string::npos) << fixture << ":\n" << r.out;
  }
  // The untied head: 1100 x 64 = 70,400 parameters of its own.
  CliResult r = run_cli({"inspect", test::fixture_dir("t5-tiny-untied")}, dir);
  EXPECT_NE(r.out.find("lm_head: 70,400\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FFN: gated-gelu"), std::string::npos) << r.out;
}

TEST(CliInspect, LstTrainableParametersOfT5Base) {
  TempDir dir;
  CliResult r = run_cli({"inspect", "arch:t5-base", "--method", "lst"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  // docs/lst-design.md section 5: 3,878,712 trainable (1.740%); 222,903,552 = transformers' t5-base count.
  EXPECT_NE(r.out.find("trainable parameters: 3878712 of 222903552 backbone (1.740%)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("AdamW lr 0.003, warmup 500 updates"), std::string::npos) << r.out;  // the authors' recipe
  r = run_cli({"inspect", "arch:t5-base", "--method", "lst", "--reduction", "8", "--side-layers",
               "0,1,2,3,4,5,6,7,8,9,10,11"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("trainable parameters: 5097240 of 222903552 backbone (2.287%)\n"), std::string::npos) << r.out;
  expect_one_line_error(run_cli({"inspect", "arch:t5-small", "--method", "lst", "--settings", "{not json"}, dir),
                        {"--settings"});
}

// ---- generate ------------------------------------------------------------------------------

TEST(CliGenerate, BatchedEqualsOneByOne) {
  // Padding must not change a row's output: texts of different lengths, together and alone.
  TempDir dir;
  const std::string model = test::fixture_dir("t5-tiny-v1_0");
  const std::string tokenizer = test::fixture_dir("tiny-tokenizer") + "/spiece.model";
  const std::vector<std::string> texts = {"a short one", "a much longer sentence with many more words in it than the other"};
  std::vector<std::string> args = {"generate", "--model", model, "--tokenizer", tokenizer, "--max-new-tokens", "8"};
  std::vector<std::string> both = args;
  both.insert(both.end(), texts.begin(), texts.end());
  CliResult together = run_cli(both, dir);
  ASSERT_EQ(together.status, 0) << together.err;
  std::vector<std::string> lines = lines_of(together.out);
  ASSERT_EQ(lines.size(), texts.size()) << together.out;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::string> one = args;
    one.push_back(texts[i]);
    CliResult alone = run_cli(one, dir);
    ASSERT_EQ(alone.status, 0) << alone.err;
    EXPECT_EQ(lines_of(alone.out), std::vector<std::string>{lines[i]}) << texts[i];
  }
  // The fixture folder has no spiece.model: the error says what to pass.
  expect_one_line_error(run_cli({"generate", "--model", model, "hello"}, dir), {"--tokenizer"});
}


// ---- decoder-only models: convert, generate --ids, forward, inspect ---------------------------

std::string joined_ids(const torch::Tensor& ids, int64_t n) {
  std::string line;
  for (int64_t i = 0; i < n; ++i) line += (i ? "," : "") + std::to_string(ids[i].item<int64_t>());
  return line;
}

TEST(CliCausalLM, ConvertedStoriesGenerateWhatRunCGenerates) {
  TempDir dir;
  const std::string data = std::string(LADDER_TEST_DATA) + "/llama2c";
  CliResult converted = run_cli({"convert", "llama2c", data + "/stories260K.bin", "--out", dir / "stories"}, dir);
  ASSERT_EQ(converted.status, 0) << converted.err;
  EXPECT_NE(converted.out.find("5 layers, hidden 64, 8 heads (4 key/value)"), std::string::npos) << converted.out;
  const torch::Tensor greedy = read_safetensors(data + "/golden.safetensors").at("greedy.ids");
  for (const char* cache : {"", "--no-cache"}) {
    std::vector<std::string> args = {"generate", "--model", dir / "stories", "--ids", "1", "--ids", "1,403,407",
                                     "--max-new-tokens", "12"};
    if (*cache) args.push_back(cache);
    CliResult r = run_cli(args, dir);
    ASSERT_EQ(r.status, 0) << r.err;
    // The second prompt is the first one's start: its continuation is the same sequence, later.
    EXPECT_EQ(lines_of(r.out), (std::vector<std::string>{joined_ids(greedy, 12), joined_ids(greedy.narrow(0, 2, 12), 12)}))
        << cache;
  }
  CliResult inspected = run_cli({"inspect", dir / "stories"}, dir);
  ASSERT_EQ(inspected.status, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("parameters: 260,032"), std::string::npos) << inspected.out;

  expect_one_line_error(run_cli({"generate", "--model", dir / "stories", "hello"}, dir), {"no tokenizer.model or tokenizer.json", "--ids"});
  // Any Llama-family tokenizer of the right size may be passed; the test's tiny BPE model shares
  // the model's 512 ids.
  CliResult texts = run_cli({"generate", "--model", dir / "stories", "--tokenizer",
                             std::string(LADDER_TEST_DATA) + "/tokenizer/tiny-bpe.model", "Once", "the layers",
                             "--max-new-tokens", "4"}, dir);
  ASSERT_EQ(texts.status, 0) << texts.err;
  EXPECT_EQ(lines_of(texts.out).size(), 2u) << texts.out;
  // A byte-level BPE tokenizer.json of another vocabulary (the Llama 3-style fixture has 661 ids).
  expect_one_line_error(run_cli({"generate", "--model", dir / "stories", "--tokenizer",
                                 std::string(LADDER_TEST_DATA) + "/tokenizer/byte-bpe/llama3-style/tokenizer.json", "x"}, dir),
                        {"tokenizer vocabulary: expected at most the model's 512, found 661"});
  // ... and one that fits: a random model of 661 ids reads it and answers with text.
  {
    nlohmann::json config = nlohmann::json::parse(read_text(std::string(LADDER_TEST_DATA) + "/llama/llama-gqa/config.json"));
    config["vocab_size"] = 661;
    std::ofstream(dir / "config-661.json") << config.dump();
  }
  CliResult byte_level = run_cli({"generate", "--model", "arch:" + (dir / "config-661.json"), "--tokenizer",
                                  std::string(LADDER_TEST_DATA) + "/tokenizer/byte-bpe/llama3-style/tokenizer.json",
                                  "Once upon a time", "--max-new-tokens", "5"}, dir);
  ASSERT_EQ(byte_level.status, 0) << byte_level.err;
  EXPECT_EQ(lines_of(byte_level.out).size(), 1u) << byte_level.out;
  expect_one_line_error(run_cli({"generate", "--model", dir / "stories", "--ids", "1,512"}, dir), {"[0, 512)", "512"});
  expect_one_line_error(run_cli({"generate", "--model", dir / "stories", "--ids", "1,,2"}, dir), {"comma-separated"});
  expect_one_line_error(run_cli({"convert", "llama2c", data + "/stories260K.bin", "--out", dir / "stories"}, dir),
                        {"config.json exists"});
  expect_one_line_error(run_cli({"convert", "llama2c", data + "/LICENSE-llama2.c", "--out", dir / "other"}, dir),
                        {"LICENSE-llama2.c"});
  EXPECT_FALSE(fs::exists(dir / "other/config.json"));
}

// Converted with its own tokenizer, stories260K reads and writes text: greedy generation from <s>
// alone, and from a prompt, prints llama2.c's documented story (run.c at temperature 0, 256
// tokens: tests/reference/llama2c_reference.py), with and without the cache.
TEST(CliCausalLM, StoriesWithItsTokenizerTellsRunCsStory) {
  TempDir dir;
  const std::string data = std::string(LADDER_TEST_DATA) + "/llama2c";
  CliResult converted = run_cli({"convert", "llama2c", data + "/stories260K.bin", "--tokenizer", data + "/tok512.bin",
                                 "--out", dir / "stories"}, dir);
  ASSERT_EQ(converted.status, 0) << converted.err;
  for (const char* file : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(fs::path(dir / "stories") / file)) << file;
  const std::string story = read_text(data + "/greedy.txt");
  ASSERT_TRUE(story.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0) == 0);
  for (const char* cache : {"", "--no-cache"}) {
    std::vector<std::string> args = {"generate", "--model", dir / "stories", "--max-new-tokens", "256", ""};
    if (*cache) args.push_back(cache);
    CliResult from_start = run_cli(args, dir);
    ASSERT_EQ(from_start.status, 0) << from_start.err;
    EXPECT_EQ(from_start.out, story + "\n") << cache;
  }
  // "Once upon a time" is the story's first four tokens: its continuation is the same story.
  CliResult prompted = run_cli({"generate", "--model", dir / "stories", "--max-new-tokens", "252", "Once upon a time"}, dir);
  ASSERT_EQ(prompted.status, 0) << prompted.err;
  EXPECT_EQ(prompted.out, story + "\n");
  // Streamed, token by token, it is the same story; a stop text ends it before the text.
  CliResult streamed =
      run_cli({"generate", "--model", dir / "stories", "--max-new-tokens", "252", "--stream", "Once upon a time"}, dir);
  ASSERT_EQ(streamed.status, 0) << streamed.err;
  EXPECT_EQ(streamed.out, story + "\n");
  // A continuation that starts a word keeps its space, as in one decode of the prompt and all.
  CliResult word = run_cli(
      {"generate", "--model", dir / "stories", "--max-new-tokens", "249", "--stream", "Once upon a time, there was"}, dir);
  EXPECT_EQ(word.out, story + "\n") << word.err;
  CliResult stopped = run_cli(
      {"generate", "--model", dir / "stories", "--max-new-tokens", "252", "--stream", "--stop", "park", "Once upon a time"}, dir);
  EXPECT_EQ(stopped.out, story.substr(0, story.find("park")) + "\n") << stopped.err;
  expect_one_line_error(run_cli({"generate", "--model", dir / "stories", "--stream", "--ids", "1"}, dir), {"--stream", "--ids"});
  CliResult ids = run_cli({"tokenize", "--tokenizer", dir / "stories/tokenizer.json", "Once upon a time"}, dir);
  EXPECT_EQ(ids.out, "1 403 407 261 378\n") << ids.err;
  CliResult same = run_cli({"tokenize", "--tokenizer", data + "/tok512.bin", "Once upon a time"}, dir);
  EXPECT_EQ(same.out, ids.out) << same.err;

  // A tokenizer of another vocabulary is refused before anything is written.
  expect_one_line_error(run_cli({"convert", "llama2c", data + "/stories260K.bin", "--tokenizer",
                                 std::string(LADDER_TEST_DATA) + "/tokenizer/llama2/tokenizer.bin", "--out", dir / "wrong"}, dir),
                        {"tokenizer.bin", "512", "32000"});
  EXPECT_FALSE(fs::exists(dir / "wrong/config.json"));
  EXPECT_FALSE(fs::exists(dir / "wrong/tokenizer.json"));
}

// train, eval and predict on a decoder-only model: a prompt/completion file with LoRA, and GLUE
// (as prompts with label words) with LST.
TEST(CliCausalLM, TrainEvalPredict) {
  TempDir dir;
  const std::string data = std::string(LADDER_TEST_DATA) + "/llama2c";
  ASSERT_EQ(run_cli({"convert", "llama2c", data + "/stories260K.bin", "--tokenizer", data + "/tok512.bin", "--out",
                     dir / "stories"}, dir).status, 0);
  {
    std::ofstream data(dir / "pairs.jsonl");
    for (int i = 0; i < 20; ++i)
      data << nlohmann::json{{"prompt", "the layers " + std::to_string(i % 4)}, {"completion", i % 2 ? "sat" : "ran"}}.dump()
           << "\n";
  }
  CliResult trained = run_cli({"train", "--model", dir / "stories", "--task", "completion",
                               "--data", dir / "pairs.jsonl", "--method", "lora", "--max-steps", "4", "--batch-size", "4",
                               "--lr", "1e-2", "--out", dir / "run", "--threads", "1"}, dir);
  ASSERT_EQ(trained.status, 0) << trained.err;
  // The authors' 500 warmup updates outlast these 4: said, with what to pass.
  EXPECT_NE(trained.err.find("WARNING: warmup 500 is not shorter than the run's 4 updates"), std::string::npos) << trained.err;
  EXPECT_NE(trained.err.find("pass --warmup-steps 1"), std::string::npos) << trained.err;
  const nlohmann::json run = nlohmann::json::parse(read_text(dir / "run/run.json"));
  EXPECT_TRUE(run["task"]["decoder_only"].get<bool>());
  EXPECT_EQ(run["task"]["source_field"], "prompt");
  CliResult evaluated = run_cli({"eval", "--run", dir / "run", "--checkpoint", "last", "--threads", "1"}, dir);
  ASSERT_EQ(evaluated.status, 0) << evaluated.err;
  EXPECT_TRUE(nlohmann::json::parse(evaluated.out)["metrics"].contains("exact_match")) << evaluated.out;
  CliResult predicted = run_cli({"predict", "--run", dir / "run", "--checkpoint", "last", "the layers 1", "the layers 2"}, dir);
  ASSERT_EQ(predicted.status, 0) << predicted.err;
  EXPECT_EQ(lines_of(predicted.out).size(), 2u) << predicted.out;

  CliResult glue = run_cli({"train", "--model", dir / "stories", "--task", "rte", "--data",
                            std::string(LADDER_TEST_DATA) + "/glue_samples", "--method", "lst", "--reduction", "4", "--max-steps", "2",
                            "--warmup-steps", "1", "--batch-size", "2", "--out", dir / "rte", "--threads", "1"}, dir);
  ASSERT_EQ(glue.status, 0) << glue.err;
  EXPECT_EQ(glue.err.find("WARNING"), std::string::npos) << glue.err;
  const nlohmann::json metrics = nlohmann::json::parse(read_text(dir / "rte/metrics.json"));
  EXPECT_TRUE(metrics["last"]["metrics"].contains("accuracy")) << metrics.dump();
  CliResult rte = run_cli({"predict", "--run", dir / "rte", "--checkpoint", "last", "A man sleeps.\tA man is awake."}, dir);
  ASSERT_EQ(rte.status, 0) << rte.err;
  EXPECT_EQ(lines_of(rte.out).size(), 1u) << rte.out;
  // Plain text is for decoder-only models; a T5 is told so.
  std::ofstream(dir / "plain.txt") << "one line\nanother line\n";
  expect_one_line_error(run_cli({"train", "--model", test::fixture_dir("t5-tiny-v1_0"), "--tokenizer",
                                 test::fixture_dir("tiny-tokenizer") + "/spiece.model", "--task", "text", "--data",
                                 dir / "plain.txt", "--out", dir / "t5-text"}, dir),
                        {"needs a decoder-only model"});
}

TEST(CliCausalLM, ForwardMatchesTheReference) {
  TempDir dir;
  const std::string fixture = std::string(LADDER_TEST_DATA) + "/llama/qwen2-bias";
  auto golden = read_safetensors(fixture + "/golden.safetensors");
  write_safetensors(dir / "in.safetensors", {{"input_ids", golden.at("input_ids")},
                                             {"attention_mask", golden.at("attention_mask")},
                                             {"labels", golden.at("labels")}});
  CliResult r = run_cli({"forward", "--model", fixture, "--inputs", dir / "in.safetensors", "--output", dir / "out.safetensors"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  auto out = read_safetensors(dir / "out.safetensors");
  EXPECT_LE(test::max_abs_diff(out.at("logits"), golden.at("logits")), 2e-5);
  EXPECT_LE(test::max_abs_diff(out.at("loss"), golden.at("loss")), 1e-5);
  EXPECT_LE(test::max_abs_diff(out.at("hidden_states.2"), golden.at("hidden_states.2")), 2e-5);

  // A quantised backbone: the logits the library gives for that storage, recorded as such.
  for (const auto& [name, format] : {std::pair<std::string, QuantFormat>{"int8", QuantFormat::int8}, {"nf4", QuantFormat::nf4}}) {
    CliResult q = run_cli({"forward", "--model", fixture, "--inputs", dir / "in.safetensors", "--output",
                           dir / (name + ".safetensors"), "--backbone-dtype", name}, dir);
    ASSERT_EQ(q.status, 0) << q.err;
    ModelOptions options;
    options.quantization = format;
    LlamaForCausalLM model = load_causal_lm(fixture, options).model;
    model->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor expected =
        model->forward(CausalLMBatch{golden.at("input_ids"), golden.at("attention_mask"), golden.at("labels")}).logits;
    const torch::Tensor logits = read_safetensors(dir / (name + ".safetensors")).at("logits");
    EXPECT_TRUE(torch::equal(logits, expected)) << name;
    EXPECT_GT(test::max_abs_diff(logits, golden.at("logits")), 1e-4) << name << ": not quantised?";
    EXPECT_EQ(safetensors::File::open(dir / (name + ".safetensors")).metadata().at("backbone_dtype"), name);
  }

  write_safetensors(dir / "bad.safetensors", {{"input_ids", golden.at("input_ids") + 90}});
  expect_one_line_error(run_cli({"forward", "--model", fixture, "--inputs", dir / "bad.safetensors", "--output", dir / "o2"}, dir),
                        {"bad.safetensors", "ids in [0, 96)"});
  EXPECT_FALSE(fs::exists(dir / "o2"));
}

}  // namespace
}  // namespace ladder
