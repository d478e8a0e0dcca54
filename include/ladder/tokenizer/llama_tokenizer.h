#pragma once
// The sentencepiece BPE tokenizer of Llama 2 and TinyLlama (`tokenizer.model`), read natively
// like T5's: ids as sentencepiece's EncodeAsIds gives them, plus Hugging Face LlamaTokenizer's
// <s> in front when asked. Special tokens written in the text are plain text, as in
// sentencepiece.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder {

class LlamaTokenizer : public TextTokenizer {
 public:
  // Whether `path` is a sentencepiece model of the BPE type (what load() reads); a FormatError
  // when it is no sentencepiece model at all.
  static bool is_bpe_model(const std::string& path);
  // Throws FormatError naming the file when it is missing, corrupt, or not a BPE model with
  // <unk>, <s> and </s>.
  static LlamaTokenizer load(const std::string& tokenizer_model_path);

  std::vector<int64_t> encode(const std::string& text, bool add_bos = false) const;
  std::vector<std::string> encode_pieces(const std::string& text) const;
  // sentencepiece's DecodeIds: <s>, </s> and other control ids write nothing, <unk> " ⁇ ";
  // an id outside the vocabulary is a UsageError.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const override;
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t unk_id() const;

  std::vector<int64_t> encode_text(const std::string& text) const override { return encode(text); }
  std::vector<int64_t> encode_input(const std::string& text) const override { return encode(text, true); }
  std::string decode_text(const std::vector<int64_t>& ids) const override { return decode(ids); }

 private:
  struct Impl;
  explicit LlamaTokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ladder
