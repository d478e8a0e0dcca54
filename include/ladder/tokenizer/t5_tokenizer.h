#pragma once
// T5's tokenizer: a sentencepiece unigram model read natively from `spiece.model` (no
// sentencepiece or protobuf library), plus what Hugging Face's T5Tokenizer adds on top:
// 100 sentinels <extra_id_N>, special tokens recognised in the text, and </s> at the end.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder {

class T5Tokenizer : public TextTokenizer {
 public:
  static constexpr int kNumSentinels = 100;

  // Reads a serialized sentencepiece ModelProto. Throws FormatError naming the file when
  // it is missing, truncated, corrupt, or not a unigram model with <pad>, </s> and <unk>.
  static T5Tokenizer load(const std::string& spiece_model_path);

  // Ids of `text` as Hugging Face's T5Tokenizer gives them: the text is split around the
  // special tokens written in it (<extra_id_N>, </s>, <pad>, <unk>; whitespace next to them
  // is dropped), each remaining part is segmented by sentencepiece, then </s> is appended
  // when `add_eos`. With max_length >= 0 the pieces are cut first so that the result,
  // </s> included, holds at most max_length ids (max_length 0 with add_eos is a UsageError).
  std::vector<int64_t> encode(const std::string& text, int64_t max_length = -1,
                              bool add_eos = true) const;

  // The pieces of encode(text) without </s>. An unknown run shows its normalised text, as
  // sentencepiece shows it (e.g. "日本語"), special tokens their names.
  std::vector<std::string> encode_pieces(const std::string& text) const;

  // sentencepiece's own EncodeAsIds: the whole text is plain text (special token names are
  // segmented like any other characters), no </s>. This is what spm_encode prints.
  std::vector<int64_t> encode_plain(const std::string& text) const;

  // Text of `ids`, as sentencepiece decodes them: '▁' becomes a space, the leading space
  // goes, <unk> reads " ⁇ ", byte pieces are reassembled. With skip_special_tokens, control
  // tokens (<pad>, </s>), sentinels and ids outside [0, vocab_size()) (e.g. -100 label
  // padding) are dropped; without it they are written by name, and an id outside the
  // vocabulary is a UsageError.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  // The piece string of an id, "<extra_id_N>" for sentinels; UsageError outside the vocabulary.
  std::string id_to_piece(int64_t id) const;

  int64_t piece_count() const;       // pieces in spiece.model (32000 for T5)
  int64_t vocab_size() const override;  // piece_count() + 100 sentinels (a model may pad beyond it)
  int64_t sentinel_id(int n) const;  // <extra_id_n> = piece_count() + 99 - n; n in [0, 100)
  int64_t pad_id() const;
  int64_t eos_id() const;
  int64_t unk_id() const;

  std::vector<int64_t> encode_text(const std::string& text) const override { return encode(text, -1, false); }
  std::vector<int64_t> encode_input(const std::string& text) const override { return encode(text); }
  std::string decode_text(const std::vector<int64_t>& ids) const override { return decode(ids); }

 private:
  struct Impl;
  explicit T5Tokenizer(std::shared_ptr<const Impl> impl);

  // Segments `text` (special tokens recognised when `split_special`) into ids and, when
  // `pieces` is given, their piece strings.
  void tokenize(const std::string& text, bool split_special, std::vector<int64_t>& ids,
                std::vector<std::string>* pieces) const;

  std::shared_ptr<const Impl> impl_;  // immutable, so copies share it safely across threads
};

}  // namespace ladder
