#pragma once
// llama2.c's tokenizer file (`tokenizer.bin`, stories260K's `tok512.bin`), read natively and
// used exactly as llama2.c's run.c uses it: a dummy-prefix space, characters looked up whole
// or split into byte tokens, then the adjacent pair whose concatenation is the highest-scoring
// piece merged first (leftmost on ties) until none is left. Decoding writes byte tokens as raw
// bytes and drops the space that starts the first piece.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder {

class Llama2cTokenizer : public TextTokenizer {
 public:
  static constexpr int64_t kUnkId = 0, kBosId = 1, kEosId = 2;
  static constexpr int64_t kFirstByteId = 3;  // <0x00>; <0xFF> is 258

  // Throws FormatError naming the file when it is missing, truncated, has trailing bytes, or
  // lacks the 256 byte tokens at ids 3-258 that byte fallback needs.
  static Llama2cTokenizer load(const std::string& path);

  std::vector<int64_t> encode(const std::string& text, bool add_bos = false, bool add_eos = false) const;
  // The text of `ids`: BOS and EOS write nothing, other pieces as stored (<unk> as "<unk>").
  // An id outside the vocabulary is a UsageError.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const override;
  // The piece of `id` as llama2.c stores it: a space where sentencepiece writes '▁'.
  const std::string& piece(int64_t id) const;
  float score(int64_t id) const;

  std::vector<int64_t> encode_text(const std::string& text) const override { return encode(text); }
  std::vector<int64_t> encode_input(const std::string& text) const override { return encode(text, true); }
  std::string decode_text(const std::vector<int64_t>& ids) const override { return decode(ids); }

  // Writes the tokenizer as Hugging Face reads a Llama tokenizer: DIR/tokenizer.json (BPE
  // with byte fallback; merges from the scores, best first), tokenizer_config.json and
  // special_tokens_map.json, each atomically.
  void write_hugging_face_files(const std::string& dir) const;

 private:
  struct Impl;
  explicit Llama2cTokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ladder
