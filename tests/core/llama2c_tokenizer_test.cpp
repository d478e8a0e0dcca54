// llama2.c's tokenizer files (stories260K's tok512.bin, Llama 2's tokenizer.bin) against
// tests/reference/llama2c_tokenizer_reference.py, a plain-Python reading of run.c's encode and
// decode; and the tokenizer.json that `convert llama2c --tokenizer` writes, read back by
// ladder's Hugging Face reader, which must encode every golden text to the same ids.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/tokenizer/byte_bpe_tokenizer.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"
#include "ladder/tokenizer/llama_tokenizer.h"
#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

const std::string kTok512 = std::string(LADDER_TEST_DATA) + "/llama2c/tok512.bin";
const std::string kLlama2Bin = std::string(LADDER_TEST_DATA) + "/tokenizer/llama2/tokenizer.bin";
const std::string kLlama2Model = std::string(LADDER_TEST_DATA) + "/tokenizer/llama2/tokenizer.model";

const nlohmann::json& golden() {
  static const nlohmann::json json = read_json_file(std::string(LADDER_TEST_DATA) + "/llama2c/tokenizer_golden.json");
  return json;
}

// A fresh folder under the test's temporary directory, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("ladder-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// Expects exception type E whose message names every part.
template <typename E, typename F>
void expect_error(F fn, std::initializer_list<const char*> parts) {
  const std::string message = test::error_of<E>(fn);
  for (const char* part : parts) EXPECT_TRUE(test::contains(message, part)) << "\"" << part << "\" not in: " << message;
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Llama2cTokenizer, Tok512EncodesAsRunC) {
  const Llama2cTokenizer tokenizer = Llama2cTokenizer::load(kTok512);
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  const auto& cases = golden().at("tok512");
  ASSERT_GE(cases.size(), 300u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    const Ids ids = c.at("ids");
    EXPECT_EQ(tokenizer.encode(text), ids) << "text: " << c.at("text").dump();
    Ids with_both = ids;
    with_both.insert(with_both.begin(), Llama2cTokenizer::kBosId);
    with_both.push_back(Llama2cTokenizer::kEosId);
    EXPECT_EQ(tokenizer.encode(text, true, true), with_both) << "text: " << c.at("text").dump();
  }
}

TEST(Llama2cTokenizer, Llama2TokenizerBinEncodesAsRunCAndAsSentencepiece) {
  const Llama2cTokenizer tokenizer = Llama2cTokenizer::load(kLlama2Bin);
  EXPECT_EQ(tokenizer.vocab_size(), 32000);
  const LlamaTokenizer sentencepiece = LlamaTokenizer::load(kLlama2Model);
  size_t agreeing = 0;
  for (const auto& c : golden().at("llama2")) {
    const std::string text = c.at("text");
    const Ids ids = c.at("ids");
    EXPECT_EQ(tokenizer.encode(text), ids) << "text: " << c.at("text").dump();
    // Where the reference found run.c and sentencepiece agreeing, ladder's own sentencepiece
    // reader (checked against sentencepiece elsewhere) must give the same ids: an independent
    // check of the merge rule on a 32,000-piece vocabulary.
    if (c.at("sentencepiece_agrees").get<bool>()) {
      EXPECT_EQ(sentencepiece.encode(text), ids) << "text: " << c.at("text").dump();
      ++agreeing;
    }
  }
  EXPECT_GE(agreeing, 100u);
}

TEST(Llama2cTokenizer, DecodesAsRunC) {
  const Llama2cTokenizer tokenizer = Llama2cTokenizer::load(kTok512);
  const Llama2cTokenizer llama2 = Llama2cTokenizer::load(kLlama2Bin);
  size_t compared = 0;
  for (const auto& c : golden().at("decode")) {
    const Ids ids = c.at("ids");
    // run.c prints <s> and </s> as pieces and <0x00> as nothing; decode() leaves the first two
    // out (what training compares is text) and writes the byte.
    if (c.at("text").is_null() || std::any_of(ids.begin(), ids.end(), [](int64_t id) { return id >= 1 && id <= 3; })) continue;
    const Llama2cTokenizer& t = c.at("tokenizer") == "llama2" ? llama2 : tokenizer;
    // decode() starts as after <s>, which matters only when the first piece starts with a space.
    if (!c.at("prev_is_bos").get<bool>() && !ids.empty() && t.piece(ids[0])[0] == ' ') continue;
    EXPECT_EQ(t.decode(ids), c.at("text").get<std::string>()) << c.dump();
    ++compared;
  }
  EXPECT_GE(compared, 12u);
  // Every valid text comes back from its ids.
  for (const auto& c : golden().at("tok512")) {
    const std::string text = c.at("text");
    if (!text.empty() && text[0] == ' ') continue;  // the dummy prefix merges with a leading space
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, true, true)), text) << c.at("text").dump();
  }
  expect_error<UsageError>([&] { tokenizer.decode({512}); }, {"512", "[0, 512)"});
}

