// Chat and instruction data end to end (--task chat, --chat-template), and --eos-token, on
// stories260K through the command line.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "decoder_test_util.h"
#include "ladder/error.h"
#include "ladder/tokenizer/text_tokenizer.h"
#include "ladder/train/run.h"
#include "test_util.h"

namespace ladder {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::run_cli;
using test::TempDir;

const std::string kChat = std::string(LADDER_TEST_DATA) + "/chat";

void expect_error(const CliResult& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  for (const auto& part : parts) EXPECT_NE(r.err.find(part), std::string::npos) << part << " in " << r.err;
}

TEST(CliChat, RowsAreRenderedWithTheTemplateLearnedAndAnswered) {
  TempDir dir;
  const std::string model = test::stories_folder(dir);
  fs::create_directories(dir / "data");
  fs::copy_file(kChat + "/train.jsonl", dir / "data/train.jsonl");
  fs::copy_file(kChat + "/train.jsonl", dir / "data/validation.jsonl");
  const std::string chat_template = kChat + "/turns.jinja";

  // What the model reads: the template's prompt, then the last answer.
  CliResult data = run_cli({"data", "--task", "chat", "--data", dir / "data", "--chat-template", chat_template}, dir);
  ASSERT_EQ(data.status, 0) << data.err;
  const auto first = nlohmann::json::parse(data.out.substr(0, data.out.find('\n')));
  EXPECT_EQ(first["source"],
            "<|turn|>system\nYou are helpful.<|end|>\n<|turn|>user\nWhat colour is the sky?<|end|>\n<|turn|>assistant\n");
  EXPECT_EQ(first["target"], "Blue.");

  CliResult trained = run_cli({"train", "--model", model, "--task", "chat", "--data", dir / "data", "--chat-template",
                               chat_template, "--method", "lora", "--lr", "1e-2", "--warmup-steps", "0", "--batch-size",
                               "5", "--max-steps", "60", "--eval-every", "60", "--threads", "1", "--out", dir / "run"},
                              dir);
  ASSERT_EQ(trained.status, 0) << trained.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(trained.out)["last"]["metrics"]["exact_match"].get<double>(), 1.0) << trained.out;
  // The template travels with the run: evaluated or asked anywhere, prompts are rendered alike.
  const auto run = nlohmann::json::parse(test::read_text(dir / "run/run.json"));
  EXPECT_EQ(run["task"]["kind"], "chat");
  EXPECT_EQ(run["task"]["chat_template"], test::read_text(chat_template));
  CliResult answer = run_cli({"predict", "--run", dir / "run", "--checkpoint", "last", "Opposite of hot?"}, dir);
  ASSERT_EQ(answer.status, 0) << answer.err;
  EXPECT_EQ(answer.out, "Cold.\n");

  // No template anywhere; a template flag on another task; a broken template.
  expect_error(run_cli({"train", "--model", model, "--task", "chat", "--data", dir / "data", "--out", dir / "x"}, dir),
               {model, "no chat template", "--chat-template"});
  EXPECT_FALSE(fs::exists(dir / "x/run.json"));
  expect_error(run_cli({"data", "--task", "completion", "--data", dir / "data", "--chat-template", chat_template}, dir),
               {"--chat-template goes with --task chat"});
  {
    std::ofstream(dir / "broken.jinja") << "{% for m in messages %}{{ m.content }}";
  }
  expect_error(run_cli({"data", "--task", "chat", "--data", dir / "data", "--chat-template", dir / "broken.jinja"}, dir),
               {dir / "broken.jinja"});
}

TEST(CliChat, AnEosTokenEndsGenerationAndIsRecordedWithTheRun) {
  TempDir dir;
  const std::string model = test::stories_folder(dir);
  const std::string story = "Once upon a time, there was a little girl named Lily.";
  for (const char* stream : {"", "--stream"}) {
    std::vector<std::string> args = {"generate", "--model", model, "--max-new-tokens", "40", "--eos-token", ".", "Once upon a time"};
    if (*stream) args.push_back(stream);
    CliResult ended = run_cli(args, dir);
    ASSERT_EQ(ended.status, 0) << ended.err;
    EXPECT_EQ(ended.out, story + "\n") << stream;
  }
  expect_error(run_cli({"generate", "--model", model, "--eos-token", "<|end|>", "Once"}, dir), {"<|end|>", "not one token"});
  expect_error(run_cli({"generate", "--model", test::fixture_dir("t5-tiny-v1_0"), "--tokenizer",
                        test::fixture_dir("tiny-tokenizer") + "/spiece.model", "--eos-token", ".", "x"},
                       dir),
               {"decoder-only"});
  CliResult trained = run_cli({"train", "--model", model, "--task", "chat", "--data", kChat + "/train.jsonl",
                               "--chat-template", kChat + "/turns.jinja", "--method", "lora", "--eos-token", ".",
                               "--max-steps", "1", "--threads", "1", "--out", dir / "run"},
                              dir);
  ASSERT_EQ(trained.status, 0) << trained.err;
  EXPECT_EQ(nlohmann::json::parse(test::read_text(dir / "run/run.json"))["eos_token"], ".");
  expect_error(run_cli({"eval", "--run", dir / "run", "--eos-token", "."}, dir), {"--eos-token", "run.json"});
  // Padding is masked: the flag transformers users bring says why it is not needed.
  expect_error(run_cli({"generate", "--model", model, "--pad-token", "<pad>", "Once"}, dir), {"--pad-token", "masks padding"});
}

// The eos token comes first (what training appends to each answer); the model's own eos ids
// still end generation.
TEST(EosToken, ComesFirstAndKeepsTheModelsOwn) {
  TempDir dir;
  const std::shared_ptr<TextTokenizer> loaded = load_causal_lm_tokenizer(test::stories_folder(dir) + "/tokenizer.json");
  const TextTokenizer& tokenizer = *loaded;
  LlamaConfig config;
  config.vocab_size = 512;
  config.eos_token_ids = {2, 1};
  const int64_t period = tokenizer.token_to_id(".");
  ASSERT_GE(period, 3);
  train::use_eos_token(config, tokenizer, "tok512.bin", ".");
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{period, 2, 1}));
  train::use_eos_token(config, tokenizer, "tok512.bin", ".");  // not twice
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{period, 2, 1}));
  EXPECT_EQ(config.fill_token_id(), period);  // no pad id: padding is the first eos, masked anyway
  EXPECT_THROW(train::use_eos_token(config, tokenizer, "tok512.bin", "two words"), UsageError);
}

}  // namespace
}  // namespace ladder
