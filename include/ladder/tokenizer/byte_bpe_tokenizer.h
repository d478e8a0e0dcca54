#pragma once
// Byte-level BPE from a Hugging Face `tokenizer.json` (Llama 3, SmolLM, GPT-2 style), read
// natively: added tokens matched in the raw text, the pre-tokenizers these models use (Split
// by regex, Digits, ByteLevel), BPE by merge rank (with ignore_merges), the TemplateProcessing
// post-processor's special tokens, and the ByteLevel decoder. The regex needs PCRE2 (built
// with LADDER_HAS_PCRE2); components outside that set are refused by name.
// Also Llama 2's tokenizer.json (what Hugging Face makes of a sentencepiece BPE model, and what
// `ladder convert llama2c --tokenizer` writes): '▁' for spaces with one prepended, BPE by merge
// rank over the whole text with byte fallback, and its decoder; no PCRE2 needed.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder {

class ByteLevelBpeTokenizer : public TextTokenizer {
 public:
  // Throws FormatError naming the file and the unsupported or malformed part.
  static ByteLevelBpeTokenizer load(const std::string& tokenizer_json_path);
  // Whether this build can read tokenizer.json files (PCRE2 was found).
  static bool available();
  // Whether this build reads tokenizers with the NFC normalizer (Qwen2; utf8proc was found).
  static bool reads_nfc();

  // Ids of `text`; with add_special_tokens the post-processor's tokens (e.g. Llama 3's
  // <|begin_of_text|>) are added. Invalid UTF-8 in `text` reads as U+FFFD.
  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::vector<std::string> encode_tokens(const std::string& text, bool add_special_tokens = true) const;
  // Text of `ids` (the ByteLevel decoder; malformed UTF-8 becomes U+FFFD per maximal invalid
  // subsequence, as Rust's from_utf8_lossy). An id outside the vocabulary is a UsageError.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  int64_t vocab_size() const override;  // the largest id + 1
  // The id of a token by its string (vocabulary or added tokens), or -1.
  int64_t token_to_id(const std::string& token) const override;

  std::vector<int64_t> encode_text(const std::string& text) const override { return encode(text, false); }
  std::vector<int64_t> encode_input(const std::string& text) const override { return encode(text, true); }
  std::string decode_text(const std::vector<int64_t>& ids) const override { return decode(ids); }

 private:
  struct Impl;
  explicit ByteLevelBpeTokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ladder
