// Golden tests of the native T5 tokenizer against sentencepiece's own output (the golden
// files in tests/data/tokenizer were made with sentencepiece) and Hugging Face's documented
// T5 behaviour.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ladder/error.h"
#include "ladder/tokenizer/t5_tokenizer.h"

namespace ladder {
namespace {

const std::string kDataDir = std::string(LADDER_TEST_DATA) + "/tokenizer";
const std::string kT5Model = kDataDir + "/spiece.model";
const std::string kTinyModel = kDataDir + "/tiny-spiece.model";

using Ids = std::vector<int64_t>;

const T5Tokenizer& t5() {
  static const T5Tokenizer tokenizer = T5Tokenizer::load(kT5Model);
  return tokenizer;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = testing::TempDir() + "ladder_tokenizer_test_" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

Ids with_eos(Ids ids) {
  ids.push_back(1);
  return ids;
}

TEST(T5Tokenizer, SpecialIdsAndSizes) {
  EXPECT_EQ(t5().piece_count(), 32000);
  EXPECT_EQ(t5().vocab_size(), 32100);
  EXPECT_EQ(t5().pad_id(), 0);
  EXPECT_EQ(t5().eos_id(), 1);
  EXPECT_EQ(t5().unk_id(), 2);
  EXPECT_EQ(t5().sentinel_id(0), 32099);
  EXPECT_EQ(t5().sentinel_id(1), 32098);
  EXPECT_EQ(t5().sentinel_id(99), 32000);
  EXPECT_EQ(t5().id_to_piece(32099), "<extra_id_0>");
  EXPECT_EQ(t5().id_to_piece(32000), "<extra_id_99>");
  EXPECT_EQ(t5().id_to_piece(1), "</s>");
  EXPECT_EQ(t5().id_to_piece(37), "\xE2\x96\x81The");  // "▁The", golden case 0
  EXPECT_THROW(t5().sentinel_id(100), UsageError);
  EXPECT_THROW(t5().sentinel_id(-1), UsageError);
  EXPECT_THROW(t5().id_to_piece(32100), UsageError);
  EXPECT_THROW(t5().id_to_piece(-1), UsageError);
}

TEST(T5Tokenizer, GoldenCases) {
  const auto golden = nlohmann::json::parse(read_bytes(kDataDir + "/golden_tokenization.json"));
  ASSERT_EQ(golden.at("cases").size(), 10u);
  for (const auto& c : golden.at("cases")) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(t5().encode(text), c.at("ids").get<Ids>());
    EXPECT_EQ(t5().encode_pieces(text), c.at("pieces").get<std::vector<std::string>>());
    EXPECT_EQ(t5().decode(c.at("ids").get<Ids>()), c.at("decoded").get<std::string>());
  }
}

TEST(T5Tokenizer, GoldenLargeSentencepieceIds) {
  std::ifstream in(kDataDir + "/golden_tokenization_large.jsonl");
  std::vector<std::string> texts;
  std::vector<Ids> expected;
  for (std::string line; std::getline(in, line);) {
    const auto row = nlohmann::json::parse(line);
    texts.push_back(row.at("text"));
    expected.push_back(row.at("ids").get<Ids>());
  }
  ASSERT_EQ(texts.size(), 1152u);

  const auto start = std::chrono::steady_clock::now();
  std::vector<Ids> plain;
  for (const std::string& text : texts) plain.push_back(t5().encode_plain(text));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Printed only: timing depends on the machine and the build (sanitizers, -O0).
  std::cout << "[ tokenizer] 1152 texts in " << seconds * 1000 << " ms\n";

  int special = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + texts[i]);
    // The golden ids are sentencepiece's plain encoding plus </s>.
    EXPECT_EQ(with_eos(plain[i]), expected[i]);
    // Texts without special-token names must encode identically through the T5 path.
    const bool has_special = texts[i].find("<extra_id_") != std::string::npos ||
                             texts[i].find("</s>") != std::string::npos;
    special += has_special;
    if (!has_special) {
      EXPECT_EQ(t5().encode(texts[i]), expected[i]);
    }
  }
  EXPECT_EQ(special, 2);  // the two lines checked in SpecialTokensInText
}

