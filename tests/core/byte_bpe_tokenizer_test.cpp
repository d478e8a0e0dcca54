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
      {[](auto& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "normalizer \"NFKC\" is not supported"},
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

// Qwen2's NFC normalizer composes the text before it is split: the encoding of a text is the
// plain tokenizer's of its NFC form. The NFC forms were printed by Python's
// unicodedata.normalize("NFC", ...) (Unicode 14), independent of utf8proc.
TEST(ByteBpeNfc, TextIsComposedAsPythonComposesIt) {
  if (!ByteLevelBpeTokenizer::available() || !ByteLevelBpeTokenizer::reads_nfc())
    GTEST_SKIP() << "built without PCRE2 or utf8proc";
  nlohmann::json json = read_json_file(kDir + "/llama3-style/tokenizer.json");
  json["normalizer"] = {{"type", "NFC"}};
  const std::string path = ::testing::TempDir() + "/nfc-tokenizer.json";
  std::ofstream(path) << json.dump();
  const ByteLevelBpeTokenizer nfc = ByteLevelBpeTokenizer::load(path);
  const ByteLevelBpeTokenizer plain = ByteLevelBpeTokenizer::load(kDir + "/llama3-style/tokenizer.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"caf" "e\u0301", "caf\u00e9"},                     // e + combining acute -> é
      {"\u1100\u1161\u11a8", "\uac01"},                   // Hangul jamo -> one syllable
      {"\u212b ngstr\u00f6m", "\u00c5 ngstr\u00f6m"},      // Angstrom sign -> Å (a singleton)
      {"a\u0323\u0302", "\u1ead"},                        // marks reordered, then composed
      {"\u1e9b\u0323", "\u1e9b\u0323"},                   // composition is blocked
      {"\ufb01 \u2126 K\u00f6ln", "\ufb01 \u03a9 K\u00f6ln"},  // the ligature stays (NFKC's), Ohm -> Omega
  };
  for (const auto& [text, composed] : cases) EXPECT_EQ(nfc.encode(text), plain.encode(composed)) << composed;
  EXPECT_NE(plain.encode("cafe\u0301"), plain.encode("caf\u00e9"));
  // Special tokens are found before the normalizer runs and stay whole.
  EXPECT_EQ(nfc.encode("<|begin_of_text|>e\u0301", false), plain.encode("<|begin_of_text|>\u00e9", false));
}

}  // namespace
}  // namespace ladder