const char* const kReadDifferently[] = {"\xE2\x96\x81", "<unk>", "<s>", "</s>"};

TEST(Llama2cTokenizer, ItsHuggingFaceTokenizerJsonEncodesTheSameIds) {
  for (const auto& [file, key] : {std::pair{kTok512, "tok512"}, std::pair{kLlama2Bin, "llama2"}}) {
    SCOPED_TRACE(file);
    ScratchDir dir;
    const Llama2cTokenizer tokenizer = Llama2cTokenizer::load(file);
    tokenizer.write_hugging_face_files(dir.str());
    const ByteLevelBpeTokenizer json = ByteLevelBpeTokenizer::load(dir / "tokenizer.json");
    EXPECT_EQ(json.vocab_size(), tokenizer.vocab_size());
    EXPECT_EQ(json.token_to_id("<s>"), 1);
    EXPECT_EQ(json.token_to_id("</s>"), 2);
    size_t compared = 0;
    for (const auto& c : golden().at(key)) {
      const std::string text = c.at("text");
      const Ids ids = c.at("ids");
      // Hugging Face's format writes spaces as '▁', so a '▁' in the text reads as a space there
      // (as in sentencepiece), where run.c spells it in bytes; and it finds <unk>, <s> and </s>
      // written in the text as those tokens, where run.c reads them as plain text.
      if (std::any_of(std::begin(kReadDifferently), std::end(kReadDifferently),
                      [&](const char* part) { return text.find(part) != std::string::npos; }))
        continue;
      EXPECT_EQ(json.encode(text, /*add_special_tokens=*/false), ids) << "text: " << c.at("text").dump();
      Ids with_bos = ids;
      with_bos.insert(with_bos.begin(), 1);
      EXPECT_EQ(json.encode_input(text), with_bos) << "text: " << c.at("text").dump();
      EXPECT_EQ(json.decode(ids), tokenizer.decode(ids)) << "text: " << c.at("text").dump();
      ++compared;
    }
    EXPECT_GE(compared, 330u);
    const nlohmann::json config = read_json_file(dir / "tokenizer_config.json");
    EXPECT_EQ(config.at("bos_token"), "<s>");
    EXPECT_EQ(config.at("eos_token"), "</s>");
    EXPECT_EQ(read_json_file(dir / "special_tokens_map.json").at("unk_token"), "<unk>");
    // The generic loader picks the reader by the file's name.
    EXPECT_EQ(load_causal_lm_tokenizer(dir / "tokenizer.json")->encode_input("Once upon a time"),
              load_causal_lm_tokenizer(file)->encode_input("Once upon a time"));
  }
}

TEST(Llama2cTokenizer, BrokenFilesAreRefusedByName) {
  ScratchDir dir;
  const std::string good = read_bytes(kTok512);
  expect_error<FormatError>([&] { Llama2cTokenizer::load(dir / "missing.bin"); }, {"missing.bin", "no such"});
  write_bytes(dir / "truncated.bin", good.substr(0, good.size() - 3));
  expect_error<FormatError>([&] { Llama2cTokenizer::load(dir / "truncated.bin"); }, {"truncated.bin", "truncated"});
  write_bytes(dir / "empty.bin", "");
  expect_error<FormatError>([&] { Llama2cTokenizer::load(dir / "empty.bin"); }, {"empty.bin", "truncated"});
  std::string huge_length = good;
  const int32_t length = 1 << 20;
  std::memcpy(huge_length.data() + 4 + 4, &length, 4);  // token 0's length
  write_bytes(dir / "length.bin", huge_length);
  expect_error<FormatError>([&] { Llama2cTokenizer::load(dir / "length.bin"); }, {"length.bin", "token 0 length"});
  std::string bad_max = good;
  const int32_t zero = 0;
  std::memcpy(bad_max.data(), &zero, 4);
  write_bytes(dir / "max.bin", bad_max);
  expect_error<FormatError>([&] { Llama2cTokenizer::load(dir / "max.bin"); }, {"max.bin", "max_token_length"});
  // Byte fallback needs <0x00>..<0xFF> at ids 3-258: a renamed byte token is refused.
  std::string renamed = good;
  const size_t at = renamed.find("<0x41>");
  ASSERT_NE(at, std::string::npos);
  renamed[at + 1] = 'X';
  write_bytes(dir / "bytes.bin", renamed);
  expect_error<FormatError>([&] { Llama2cTokenizer::load(dir / "bytes.bin"); }, {"bytes.bin", "<0x41>"});
  // A tokenizer.json that is neither style is refused by name.
  write_bytes(dir / "tokenizer.json", R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []}})");
  expect_error<FormatError>([&] { ByteLevelBpeTokenizer::load(dir / "tokenizer.json"); }, {"tokenizer.json", "byte_fallback"});
}

}  // namespace
}  // namespace ladder