TEST(T5Tokenizer, SpecialTokensInText) {
  // Golden line 1136 encodes "<extra_id_0>" as plain characters (3 2 25666 834 23 26 834 632
  // 3155); Hugging Face's T5Tokenizer makes it the sentinel and keeps the rest.
  EXPECT_EQ(t5().encode("<extra_id_0> is plain text to sentencepiece"),
            (Ids{32099, 19, 6080, 1499, 12, 7142, 8424, 1}));
  EXPECT_EQ(t5().encode("</s> <pad> <unk>"), (Ids{1, 0, 2, 1}));
  // The example of Hugging Face's T5 documentation (span corruption).
  EXPECT_EQ(t5().encode("The <extra_id_0> walks in <extra_id_1> park"),
            (Ids{37, 32099, 10681, 16, 32098, 2447, 1}));
  EXPECT_EQ(t5().encode("<extra_id_0> cute dog <extra_id_1> the <extra_id_2>"),
            (Ids{32099, 5295, 1782, 32098, 8, 32097, 1}));
  // Whitespace next to a sentinel does not matter; each stretch gets its own dummy prefix.
  EXPECT_EQ(t5().encode("The<extra_id_0>walks"), t5().encode("The <extra_id_0>  walks"));
  EXPECT_EQ(t5().encode_pieces("The<extra_id_0>walks"),
            (std::vector<std::string>{"\xE2\x96\x81The", "<extra_id_0>", "\xE2\x96\x81walks"}));
  // Names that are not sentinels stay plain text.
  for (const std::string text : {"<extra_id_100>", "<extra_id_01>", "<extra_id_>", "<extra_id_7"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(t5().encode(text), with_eos(t5().encode_plain(text)));
    EXPECT_GT(t5().encode(text).size(), 3u);
  }
}

TEST(T5Tokenizer, Truncation) {
  const std::string text = "translate English to German: The house is wonderful.";
  const Ids full{13959, 1566, 12, 2968, 10, 37, 629, 19, 1627, 5, 1};  // golden case 0
  EXPECT_EQ(t5().encode(text, 5), (Ids{13959, 1566, 12, 2968, 1}));
  EXPECT_EQ(t5().encode(text, 1), (Ids{1}));
  EXPECT_EQ(t5().encode(text, 11), full);
  EXPECT_EQ(t5().encode(text, 100), full);
  EXPECT_EQ(t5().encode(text, -1), full);
  EXPECT_EQ(t5().encode(text, 3, /*add_eos=*/false), (Ids{13959, 1566, 12}));
  EXPECT_EQ(t5().encode(text, -1, /*add_eos=*/false), Ids(full.begin(), full.end() - 1));
  EXPECT_EQ(t5().encode(text, 0, /*add_eos=*/false), Ids{});
  EXPECT_THROW(t5().encode(text, 0), UsageError);
}

TEST(T5Tokenizer, DecodeSpecialTokens) {
  // "▁The" (37), "▁house" (629): golden case 0.
  const Ids ids{0, 37, 32099, 629, 1, 0};
  EXPECT_EQ(t5().decode(ids), "The house");
  EXPECT_EQ(t5().decode(ids, /*skip_special_tokens=*/false),
            "<pad> The<extra_id_0> house</s><pad>");
  // Label padding (-100) and ids of a model's padded vocabulary (32100..32127) are skipped.
  EXPECT_EQ(t5().decode({37, -100, 32127, 629}), "The house");
  EXPECT_THROW(t5().decode({37, -100}, false), UsageError);
  EXPECT_THROW(t5().decode({37, 32100}, false), UsageError);
  // Only the first piece loses its '▁'; an unknown id reads " ⁇ " (sentencepiece).
  EXPECT_EQ(t5().decode({3, 37}), "The");
  EXPECT_EQ(t5().decode({2, 37}), " \xE2\x81\x87  The");
  EXPECT_EQ(t5().decode({}), "");
}

TEST(T5Tokenizer, RoundTripsPlainText) {
  for (const std::string text : {"Hello world", "The cat sat on the mat, didn't it?",
                                 "sst2 sentence: a gorgeous, witty, seductive movie."}) {
    EXPECT_EQ(t5().decode(t5().encode(text)), text);
  }
}

TEST(T5Tokenizer, TinyTokenizerLoadsAndRoundTrips) {
  const T5Tokenizer tiny = T5Tokenizer::load(kTinyModel);
  EXPECT_EQ(tiny.piece_count(), 1000);
  EXPECT_EQ(tiny.vocab_size(), 1100);  // the tiny fixtures' vocabulary (fixtures/README.md)
  EXPECT_EQ(tiny.pad_id(), 0);
  EXPECT_EQ(tiny.eos_id(), 1);
  EXPECT_EQ(tiny.unk_id(), 2);
  EXPECT_EQ(tiny.sentinel_id(0), 1099);
  EXPECT_EQ(tiny.id_to_piece(3), "\xE2\x96\x81");  // piece 3 of the model file is "▁"
  for (const std::string text : {"the cat sat on the mat.", "a b c", "hello world"}) {
    SCOPED_TRACE(text);
    const Ids ids = tiny.encode(text);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.back(), 1);
    for (const int64_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 1000);
      EXPECT_NE(id, tiny.unk_id());
    }
    EXPECT_EQ(tiny.decode(ids), text);
  }
  EXPECT_EQ(tiny.encode("<extra_id_3>"), (Ids{1096, 1}));
}

