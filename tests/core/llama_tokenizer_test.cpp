// Llama 2's sentencepiece BPE tokenizer against Debian's python3-sentencepiece
// (tests/reference/llama2_tokenizer_reference.py wrote the golden file once).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "ladder/error.h"
#include "ladder/tokenizer/llama_tokenizer.h"

namespace ladder {
namespace {

using Ids = std::vector<int64_t>;
const std::string kDir = std::string(LADDER_TEST_DATA) + "/tokenizer/llama2";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const LlamaTokenizer& llama() {
  static const LlamaTokenizer tokenizer = LlamaTokenizer::load(kDir + "/tokenizer.model");
  return tokenizer;
}

TEST(LlamaTokenizer, SpecialIdsAndSize) {
  EXPECT_EQ(llama().vocab_size(), 32000);
  EXPECT_EQ(llama().unk_id(), 0);
  EXPECT_EQ(llama().bos_id(), 1);
  EXPECT_EQ(llama().eos_id(), 2);
  EXPECT_EQ(llama().encode("Once upon a time", /*add_bos=*/true), (Ids{1, 9038, 2501, 263, 931}));
}

TEST(LlamaTokenizer, GoldenEncodingsAndDecodings) {
  const auto golden = nlohmann::json::parse(read_bytes(kDir + "/golden.json"));
  ASSERT_GE(golden.at("cases").size(), 40u);
  for (const auto& c : golden.at("cases")) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(llama().encode(text), c.at("ids").get<Ids>());
    EXPECT_EQ(llama().encode_pieces(text), c.at("pieces").get<std::vector<std::string>>());
    EXPECT_EQ(llama().decode(c.at("ids").get<Ids>()), c.at("decoded").get<std::string>());
  }
  ASSERT_GE(golden.at("decode_cases").size(), 20u);
  for (const auto& c : golden.at("decode_cases")) {
    SCOPED_TRACE("ids: " + c.at("ids").dump());
    EXPECT_EQ(llama().decode(c.at("ids").get<Ids>()), c.at("decoded").get<std::string>());
  }
}

TEST(LlamaTokenizer, WrongFilesAreNamed) {
  std::string message = test::error_of<FormatError>(
      [] { LlamaTokenizer::load(std::string(LADDER_TEST_DATA) + "/tokenizer/spiece.model"); });
  EXPECT_TRUE(test::contains(message, "spiece.model: trainer_spec.model_type: expected 2 (BPE), found 1")) << message;
  message = test::error_of<FormatError>([] { LlamaTokenizer::load(kDir + "/missing.model"); });
  EXPECT_TRUE(test::contains(message, "missing.model: cannot open")) << message;
  message = test::error_of<UsageError>([] { llama().decode({5, 32000}); });
  EXPECT_TRUE(test::contains(message, "id 32000")) << message;
}

// A user-defined piece is never merged with its neighbours (tests/reference/tiny_bpe_reference.py).
TEST(LlamaTokenizer, TinyModelWithUserDefinedPiece) {
  const LlamaTokenizer tiny = LlamaTokenizer::load(std::string(LADDER_TEST_DATA) + "/tokenizer/tiny-bpe.model");
  const auto golden = nlohmann::json::parse(read_bytes(std::string(LADDER_TEST_DATA) + "/tokenizer/tiny-bpe-golden.json"));
  ASSERT_EQ(golden.at("cases").size(), 5u);
  for (const auto& c : golden.at("cases")) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tiny.encode(text), c.at("ids").get<Ids>());
    EXPECT_EQ(tiny.encode_pieces(text), c.at("pieces").get<std::vector<std::string>>());
    EXPECT_EQ(tiny.decode(c.at("ids").get<Ids>()), c.at("decoded").get<std::string>());
  }
}

}  // namespace
}  // namespace ladder
