#pragma once
// sentencepiece's text normaliser: the precompiled character map (e.g. nmt_nfkc, a Darts
// double-array trie of rewrite rules), whitespace cleanup, the dummy prefix and '▁' escaping.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "piece_trie.h"
#include "sentencepiece_model.h"

namespace ladder::tokenizer {

class Normalizer {
 public:
  // `user_defined` pieces are copied through unnormalised (as sentencepiece does); `source`
  // names the model file in FormatError messages about a broken charsmap.
  Normalizer(const NormalizerSpecFields& spec, const std::vector<std::string>& user_defined,
             const std::string& source);

  // The normalised form that the unigram model segments (spaces escaped as '▁').
  std::string normalize(std::string_view input) const;

 private:
  // Normalises the longest rule (or one character) at the start of `input`: returns the
  // replacement and how many input bytes it consumed.
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;

  // Longest match of the charsmap trie at the start of `input`: (input bytes, offset of the
  // NUL-terminated replacement in normalized_blob_), or (0, 0) when no rule matches.
  std::pair<size_t, uint32_t> longest_charsmap_match(std::string_view input) const;

  bool add_dummy_prefix_;
  bool remove_extra_whitespaces_;
  bool escape_whitespaces_;
  std::vector<uint32_t> darts_units_;  // the double array, copied out for alignment
  std::string normalized_blob_;        // replacement strings, each NUL-terminated
  PieceTrie user_defined_;
};

}  // namespace ladder::tokenizer
