// TextStreamer: what it writes, step by step, is the settled part of one decode of everything,
// and in the end exactly that decode (cut before a stop text).
#include "ladder/tokenizer/text_streamer.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ladder {
namespace {

// Pieces by id; "_" marks a word start, read as a space except at the very start of a decode
// (as sentencepiece does), and "<0xC3>"-style pieces are raw bytes (byte fallback) that decode
// to U+FFFD when no complete character comes out of them.
class PieceTokenizer : public TextTokenizer {
 public:
  explicit PieceTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
  std::vector<int64_t> encode_text(const std::string&) const override { return {}; }
  std::vector<int64_t> encode_input(const std::string&) const override { return {}; }
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  std::string decode_text(const std::vector<int64_t>& ids) const override {
    std::string out, bytes;
    auto flush_bytes = [&] {
      // A lead byte without all its continuation bytes is not a character yet.
      const auto lead = bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]);
      const std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      out += bytes.size() >= need ? bytes : (bytes.empty() ? "" : "\xEF\xBF\xBD");
      bytes.clear();
    };
    for (int64_t id : ids) {
      const std::string& p = pieces_[static_cast<std::size_t>(id)];
      if (p.size() == 6 && p.rfind("<0x", 0) == 0) {
        bytes += static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16));
        continue;
      }
      flush_bytes();
      out += p[0] == '_' ? " " + p.substr(1) : p;
    }
    flush_bytes();
    return !out.empty() && out[0] == ' ' ? out.substr(1) : out;
  }

 private:
  std::vector<std::string> pieces_;
};

const PieceTokenizer kTokenizer({"_Hello", "_world", "<0xC3>", "<0xA9>", "_ca", "f", "_#", "#", "!", "_Lily", "<0xE2>",
                                 "<0x82>", "<0xAC>"});

struct Written {
  std::vector<std::string> chunks;
  std::string all() const {
    std::string s;
    for (const auto& c : chunks) s += c;
    return s;
  }
};

TextStreamer streamer_into(Written& w, std::vector<int64_t> context = {}, std::vector<std::string> stops = {}) {
  return TextStreamer(kTokenizer, std::move(context), std::move(stops), [&w](const std::string& t) { w.chunks.push_back(t); });
}

TEST(TextStreamer, WritesEachTokenAsItComesAndEndsAsOneDecode) {
  Written w;
  TextStreamer s = streamer_into(w);
  EXPECT_TRUE(s.add(0));
  EXPECT_EQ(w.all(), "Hello");  // no leading space at the start, as the one-shot decode
  EXPECT_TRUE(s.add(1));
  EXPECT_EQ(w.all(), "Hello world");
  s.finish();
  EXPECT_EQ(w.chunks, (std::vector<std::string>{"Hello", " world"}));
}

TEST(TextStreamer, AContextGivesThePieceItsSpaceAndIsNotWritten) {
  Written w;
  TextStreamer s = streamer_into(w, {0});
  s.add(1);
  s.finish();
  EXPECT_EQ(w.all(), " world");
}

TEST(TextStreamer, ACharacterWaitsForAllItsBytes) {
  Written w;
  TextStreamer s = streamer_into(w);
  s.add(4);  // "ca"
  s.add(5);  // "f"
  EXPECT_EQ(w.all(), "caf");
  s.add(2);  // the first byte of é: nothing yet, not even U+FFFD
  EXPECT_EQ(w.all(), "caf");
  s.add(3);
  EXPECT_EQ(w.all(), "caf\xC3\xA9");
  s.add(10);  // € is three bytes
  s.add(11);
  EXPECT_EQ(w.all(), "caf\xC3\xA9");
  s.add(12);
  EXPECT_EQ(w.all(), "caf\xC3\xA9\xE2\x82\xAC");
  s.finish();
  EXPECT_EQ(w.all(), kTokenizer.decode_text({4, 5, 2, 3, 10, 11, 12}));
}

TEST(TextStreamer, ACharacterLeftIncompleteIsWrittenAsDecodedAtTheEnd) {
  Written w;
  TextStreamer s = streamer_into(w);
  s.add(0);
  s.add(2);
  EXPECT_EQ(w.all(), "Hello");
  s.finish();
  EXPECT_EQ(w.all(), kTokenizer.decode_text({0, 2}));
}

TEST(TextStreamer, AStopTextIsNeverWrittenEvenInPart) {
  Written w;
  TextStreamer s = streamer_into(w, {}, {"##!"});
  EXPECT_TRUE(s.add(0));
  EXPECT_TRUE(s.add(6));  // " #": could start the stop text, held back
  EXPECT_EQ(w.all(), "Hello ");
  EXPECT_TRUE(s.add(7));  // " ##"
  EXPECT_EQ(w.all(), "Hello ");
  EXPECT_FALSE(s.add(8));  // " ##!": the stop text; generation ends
  EXPECT_TRUE(s.stopped());
  EXPECT_FALSE(s.add(1));
  s.finish();
  EXPECT_EQ(w.all(), "Hello ");
}

TEST(TextStreamer, AHeldBackTailThatIsNoStopIsWrittenOnceItCannotBeOne) {
  Written w;
  TextStreamer s = streamer_into(w, {}, {"##!"});
  s.add(6);
  s.add(7);
  EXPECT_EQ(w.all(), "");
  s.add(1);  // "## world": no stop text can start inside "##" any more
  EXPECT_EQ(w.all(), "## world");
  s.add(6);
  s.finish();  // a tail held back for a stop that never came is written at the end
  EXPECT_EQ(w.all(), "## world #");
}

TEST(TextStreamer, SettledLengthLeavesOutACutCharacterOnly) {
  EXPECT_EQ(settled_utf8_length(""), 0u);
  EXPECT_EQ(settled_utf8_length("abc"), 3u);
  EXPECT_EQ(settled_utf8_length("a\xC3\xA9"), 3u);
  EXPECT_EQ(settled_utf8_length("a\xC3"), 1u);
  EXPECT_EQ(settled_utf8_length("a\xE2\x82"), 1u);
  EXPECT_EQ(settled_utf8_length("a\xF0\x9F\x98"), 1u);
  EXPECT_EQ(settled_utf8_length("a\xF0\x9F\x98\x80"), 5u);
  EXPECT_EQ(settled_utf8_length("ab\xEF\xBF\xBD\xEF\xBF\xBD"), 2u);
}

}  // namespace
}  // namespace ladder
