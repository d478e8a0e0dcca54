// Byte-level BPE tokenizer.json (Llama 3 and SmolLM styles) against
// tests/reference/byte_bpe_reference.py, an independent Python implementation of Hugging Face
// tokenizers' semantics that also wrote the two fixture tokenizers.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/tokenizer/byte_bpe_tokenizer.h"

namespace ladder {
namespace {

using Ids = std::vector<int64_t>;
const std::string kDir = std::string(LADDER_TEST_DATA) + "/tokenizer/byte-bpe";

class ByteBpe : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!ByteLevelBpeTokenizer::available()) GTEST_SKIP() << "built without PCRE2";
  }
};

TEST_P(ByteBpe, GoldenEncodingsAndDecodings) {
  const std::string dir = kDir + "/" + GetParam();
  const ByteLevelBpeTokenizer tokenizer = ByteLevelBpeTokenizer::load(dir + "/tokenizer.json");
  const nlohmann::json golden = read_json_file(dir + "/golden.json");
  EXPECT_EQ(tokenizer.vocab_size(), golden.at("vocab_size_with_added").get<int64_t>());
  ASSERT_EQ(golden.at("cases").size(), 30u);
  for (const auto& c : golden.at("cases")) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tokenizer.encode_tokens(text), c.at("tokens").get<std::vector<std::string>>());
    EXPECT_EQ(tokenizer.encode(text), c.at("ids").get<Ids>());
    EXPECT_EQ(tokenizer.decode(c.at("ids").get<Ids>()), c.at("decoded").get<std::string>());
    EXPECT_EQ(tokenizer.decode(c.at("ids").get<Ids>(), /*skip_special_tokens=*/false),
              c.at("decoded_with_special").get<std::string>());
  }
  for (const auto& c : golden.at("decode_cases")) {
    SCOPED_TRACE("ids: " + c.at("ids").dump());
    EXPECT_EQ(tokenizer.decode(c.at("ids").get<Ids>()), c.at("decoded").get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ByteBpe, ::testing::Values("llama3-style", "gpt2-style"), [](const auto& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
});

TEST(ByteBpeErrors, UnsupportedAndBrokenFilesAreNamed) {
  if (!ByteLevelBpeTokenizer::available()) GTEST_SKIP() << "built without PCRE2";
  const nlohmann::json base = read_json_file(kDir + "/llama3-style/tokenizer.json");
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](auto& j) { j["normalizer"] = {{"type", "NFC"}}; }, "normalizer \"NFC\" is not supported"},
      {[](auto& j) { j["model"]["type"] = "WordPiece"; }, "model \"WordPiece\" is not supported"},
      {[](auto& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; }, "pre-tokenizer \"Metaspace\" is not supported"},
      {[](auto& j) { j["model"]["merges"].push_back("Ġzz qq"); }, "uses \"Ġzz\", which is not in the vocabulary"},
      {[](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; }, "does not compile"},
      {[](auto& j) { j.erase("model"); }, "malformed tokenizer.json"},
  };
  for (const auto& item : cases) {
    nlohmann::json edited = base;
    item.edit(edited);
    const std::string path = ::testing::TempDir() + "/edited-tokenizer.json";
    std::ofstream(path) << edited.dump();
    const std::string message = test::error_of<FormatError>([&] { ByteLevelBpeTokenizer::load(path); });
    EXPECT_TRUE(test::contains(message, path + ": ")) << message;
    EXPECT_TRUE(test::contains(message, item.expected)) << message;
  }
  const ByteLevelBpeTokenizer tokenizer = ByteLevelBpeTokenizer::load(kDir + "/llama3-style/tokenizer.json");
  EXPECT_TRUE(test::contains(test::error_of<UsageError>([&] { tokenizer.decode({100000}); }), "id 100000"));
}

}  // namespace
}  // namespace ladder
