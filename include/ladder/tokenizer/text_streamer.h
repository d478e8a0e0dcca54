#pragma once
// Streaming output of a generation: each token's text is written as soon as it is settled, and
// what is written in the end equals what decoding the whole output at once gives.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder {

class TextStreamer {
 public:
  // `context`: ids the output is decoded after (a decoder-only prompt), so that a piece's
  // leading space comes out as in one decode of everything; it is not written. `stops`: the
  // output ends before the first of these texts, which is never written, even in part.
  TextStreamer(const TextTokenizer& tokenizer, std::vector<int64_t> context, std::vector<std::string> stops,
               std::function<void(const std::string&)> write);

  // One generated id (end-of-sequence ids are the caller's to leave out). Writes what is
  // settled: a character whose UTF-8 bytes are not all decoded yet, and a tail that could be
  // the start of a stop text, wait. Returns false once a stop text was reached.
  bool add(int64_t id);
  // Writes what was held back, cut before a stop text.
  void finish();

  bool stopped() const { return stopped_; }

 private:
  std::string continuation() const;
  void write_up_to(const std::string& text, std::size_t end);

  const TextTokenizer& tokenizer_;
  std::vector<int64_t> ids_;  // context, then the generated ids
  std::size_t context_size_;
  std::string context_text_;
  std::vector<std::string> stops_;
  std::function<void(const std::string&)> write_;
  std::string written_;
  bool stopped_ = false;
};

// The length of `text` without a trailing UTF-8 sequence that is cut short or decoded as U+FFFD
// (a byte-fallback character whose other bytes are still to come).
std::size_t settled_utf8_length(const std::string& text);

}  // namespace ladder
