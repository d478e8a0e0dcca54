#pragma once
// What training and evaluation need of a tokenizer, whichever model family it serves: T5's
// unigram model, sentencepiece BPE (Llama 2, TinyLlama) and byte-level BPE (Llama 3, Qwen2,
// SmolLM) all implement it, so data preparation and decoding are written once.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ladder {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // The ids of `text` alone: no start or end token.
  virtual std::vector<int64_t> encode_text(const std::string& text) const = 0;
  // The ids a model reads `text` as: with the tokens its tokenizer adds (T5: </s> at the end;
  // Llama 2: <s> first; Llama 3: <|begin_of_text|>; Qwen2: none).
  virtual std::vector<int64_t> encode_input(const std::string& text) const = 0;
  // Text of `ids` with special tokens left out.
  virtual std::string decode_text(const std::vector<int64_t>& ids) const = 0;
  // Ids the tokenizer can produce are below this; a model may pad its vocabulary past it.
  virtual int64_t vocab_size() const = 0;
  // The id of `token` (e.g. "<|im_end|>"), or -1 when it is not one token. By default: the text
  // read as exactly one id; tokenizers with a table of added tokens look there first.
  virtual int64_t token_to_id(const std::string& token) const;
};

// The tokenizer of a decoder-only model, by the file's name: tokenizer.json (byte-level BPE, or
// Llama 2's BPE with byte fallback), llama2.c's tokenizer (*.bin, e.g. tok512.bin) or a
// sentencepiece BPE model (tokenizer.model). FormatError naming the file when it is neither.
std::shared_ptr<TextTokenizer> load_causal_lm_tokenizer(const std::string& path);

inline int64_t TextTokenizer::token_to_id(const std::string& token) const {
  const std::vector<int64_t> ids = encode_text(token);
  return ids.size() == 1 ? ids[0] : -1;
}

}  // namespace ladder