// A hand-built ModelProto exercising what the T5 files do not: byte fallback, a
// USER_DEFINED piece and a normaliser without a charsmap.
std::string proto_varint(uint64_t value) {
  std::string out;
  do {
    const auto low = static_cast<uint8_t>(value & 0x7f);
    value >>= 7;
    out.push_back(static_cast<char>(low | (value != 0 ? 0x80 : 0)));
  } while (value != 0);
  return out;
}
std::string proto_bytes(int field, const std::string& bytes) {
  return proto_varint(field << 3 | 2) + proto_varint(bytes.size()) + bytes;
}
std::string proto_int(int field, uint64_t value) {
  return proto_varint(field << 3) + proto_varint(value);
}
std::string proto_piece(const std::string& piece, float score, int type) {
  uint32_t bits = 0;
  std::memcpy(&bits, &score, 4);
  std::string score_field = proto_varint(2 << 3 | 5);
  for (int i = 0; i < 4; ++i) score_field.push_back(static_cast<char>(bits >> (8 * i)));
  return proto_bytes(1, proto_bytes(1, piece) + score_field + proto_int(3, type));
}

TEST(T5Tokenizer, ByteFallbackAndUserDefinedPieces) {
  std::string model =
      proto_piece("<pad>", 0, 3) + proto_piece("</s>", 0, 3) + proto_piece("<unk>", 0, 2);
  for (int b = 0; b < 256; ++b) {  // ids 3 + b
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    model += proto_piece(name, 0, 6);
  }
  const std::string space = "\xE2\x96\x81";
  model += proto_piece(space, -3, 1) + proto_piece("a", -2, 1) +
           proto_piece("b", -2, 1) +                                        // 259..261
           proto_piece(space + "a", -1, 1) + proto_piece("ab", -1.5f, 1) +  // 262, 263
           proto_piece("<sep>", 0, 4);                                      // 264
  model +=
      proto_bytes(2, proto_int(35, 1) + proto_int(40, 2) + proto_int(42, 1) + proto_int(43, 0));
  model += proto_bytes(3, proto_bytes(1, "identity"));
  const T5Tokenizer tok = T5Tokenizer::load(write_temp("synthetic.model", model));
  EXPECT_EQ(tok.piece_count(), 265);

  // "▁ab": "▁a" + "b" scores -3, beating "▁" + "ab" (-4.5) and three single pieces (-7).
  EXPECT_EQ(tok.encode_plain("ab"), (Ids{262, 261}));
  // A USER_DEFINED piece is taken whole (score 5 * max -0.1 = -5.1, vs 5 unknown bytes).
  EXPECT_EQ(tok.encode_plain("a<sep>b"), (Ids{262, 264, 261}));
  // Unknown characters become their UTF-8 bytes, one piece each (no merging).
  EXPECT_EQ(tok.encode_plain("\xC3\xA9\xC3\xA9"),
            (Ids{259, 3 + 0xC3, 3 + 0xA9, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.encode_pieces("\xC3\xA9"), (std::vector<std::string>{space, "<0xC3>", "<0xA9>"}));
  EXPECT_EQ(tok.decode({259, 3 + 0xC3, 3 + 0xA9, 262}), "\xC3\xA9 a");
  // A byte run that is not UTF-8 decodes to U+FFFD per bad byte.
  EXPECT_EQ(tok.decode({3 + 0xA9, 260, 3 + 0xC3}),
            "\xEF\xBF\xBD"
            "a"
            "\xEF\xBF\xBD");
  EXPECT_EQ(tok.encode("a</s>b"), (Ids{262, 1, 259, 261, 1}));
}

// Every way the file can be broken must give a FormatError whose message names the file.
void expect_format_error(const std::string& path) {
  try {
    T5Tokenizer::load(path);
    ADD_FAILURE() << "no FormatError for " << path;
  } catch (const FormatError& e) {
    if (std::getenv("LADDER_SHOW_ERRORS") != nullptr) std::cout << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(T5Tokenizer, BrokenModelFilesGiveFormatErrors) {
  expect_format_error(kDataDir + "/no-such-spiece.model");
  expect_format_error(write_temp("empty.model", ""));
  expect_format_error(write_temp("text.model", "this is not a sentencepiece model\n"));

  const std::string bytes = read_bytes(kT5Model);
  ASSERT_GT(bytes.size(), 700000u);
  for (size_t cut : {size_t{1}, size_t{2}, size_t{10}, size_t{1000}, bytes.size() / 2,
                     bytes.size() - 1000, bytes.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_format_error(write_temp("cut.model", bytes.substr(0, cut)));
  }
  // A cut at a field boundary leaves valid protobuf: drop the last top-level field (the
  // normalizer_spec). Every top-level field of a ModelProto is length-delimited.
  size_t pos = 0, last_field = 0;
  const auto varint = [&]() {
    uint64_t value = 0;
    for (int shift = 0;; shift += 7) {
      const auto byte = static_cast<uint8_t>(bytes.at(pos++));
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
  };
  while (pos < bytes.size()) {
    last_field = pos;
    ASSERT_EQ(varint() & 7, 2u);
    pos += varint();
  }
  ASSERT_EQ(static_cast<uint8_t>(bytes[last_field]), 0x1A);  // field 3, length-delimited
  const size_t normalizer_start = last_field;
  expect_format_error(write_temp("no-normalizer.model", bytes.substr(0, normalizer_start)));

  // Piece 0 is "<pad>" with type CONTROL (3): make the type 9, then make it NORMAL so that
  // pad is gone.
  const size_t type_pos = bytes.find(std::string("\x18\x03", 2));
  ASSERT_LT(type_pos, 20u);
  std::string bad_type = bytes;
  bad_type[type_pos + 1] = 9;
  expect_format_error(write_temp("bad-type.model", bad_type));
  std::string no_pad = bytes;
  no_pad[type_pos + 1] = 1;
  expect_format_error(write_temp("no-pad.model", no_pad));
}

}  // namespace
}  // namespace ladder
